"""Forms of the marketplace pages. People type amounts in major units ("1200.00 USD") and
shares in percent; the forms turn them into the minor units and basis points the services
take, exactly (a fraction of a minor unit is refused, never rounded)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from catalog.models import AiUse, PricingTerms
from catalog.terms import MAX_TERM_MONTHS
from core.money import UnknownCurrencyError, major_to_minor, minor_to_major
from marketplace.models import Agreement
from marketplace.terms import terms_clean

RESPOND_DAYS_CHOICES = [(7, "7 days"), (14, "14 days"), (30, "30 days"), (60, "60 days")]


def _major(label: str, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label, min_value=Decimal(0), max_digits=14, decimal_places=3, help_text=help_text
    )


def _rate(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_digits=24,
        decimal_places=10,
        help_text="In minor units (e.g. cents); fractions allowed. Empty: not priced.",
    )


class TermsForm(forms.Form):
    """The licence terms, in people's units."""

    permitted_uses = forms.MultipleChoiceField(
        label="Uses", choices=AiUse.choices, widget=forms.CheckboxSelectMultiple
    )
    territories = forms.CharField(
        label="Territories",
        initial="WORLD",
        help_text="WORLD, or ISO country codes separated by commas (GB, US).",
    )
    term_months = forms.IntegerField(label="Term (months)", min_value=1, max_value=MAX_TERM_MONTHS)
    exclusive = forms.BooleanField(label="Exclusive licence", required=False)
    currency = forms.CharField(label="Currency", max_length=3, initial="USD")
    upfront_fee = _major("Upfront fee", "In the currency above, e.g. 1200.00.")
    upfront_fee_basis = forms.ChoiceField(label="Fee basis", choices=PricingTerms.FeeBasis.choices)
    advance_recoupable = forms.BooleanField(
        label="The fee is an advance, recouped from usage royalties", required=False
    )
    rate_tokens_trained_minor = _rate("Rate per 1,000 tokens trained")
    rate_training_examples_minor = _rate("Rate per training example")
    rate_retrievals_minor = _rate("Rate per retrieval")
    rate_outputs_attributed_minor = _rate("Rate per attributed output")
    revenue_share_percent = forms.DecimalField(
        label="Revenue share (%)",
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(100),
        decimal_places=2,
    )
    minimum_guarantee = _major("Minimum guarantee per contract year", "0 for none.")
    attribution_required = forms.BooleanField(label="Attribution required", required=False)
    settlement_frequency = forms.ChoiceField(
        label="Settlement", choices=Agreement.SettlementFrequency.choices
    )

    @classmethod
    def initial_from(cls, terms: dict[str, Any]) -> dict[str, Any]:
        """Form values showing these terms."""
        currency = terms["currency"]
        share = terms.get("revenue_share_bp")
        return {
            **terms,
            "territories": ", ".join(terms["territories"]),
            "upfront_fee": minor_to_major(terms["upfront_fee_minor"], currency),
            "minimum_guarantee": minor_to_major(terms["minimum_guarantee_minor"], currency),
            "revenue_share_percent": Decimal(share) / 100 if share is not None else None,
        }

    def _minor(self, amount: Decimal | None, currency: str, field: str) -> int | None:
        if amount is None:
            return None
        try:
            return major_to_minor(amount, currency)
        except UnknownCurrencyError as error:
            if "currency" not in self.errors:
                self.add_error("currency", str(error))
        except ValueError as error:
            self.add_error(field, str(error))
        return None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        currency = str(data.get("currency", "")).upper()
        share = data.get("revenue_share_percent")
        raw = {
            "permitted_uses": data.get("permitted_uses") or [],
            "territories": [c for c in str(data.get("territories", "")).split(",") if c.strip()],
            "term_months": data.get("term_months"),
            "exclusive": bool(data.get("exclusive")),
            "currency": currency,
            "upfront_fee_minor": self._minor(data.get("upfront_fee"), currency, "upfront_fee"),
            "upfront_fee_basis": data.get("upfront_fee_basis"),
            "advance_recoupable": bool(data.get("advance_recoupable")),
            "revenue_share_bp": int(share * 100) if share is not None else None,
            "minimum_guarantee_minor": self._minor(
                data.get("minimum_guarantee"), currency, "minimum_guarantee"
            ),
            "attribution_required": bool(data.get("attribution_required")),
            "settlement_frequency": data.get("settlement_frequency"),
            **{
                name: data.get(name)
                for name in (
                    "rate_tokens_trained_minor",
                    "rate_training_examples_minor",
                    "rate_retrievals_minor",
                    "rate_outputs_attributed_minor",
                )
            },
        }
        if self.errors:
            return data
        try:
            data["terms"] = terms_clean(raw)
        except forms.ValidationError as error:
            renamed = {
                "upfront_fee_minor": "upfront_fee",
                "minimum_guarantee_minor": "minimum_guarantee",
                "revenue_share_bp": "revenue_share_percent",
            }
            for name, messages in error.message_dict.items():
                self.add_error(renamed.get(name, name), messages)
        return data


class RequestForm(TermsForm):
    message = forms.CharField(
        label="Message",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    respond_within_days = forms.TypedChoiceField(
        label="Answer needed within", choices=RESPOND_DAYS_CHOICES, coerce=int, initial=14
    )


class CounterForm(RequestForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    remove_works = forms.CharField(
        label="Remove works from the selection",
        required=False,
        help_text="Work ids separated by commas (e.g. works whose consent was withdrawn).",
    )

    def clean_remove_works(self) -> list[int]:
        raw = [part.strip() for part in self.cleaned_data.get("remove_works", "").split(",")]
        if not all(part.isdigit() for part in raw if part):
            raise forms.ValidationError("Work ids are whole numbers separated by commas.")
        return [int(part) for part in raw if part]


class AnswerForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    message = forms.CharField(
        label="Message", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CheckoutForm(forms.Form):
    save_payment_method = forms.BooleanField(label="Save my card for usage charges", required=False)


class VerifyForm(forms.Form):
    certificate_file = forms.FileField(label="Certificate file (.json)", required=False)
    certificate_text = forms.CharField(
        label="…or paste the certificate",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    content_file = forms.FileField(
        label="Content to check (optional)",
        required=False,
        help_text="Its SHA-256 is computed here; the file is not kept.",
    )
    sha256 = forms.RegexField(
        regex=r"^[0-9a-fA-F]{64}$",
        label="…or its SHA-256 (optional)",
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("certificate_file")) == bool(data.get("certificate_text", "").strip()):
            raise forms.ValidationError("Upload the certificate file or paste it (one of the two).")
        if data.get("content_file") and data.get("sha256"):
            self.add_error("sha256", "Give a file or a SHA-256, not both.")
        return data
