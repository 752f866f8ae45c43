"""Payouts for rights holders and invoices for licensees (mounted by frontend.urls).

A rights holder sees its balances per currency (pending, payable, paid), why a payable balance
is not being paid yet (onboarding with Stripe, its threshold, Stripe's minimum), sets its payout
threshold, asks for a payout now, and reads its payout history with statuses and reasons. A
licensee sees what it owes per settled month (due, failed, overdue, paid) and pays through
Stripe Checkout. The finance console's collections and payouts pages live in
frontend.views.finance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Organisation, User
from accounts.tenancy import principal_for_request
from core.money import UnknownCurrencyError, major_to_minor
from core.money import money_format as money
from payments import gateway
from payments.connect import PayoutSetup, payout_setup_for
from payouts import collections
from payouts import selectors as payouts_selectors
from payouts import services as payouts
from payouts.models import Collection

PAGE_SIZE = 25
MAX_THRESHOLD_MAJOR = Decimal(10) ** 12


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _setup(request: HttpRequest) -> PayoutSetup:
    raw = request.GET.get("organisation", "") or request.POST.get("organisation", "")
    try:
        return payout_setup_for(
            principal=principal_for_request(request),
            organisation_id=int(raw) if raw.isdigit() and len(raw) < 10 else None,
        )
    except Organisation.DoesNotExist as exc:
        raise Http404("No rights holder organisation here.") from exc


class ThresholdForm(forms.Form):
    currency = forms.RegexField(
        regex=r"^[A-Za-z]{3}$",
        label="Currency",
        initial="USD",
        max_length=3,
        error_messages={"invalid": "A currency is a 3-letter code, e.g. USD."},
    )
    threshold = forms.DecimalField(
        label="Pay me automatically once I have at least",
        min_value=Decimal(0),
        max_value=MAX_THRESHOLD_MAJOR,
        max_digits=16,
        decimal_places=3,
        help_text="In the currency above, e.g. 100.00. 0 pays everything payable.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        currency = str(data.get("currency") or "").upper()
        amount = data.get("threshold")
        if currency and amount is not None:
            try:
                data["minimum_minor"] = major_to_minor(amount, currency)
                data["currency"] = currency
            except UnknownCurrencyError as error:
                self.add_error("currency", str(error))
            except ValueError as error:
                self.add_error("threshold", str(error))
        return data


@dataclass(frozen=True)
class BalanceRow:
    position: payouts_selectors.PayoutPosition
    pending: str
    payable: str
    paid: str
    reserved: str
    threshold: str
    minimum: str
    onboarding: bool
    below_minimum: bool


def _rows(setup: PayoutSetup) -> list[BalanceRow]:
    needs_onboarding = not (setup.account and setup.account.can_receive_transfers)
    rows = []
    for position in payouts_selectors.payout_positions_for(holder=setup.organisation):
        currency = position.currency
        rows.append(
            BalanceRow(
                position=position,
                pending=money(position.pending_minor, currency),
                payable=money(position.payable_minor, currency),
                paid=money(position.paid_minor, currency),
                reserved=money(position.reserved_minor, currency),
                threshold=money(position.threshold_minor, currency),
                minimum=money(position.minimum_minor, currency),
                onboarding=needs_onboarding,
                below_minimum=position.payable_minor < position.minimum_minor,
            )
        )
    return rows


def _payouts_page(
    request: HttpRequest,
    setup: PayoutSetup,
    *,
    form: ThresholdForm | None = None,
    status: int = 200,
) -> HttpResponse:
    history = payouts_selectors.payouts_visible_to(principal=principal_for_request(request)).filter(
        holder=setup.organisation
    )
    page = Paginator(history.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    trails = payouts_selectors.payout_audit_trails(payout_ids=[p.pk for p in page.object_list])
    rows = _rows(setup)
    return render(
        request,
        "frontend/payouts/payouts.html",
        {
            "setup": setup,
            "balances": rows,
            "form": form
            or ThresholdForm(
                initial={"currency": rows[0].position.currency if rows else "USD", "threshold": 0}
            ),
            "page": page,
            "history": [
                {
                    "payout": payout,
                    "amount": money(payout.amount_minor, payout.currency),
                    "audit": trails.get(payout.pk, []),
                }
                for payout in page.object_list
            ],
        },
        status=status,
    )


@login_required
@require_GET
def payouts_page(request: HttpRequest) -> HttpResponse:
    return _payouts_page(request, _setup(request))


def _back(setup: PayoutSetup) -> HttpResponse:
    return redirect(f"{reverse('frontend:payouts')}?organisation={setup.organisation.pk}")


@login_required
@require_POST
def threshold_set(request: HttpRequest) -> HttpResponse:
    setup = _setup(request)
    if not setup.can_manage:
        return render(request, "frontend/403.html", status=403)
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        return _payouts_page(request, setup, form=form, status=400)
    try:
        payouts.payout_threshold_set(
            holder=setup.organisation,
            currency=form.cleaned_data["currency"],
            minimum_minor=form.cleaned_data["minimum_minor"],
            actor=_user(request),
        )
    except payouts.PayoutError as error:
        form.add_error("threshold", " ".join(error.messages))
        return _payouts_page(request, setup, form=form, status=400)
    amount = money(form.cleaned_data["minimum_minor"], form.cleaned_data["currency"])
    messages.success(request, f"Payout threshold set to {amount}.")
    return _back(setup)


@login_required
@require_POST
def pay_now(request: HttpRequest) -> HttpResponse:
    setup = _setup(request)
    if not setup.can_manage:
        return render(request, "frontend/403.html", status=403)
    currency = request.POST.get("currency", "").upper()
    if len(currency) != 3 or not currency.isalpha():
        messages.error(request, "Choose a currency to be paid in.")
        return _back(setup)
    try:
        payout = payouts.payout_schedule(
            holder=setup.organisation,
            currency=currency,
            on_demand=True,
            requested_by=_user(request),
        )
    except payouts.PayoutError as error:
        messages.error(request, " ".join(error.messages))
        return _back(setup)
    assert payout is not None
    messages.success(
        request,
        f"Payout of {money(payout.amount_minor, currency)} requested: it is on its way to "
        "your Stripe account.",
    )
    return _back(setup)


# --- Licensee invoices -------------------------------------------------------------------------


def _invoices(request: HttpRequest) -> Any:
    return payouts_selectors.collections_visible_to(
        principal=principal_for_request(request)
    ).order_by("-created_at", "-id")


def _invoice_or_404(request: HttpRequest, pk: int) -> Collection:
    collection = _invoices(request).filter(pk=pk).first()
    if collection is None:
        raise Http404("No such invoice.")
    return collection


@login_required
@require_GET
def invoices(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or ""
    rows = _invoices(request)
    if status in Collection.Status.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "frontend/payouts/invoices.html",
        {
            "page": page,
            "rows": [
                {"collection": c, "amount": money(c.amount_due_minor, c.currency)}
                for c in page.object_list
            ],
            "status": status,
            "statuses": Collection.Status.choices,
        },
    )


@login_required
@require_GET
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One invoice; Stripe Checkout returns here (``?paid=1``) while the webhook confirms."""
    collection = _invoice_or_404(request, pk)
    return render(
        request,
        "frontend/payouts/invoice.html",
        {
            "collection": collection,
            "amount": money(collection.amount_due_minor, collection.currency),
            "returned_paid": request.GET.get("paid") == "1",
        },
    )


