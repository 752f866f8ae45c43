"""Forms of the catalogue's web pages. They turn what a person types (percentages, amounts
in major units) into the exact values the services take (basis points, minor units); every
rule stays in catalog.services, whose field errors the views put back on the form."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from catalog import work_fields
from catalog.models import BASIS_POINTS_TOTAL, AiUse, PricingTerms, RightsShare, Work, WorkImport
from catalog.terms import PRICING_FIELDS
from core.money import major_to_minor, minor_to_major

SHARE_ROWS = 6
CONSENT_CHOICES = [("", "Follow the catalogue default"), ("yes", "Granted"), ("no", "Not granted")]


def percent_to_bp(raw: str) -> int:
    """ "62.5" → 6250; a share is a whole number of basis points (0.01 %)."""
    try:
        value = Decimal(raw.strip().rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a percentage.") from None
    bp = value * 100
    if not value.is_finite() or bp != bp.to_integral_value():
        raise ValueError(f"{raw}: at most two decimal places (0.01 % steps).")
    return int(bp)


def bp_to_percent(bp: int) -> str:
    return f"{Decimal(bp) / 100:.2f}".rstrip("0").rstrip(".")


class CatalogueForm(forms.Form):
    name = forms.CharField(max_length=200, label="Catalogue name")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class MetadataField(forms.JSONField):
    """JSON typed into a textarea, read and bounded by the shared work validator."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            try:
                return work_fields.metadata_from_text(value)
            except ValueError as error:
                raise forms.ValidationError(str(error), code="invalid") from None
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        if isinstance(data, str) and data.strip():
            try:
                return work_fields.metadata_from_text(data)
            except ValueError:
                return forms.fields.InvalidJSONInput(data)
        return super().bound_data(data, initial)


class WorkForm(forms.Form):
    title = forms.CharField(max_length=500)
    kind = forms.ChoiceField(choices=Work.Kind.choices)
    language = forms.CharField(max_length=35, required=False, help_text="BCP 47, e.g. en-GB.")
    isbn13 = forms.CharField(max_length=40, required=False, label="ISBN-13")
    isrc = forms.CharField(max_length=40, required=False, label="ISRC")
    iswc = forms.CharField(max_length=40, required=False, label="ISWC")
    doi = forms.CharField(max_length=300, required=False, label="DOI")
    url = forms.CharField(max_length=1000, required=False, label="URL")
    content_sha256 = forms.CharField(
        max_length=64,
        required=False,
        label="SHA-256 of the content",
        help_text="If you keep the file yourself; or upload it on the work's page.",
    )
    metadata = MetadataField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Free JSON object, e.g. {"author": "Ana Rivera", "year": 2019}.',
    )

    def clean(self) -> dict[str, Any]:
        """The shared work validator on every field that passed the form's own checks."""
        data = super().clean() or {}
        for name, value in list(data.items()):
            clean = work_fields.CLEANERS.get(name)
            try:
                if clean is not None:
                    data[name] = clean(value)
                elif name in work_fields.IDENTIFIER_FIELDS:
                    data[name] = work_fields.identifier_clean(name, value)
            except ValueError as error:
                self.add_error(name, str(error))
        return data


class ShareRowsForm(forms.Form):
    """The split sheet as rows of (holder slug, role, percent); blank rows are ignored."""

    def __init__(self, *args: Any, rows: int = SHARE_ROWS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        for i in range(rows):
            self.fields[f"holder_{i}"] = forms.CharField(required=False, max_length=80)
            self.fields[f"role_{i}"] = forms.ChoiceField(
                choices=RightsShare.Role.choices, required=False
            )
            self.fields[f"percent_{i}"] = forms.CharField(required=False, max_length=12)

    def lines(self) -> list[tuple[str, str, int]]:
        """(slug, role, basis points) per filled row; row errors go on the form."""
        lines = []
        for i in range(self.rows):
            slug = (self.cleaned_data.get(f"holder_{i}") or "").strip()
            percent = (self.cleaned_data.get(f"percent_{i}") or "").strip()
            if not slug and not percent:
                continue
            if not slug:
                self.add_error(f"holder_{i}", "Who holds this share?")
                continue
            try:
                bp = percent_to_bp(percent)
            except ValueError as error:
                self.add_error(f"percent_{i}", str(error))
                continue
            lines.append((slug, self.cleaned_data.get(f"role_{i}") or "author", bp))
        return lines

    def row_fields(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"holder_{i}"], self[f"role_{i}"], self[f"percent_{i}"]) for i in range(self.rows)
        ]


def share_rows_initial(shares: list[RightsShare]) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for i, share in enumerate(shares):
        initial[f"holder_{i}"] = share.holder.slug
        initial[f"role_{i}"] = share.role
        initial[f"percent_{i}"] = bp_to_percent(share.share_bp)
    return initial


def share_total_feedback(data: Any, rows: int = SHARE_ROWS) -> dict[str, Any]:
    """What the live total says while someone types percentages."""
    total, problems = 0, []
    for i in range(rows):
        raw = (data.get(f"percent_{i}") or "").strip()
        if not raw:
            continue
        try:
            total += percent_to_bp(raw)
        except ValueError as error:
            problems.append(str(error))
    return {
        "total_bp": total,
        "total_percent": bp_to_percent(total),
        "missing_percent": bp_to_percent(BASIS_POINTS_TOTAL - total),
        "complete": total == BASIS_POINTS_TOTAL and not problems,
        "over": total > BASIS_POINTS_TOTAL,
        "problems": problems,
    }


class WorkConsentForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for use, label in AiUse.choices:
            self.fields[f"consent_{use}"] = forms.ChoiceField(
                choices=CONSENT_CHOICES, required=False, label=f"{label} ({use})"
            )

    def consents(self) -> dict[str, bool | None]:
        chosen: dict[str, bool | None] = {}
        for use in AiUse.values:
            value = self.cleaned_data.get(f"consent_{use}")
            if value:
                chosen[use] = value == "yes"
        return chosen


class TermsForm(forms.Form):
    currency = forms.CharField(max_length=3, initial="USD", help_text="ISO 4217, e.g. USD.")
    upfront_fee = forms.DecimalField(
        min_value=0, max_digits=15, initial=0, label="Upfront fee", help_text="In major units."
    )
    upfront_fee_basis = forms.ChoiceField(
        choices=PricingTerms.FeeBasis.choices, label="The fee is charged"
    )
    advance_recoupable = forms.BooleanField(
        required=False, label="The fee is a recoupable advance against royalties"
    )
    rate_tokens_trained_minor = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=24,
        decimal_places=10,
        label="Rate per 1,000 tokens trained",
        help_text="In minor units (cents); fractions allowed, e.g. 0.3.",
    )
    rate_training_examples_minor = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=24,
        decimal_places=10,
        label="Rate per training example (minor units)",
    )
    rate_retrievals_minor = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=24,
        decimal_places=10,
        label="Rate per retrieval (minor units)",
    )
    rate_outputs_attributed_minor = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=24,
        decimal_places=10,
        label="Rate per attributed output (minor units)",
    )
    revenue_share = forms.CharField(
        required=False, max_length=12, label="Revenue share (%)", help_text="e.g. 2.5"
    )
    minimum_guarantee = forms.DecimalField(
        min_value=0,
        max_digits=15,
        initial=0,
        label="Minimum guarantee per contract year",
        help_text="In major units.",
    )
    term_months = forms.IntegerField(min_value=1, max_value=120, initial=12)
    territories = forms.CharField(
        max_length=1000, initial="WORLD", help_text="ISO 3166-1 codes, comma-separated, or WORLD."
    )
    exclusive = forms.BooleanField(required=False)
    attribution_required = forms.BooleanField(required=False)
    permitted_uses = forms.MultipleChoiceField(
        choices=AiUse.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        currency = (data.get("currency") or "USD").strip().upper()
        data["currency"] = currency
        for field, target in (
            ("upfront_fee", "upfront_fee_minor"),
            ("minimum_guarantee", "minimum_guarantee_minor"),
        ):
            if data.get(field) is not None:
                try:
                    data[target] = major_to_minor(data[field], currency)
                except ValueError as error:
                    self.add_error(field, str(error))
        share = (data.get("revenue_share") or "").strip()
        data["revenue_share_bp"] = None
        if share:
            try:
                data["revenue_share_bp"] = percent_to_bp(share)
            except ValueError as error:
                self.add_error("revenue_share", str(error))
        data["territories"] = [
            t.strip() for t in (data.get("territories") or "").split(",") if t.strip()
        ]
        return data

    def values(self) -> dict[str, Any]:
        return {key: self.cleaned_data[key] for key in PRICING_FIELDS if key in self.cleaned_data}


def terms_initial(terms: Any) -> dict[str, Any]:
    if terms is None:
        return {}
    return {
        "currency": terms.currency,
        "upfront_fee": minor_to_major(terms.upfront_fee_minor, terms.currency),
        "upfront_fee_basis": terms.upfront_fee_basis,
        "advance_recoupable": terms.advance_recoupable,
        "rate_tokens_trained_minor": terms.rate_tokens_trained_minor,
        "rate_training_examples_minor": terms.rate_training_examples_minor,
        "rate_retrievals_minor": terms.rate_retrievals_minor,
        "rate_outputs_attributed_minor": terms.rate_outputs_attributed_minor,
        "revenue_share": bp_to_percent(terms.revenue_share_bp)
        if terms.revenue_share_bp is not None
        else "",
        "minimum_guarantee": minor_to_major(terms.minimum_guarantee_minor, terms.currency),
        "term_months": terms.term_months,
        "territories": ", ".join(terms.territories or ["WORLD"]),
        "exclusive": terms.exclusive,
        "attribution_required": terms.attribution_required,
        "permitted_uses": terms.permitted_uses,
    }


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or JSON Lines; see the format guide.")
    format = forms.ChoiceField(
        choices=[("", "From the file name"), *WorkImport.Format.choices], required=False
    )
    import_valid_rows = forms.BooleanField(
        required=False,
        label="Import the good rows even if some rows are bad",
        help_text="By default a single bad row means nothing is imported.",
    )


class ContentForm(forms.Form):
    file = forms.FileField(label="Content file")


class SearchForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Work.Kind.choices], required=False)
    language = forms.CharField(required=False, max_length=35)
    use = forms.ChoiceField(choices=[("", "Any use"), *AiUse.choices], required=False)
    currency = forms.CharField(required=False, max_length=3)
    fee_min = forms.DecimalField(required=False, min_value=0, max_digits=15, label="Fee from")
    fee_max = forms.DecimalField(required=False, min_value=0, max_digits=15, label="Fee up to")
    catalogue = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    owner = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Best match"),
            ("title", "Title A–Z"),
            ("newest", "Newest"),
            ("fee", "Fee, lowest first"),
            ("-fee", "Fee, highest first"),
        ],
    )
