"""Web pages for the stripe area (mounted by frontend.urls): a payee's "Get paid" setup.

The page shows what Stripe last told us about the payee's connected account and what is still
missing; its button sends the payee to a fresh Stripe onboarding link. Stripe sends the payee
back to the return page, which does not trust the redirect: it waits (polling with htmx)
until `account.updated` has told us the account can receive transfers. An expired or reused
link brings the payee to the refresh URL, which mints a new link.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Organisation
from accounts.tenancy import principal_for_request
from payments.connect import PayoutSetup, onboarding_link_create, payout_setup_for
from payments.gateway import GatewayError


def _setup(request: HttpRequest) -> PayoutSetup:
    raw = request.GET.get("organisation", "")
    try:
        return payout_setup_for(
            principal=principal_for_request(request),
            organisation_id=int(raw) if raw.isdigit() else None,
        )
    except Organisation.DoesNotExist as exc:
        raise Http404("No payee organisation here.") from exc


def _with_organisation(url_name: str, setup: PayoutSetup) -> str:
    return f"{reverse(url_name)}?organisation={setup.organisation.pk}"


def _redirect_to_stripe(request: HttpRequest, setup: PayoutSetup) -> HttpResponse:
    if not setup.can_manage:
        return render(request, "frontend/403.html", status=403)
    try:
        url = onboarding_link_create(
            organisation=setup.organisation,
            refresh_url=request.build_absolute_uri(
                _with_organisation("frontend:stripe-payouts-refresh", setup)
            ),
            return_url=request.build_absolute_uri(
                _with_organisation("frontend:stripe-payouts-return", setup)
            ),
        )
    except GatewayError:
        return render(
            request,
            "frontend/stripe/payouts.html",
            {"setup": setup, "stripe_unavailable": True},
            status=503,
        )
    return redirect(url)


@login_required
@require_GET
def payouts(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/stripe/payouts.html", {"setup": _setup(request)})


@login_required
@require_POST
def payouts_onboarding_start(request: HttpRequest) -> HttpResponse:
    return _redirect_to_stripe(request, _setup(request))


@login_required
@require_GET
def payouts_onboarding_refresh(request: HttpRequest) -> HttpResponse:
    """Stripe's refresh_url: the link expired or was used; send the payee to a new one."""
    return _redirect_to_stripe(request, _setup(request))


@login_required
@require_GET
def payouts_onboarding_return(request: HttpRequest) -> HttpResponse:
    setup = _setup(request)
    return render(
        request, "frontend/stripe/return.html", {"setup": setup, "polling": not setup.ready}
    )


@login_required
@require_GET
def payouts_status(request: HttpRequest) -> HttpResponse:
    """The status block alone, polled by the return page until Stripe has confirmed."""
    setup = _setup(request)
    return render(
        request, "frontend/stripe/_status.html", {"setup": setup, "polling": not setup.ready}
    )


@login_required
@require_GET
def payouts_panel(request: HttpRequest) -> HttpResponse:
    """The creator dashboard's payouts panel (loaded by htmx)."""
    try:
        setup = payout_setup_for(principal=principal_for_request(request))
    except Organisation.DoesNotExist:
        return HttpResponse("")
    return render(request, "frontend/stripe/_panel.html", {"setup": setup})


urlpatterns: list[URLPattern] = [
    path("account/payouts/", payouts, name="stripe-payouts"),
    path("account/payouts/start/", payouts_onboarding_start, name="stripe-payouts-start"),
    path("account/payouts/refresh/", payouts_onboarding_refresh, name="stripe-payouts-refresh"),
    path("account/payouts/return/", payouts_onboarding_return, name="stripe-payouts-return"),
    path("account/payouts/status/", payouts_status, name="stripe-payouts-status"),
    path("account/payouts/panel/", payouts_panel, name="stripe-payouts-panel"),
]