@login_required
@require_POST
def invoice_pay(request: HttpRequest, pk: int) -> HttpResponse:
    collection = _invoice_or_404(request, pk)
    try:
        collection = collections.collection_checkout_for(
            collection=collection, base_url=request.build_absolute_uri("/")
        )
    except collections.CollectionError as error:
        messages.info(request, str(error))
        return redirect("frontend:invoice", pk=collection.pk)
    except gateway.GatewayError:
        messages.error(request, "Stripe could not be reached just now. Please try again.")
        return redirect("frontend:invoice", pk=collection.pk)
    if not collection.checkout_url:
        messages.error(request, "Stripe gave no payment page. Please try again.")
        return redirect("frontend:invoice", pk=collection.pk)
    return redirect(collection.checkout_url)


urlpatterns: list[URLPattern] = [
    path("royalties/payouts/", payouts_page, name="payouts"),
    path("royalties/payouts/threshold/", threshold_set, name="payouts-threshold"),
    path("royalties/payouts/pay-now/", pay_now, name="payouts-pay-now"),
    path("royalties/invoices/", invoices, name="invoices"),
    path("royalties/invoices/<int:pk>/", invoice_detail, name="invoice"),
    path("royalties/invoices/<int:pk>/pay/", invoice_pay, name="invoice-pay"),
]
