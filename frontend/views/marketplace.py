"""Web pages for the marketplace area (mounted by frontend.urls): requesting a licence, the
negotiation thread, agreements and their checkout, certificates and their verification, and
notifications. Views stay thin: selectors to read, services to act."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Organisation
from accounts.selectors import primary_organisation
from accounts.tenancy import Principal, principal_for_request
from catalog.models import Catalogue
from catalog.selectors import ALL_USES, effective_consents_for, licensable_works
from core import clock
from core.money import money_format
from frontend.views.marketplace_forms import (
    AnswerForm,
    CheckoutForm,
    CounterForm,
    RequestForm,
    TermsForm,
    VerifyForm,
)
from marketplace import selectors
from marketplace.api.views import certificate_response
from marketplace.certificates import (
    certificate_document,
    certificate_verify,
    published_keys,
    sha256_of,
)
from marketplace.checkout import checkout_attempt_start
from marketplace.contract_pdf import contract_pdf
from marketplace.errors import MarketplaceError, NotAParty
from marketplace.models import Agreement, Offer, Party
from marketplace.negotiation import (
    offer_accept,
    offer_counter,
    offer_reject,
    offer_request,
    offer_withdraw,
)
from marketplace.notifications import notification_mark_read
from marketplace.terms import DEFAULT_TERMS, terms_display_rows, terms_of

PAGE_SIZE = 25
WORKS_SHOWN = 200


def _ids(raw: list[str]) -> list[int]:
    return sorted(
        {int(part) for value in raw for part in value.split(",") if part.strip().isdigit()}
    )


def _licensee(principal: Principal) -> Organisation | None:
    return primary_organisation(principal=principal, kind=Organisation.Kind.AI_DEVELOPER)


# --- Requesting a licence ------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def request_licence(request: HttpRequest) -> HttpResponse:
    """Ask for a licence over `?catalogue=<id>` and/or `?works=<ids>` (the catalogue and
    search pages link here); without a selection, choose a catalogue."""
    principal = principal_for_request(request)
    licensee = _licensee(principal)
    if licensee is None:
        return render(request, "frontend/403.html", status=403)
    source = request.POST if request.method == "POST" else request.GET
    catalogue_ids = _ids(source.getlist("catalogue"))
    work_ids = _ids(source.getlist("works"))
    if not catalogue_ids and not work_ids:
        choices = Paginator(selectors.licensable_catalogues(), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        return render(request, "frontend/marketplace/catalogues.html", {"page": choices})
    visible = licensable_works()
    catalogues = list(
        Catalogue.objects.filter(
            id__in=catalogue_ids, pk__in=visible.values("catalogue_id")
        ).select_related("owner")
    )
    works = list(visible.filter(id__in=work_ids).select_related("catalogue__owner")[:WORKS_SHOWN])
    if not catalogues and not works:
        raise Http404("Nothing licensable in this selection.")
    listed = selectors.listed_terms_for(catalogues=catalogues, works=works) or DEFAULT_TERMS
    initial = {
        **_initial(listed),
        "permitted_uses": _selection_uses(listed["permitted_uses"], catalogues, works),
    }
    form = RequestForm(source if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        terms = form.cleaned_data["terms"]
        try:
            offer = offer_request(
                principal=principal,
                licensee=licensee,
                uses=terms["permitted_uses"],
                catalogue_ids=[c.pk for c in catalogues],
                work_ids=work_ids,
                terms=terms,
                message=form.cleaned_data["message"],
                respond_by=clock.now() + timedelta(days=form.cleaned_data["respond_within_days"]),
            )
        except MarketplaceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Your request was sent to {offer.licensor.name}.")
            return redirect("frontend:marketplace-offer", pk=offer.pk)
    context = {
        "form": form,
        "catalogues": catalogues,
        "works": works,
        "listed_rows": terms_display_rows(listed),
        "catalogue_ids": ",".join(str(c.pk) for c in catalogues),
        "work_ids": ",".join(str(w.pk) for w in works),
        "catalogue_rows": [(c, visible.filter(catalogue=c).count()) for c in catalogues],
    }
    return render(
        request,
        "frontend/marketplace/request.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


def _initial(terms: dict[str, Any]) -> dict[str, Any]:
    return {**TermsForm.initial_from(terms), "respond_within_days": 14}


def _selection_uses(
    listed_uses: list[str], catalogues: list[Catalogue], works: list[Any]
) -> list[str]:
    """The request form's starting uses: those of the listed ones (every use when the list
    names none) the whole selection can be licensed for now, i.e. every chosen work consents
    to it and every chosen catalogue has works that do. A price list offering uses some works
    do not consent to would otherwise start the form with a request that cannot be sent."""
    candidates = list(listed_uses) or list(ALL_USES)
    consents = effective_consents_for(works=works)
    usable = [
        use
        for use in candidates
        if all(consents[work.pk][use] for work in works)
        and all(licensable_works(uses=[use]).filter(catalogue=c).exists() for c in catalogues)
    ]
    return usable or list(listed_uses)


# --- Offers --------------------------------------------------------------------------------
@login_required
@require_GET
def offer_list(request: HttpRequest) -> HttpResponse:
    principal = principal_for_request(request)
    party = request.GET.get("party", "")
    status = request.GET.get("status", "")
    offers = selectors.offer_list(
        principal=principal,
        party=party if party in Party.values else None,
        status=status if status in Offer.Status.values else None,
    )
    page = Paginator(offers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "frontend/marketplace/offers.html",
        {
            "page": page,
            "party": party,
            "status": status,
            "statuses": Offer.Status.choices,
            "organisation_ids": principal.organisation_ids,
        },
    )


def _visible_offer(request: HttpRequest, pk: int) -> Offer:
    offer = selectors.offer_list(principal=principal_for_request(request)).filter(pk=pk).first()
    if offer is None:
        raise Http404("No such offer.")
    return offer


def _offer_page(
    request: HttpRequest,
    offer: Offer,
    *,
    counter_form: CounterForm | None = None,
    status: int = 200,
) -> HttpResponse:
    principal = principal_for_request(request)
    try:
        party: str | None = selectors.offer_party(offer=offer, principal=principal)
    except NotAParty:
        party = None
    latest = selectors.offer_latest_version(offer=offer)
    terms = terms_of(latest)
    your_turn = offer.is_open and party is not None and party == offer.party_to_answer
    if counter_form is None and your_turn:
        counter_form = CounterForm(initial={**_initial(terms), "version": latest.number})
    context = {
        "offer": offer,
        "party": party,
        "your_turn": your_turn,
        "can_withdraw": offer.is_open and party is not None and not your_turn,
        "thread": selectors.offer_thread(offer=offer),
        "latest": latest,
        "latest_rows": terms_display_rows(terms),
        "works": selectors.offer_version_works(version=latest).order_by("id")[:WORKS_SHOWN],
        "work_count": latest.works.count(),
        "counter_form": counter_form,
        "answer_form": AnswerForm(initial={"version": latest.number}),
        "agreement": getattr(offer, "agreement", None),
    }
    return render(request, "frontend/marketplace/offer.html", context, status=status)


@login_required
@require_GET
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_page(request, _visible_offer(request, pk))


@login_required
@require_POST
def offer_counter_view(request: HttpRequest, pk: int) -> HttpResponse:
    offer = _visible_offer(request, pk)
    form = CounterForm(request.POST)
    if not form.is_valid():
        return _offer_page(request, offer, counter_form=form, status=400)
    data = form.cleaned_data
    try:
        version = offer_counter(
            principal=principal_for_request(request),
            offer=offer,
            version=data["version"],
            terms=data["terms"],
            remove_work_ids=data["remove_works"],
            message=data["message"],
            respond_by=clock.now() + timedelta(days=data["respond_within_days"]),
        )
    except MarketplaceError as error:
        messages.error(request, error.message)
        return redirect("frontend:marketplace-offer", pk=offer.pk)
    messages.success(request, f"Your counter-offer (version {version.number}) was sent.")
    return redirect("frontend:marketplace-offer", pk=offer.pk)


@login_required
@require_POST
def offer_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    offer = _visible_offer(request, pk)
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the version you accept.")
        return redirect("frontend:marketplace-offer", pk=offer.pk)
    try:
        agreement = offer_accept(
            principal=principal_for_request(request),
            offer=offer,
            version=form.cleaned_data["version"],
        )
    except MarketplaceError as error:
        messages.error(request, error.message)
        return redirect("frontend:marketplace-offer", pk=offer.pk)
    messages.success(
        request,
        f"Agreement {agreement.pk} is active."
        if agreement.status == Agreement.Status.ACTIVE
        else f"Agreement {agreement.pk} was created. It becomes active once the upfront fee "
        "is paid.",
    )
    return redirect("frontend:marketplace-agreement", pk=agreement.pk)


@login_required
@require_POST
def offer_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    offer = _visible_offer(request, pk)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            offer_reject(
                principal=principal_for_request(request),
                offer=offer,
                version=form.cleaned_data["version"],
                message=form.cleaned_data["message"],
            )
        except MarketplaceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "You rejected the offer.")
    return redirect("frontend:marketplace-offer", pk=offer.pk)


@login_required
@require_POST
def offer_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    offer = _visible_offer(request, pk)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            offer_withdraw(
                principal=principal_for_request(request),
                offer=offer,
                version=form.cleaned_data["version"],
                message=form.cleaned_data["message"],
            )
        except MarketplaceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "You withdrew your proposal.")
    return redirect("frontend:marketplace-offer", pk=offer.pk)


# --- Agreements ----------------------------------------------------------------------------
@login_required
@require_GET
def agreement_list(request: HttpRequest) -> HttpResponse:
    principal = principal_for_request(request)
    status = request.GET.get("status", "")
    agreements = selectors.agreement_list(
        principal=principal, status=status if status in Agreement.Status.values else None
    )
    page = Paginator(agreements, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "frontend/marketplace/agreements.html",
        {"page": page, "status": status, "statuses": Agreement.Status.choices},
    )


def _visible_agreement(request: HttpRequest, pk: int) -> Agreement:
    agreement = (
        selectors.agreement_list(principal=principal_for_request(request))
        .select_related("accepted_version", "offer")
        .filter(pk=pk)
        .first()
    )
    if agreement is None:
        raise Http404("No such agreement.")
    return agreement


@login_required
@require_GET
def agreement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The contract: parties, terms, works with fingerprints, split sheets, payment."""
    agreement = _visible_agreement(request, pk)
    principal = principal_for_request(request)
    fee_total = selectors.agreement_fee_total_minor(agreement=agreement)
    is_licensee = selectors.agreement_is_licensee(agreement=agreement, principal=principal)
    works = list(selectors.agreement_works(agreement=agreement)[:WORKS_SHOWN])
    splits: dict[int, list[Any]] = {}
    for split in selectors.agreement_splits(agreement=agreement).filter(
        work_id__in=[work.work_id for work in works]
    ):
        splits.setdefault(split.work_id, []).append(split)
    context = {
        "agreement": agreement,
        "terms_rows": terms_display_rows(terms_of(agreement)),
        "works": [(work, splits.get(work.work_id, [])) for work in works],
        "work_count": selectors.agreement_work_count(agreement=agreement),
        "fee_total": money_format(fee_total, agreement.currency),
        "can_pay": is_licensee
        and agreement.status == Agreement.Status.AWAITING_PAYMENT
        and fee_total > 0,
        "attempts": selectors.agreement_checkout_attempts(agreement=agreement)[:10],
        "certificate": getattr(agreement, "certificate", None),
    }
    return render(request, "frontend/marketplace/agreement.html", context)


@login_required
@require_GET
def agreement_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The agreement's status block alone, polled after checkout until Stripe confirms."""
    agreement = _visible_agreement(request, pk)
    return render(
        request,
        "frontend/marketplace/_agreement_status.html",
        {
            "agreement": agreement,
            "polling": agreement.status == Agreement.Status.AWAITING_PAYMENT,
            "certificate": getattr(agreement, "certificate", None),
        },
    )


@login_required
@require_GET
def agreement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _visible_agreement(request, pk)
    response = HttpResponse(contract_pdf(agreement=agreement), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="trainright-agreement-{pk}.pdf"'
    return response


@login_required
@require_GET
def agreement_certificate(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = _visible_agreement(request, pk)
    certificate = getattr(agreement, "certificate", None)
    if certificate is None:
        raise Http404("This agreement has no certificate yet: it is not active.")
    return certificate_response(certificate_document(certificate=certificate), agreement)


@login_required
@require_POST
def checkout_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Open a Stripe Checkout Session and send the licensee there."""
    agreement = _visible_agreement(request, pk)
    form = CheckoutForm(request.POST)
    form.is_valid()
    page = request.build_absolute_uri(reverse("frontend:marketplace-agreement", args=[pk]))
    try:
        attempt = checkout_attempt_start(
            principal=principal_for_request(request),
            agreement=agreement,
            save_payment_method=bool(form.cleaned_data.get("save_payment_method")),
            success_url=request.build_absolute_uri(
                reverse("frontend:marketplace-checkout-return", args=[pk])
            )
            + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=page + "?checkout=cancelled",
        )
    except MarketplaceError as error:
        messages.error(request, error.message)
        return redirect("frontend:marketplace-agreement", pk=pk)
    return redirect(attempt.checkout_url)


@login_required
@require_GET
def checkout_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Where Stripe sends the payer back. It proves nothing: the page waits for the webhook."""
    agreement = _visible_agreement(request, pk)
    return render(
        request,
        "frontend/marketplace/checkout_return.html",
        {
            "agreement": agreement,
            "polling": agreement.status == Agreement.Status.AWAITING_PAYMENT,
            "certificate": getattr(agreement, "certificate", None),
        },
    )


# --- Certificates (public) -----------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Anyone checks a certificate, and optionally a file or a SHA-256 against it."""
    form = VerifyForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        document = (
            data["certificate_file"].read()
            if data.get("certificate_file")
            else data["certificate_text"]
        )
        sha256 = sha256_of(data["content_file"]) if data.get("content_file") else data["sha256"]
        result = certificate_verify(document=document, sha256=sha256)
    return render(request, "frontend/marketplace/verify.html", {"form": form, "result": result})


@require_GET
def signing_keys(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(published_keys())
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- Notifications -------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def notification_list(request: HttpRequest) -> HttpResponse:
    principal = principal_for_request(request)
    if request.method == "POST":
        notification_mark_read(principal=principal)
        return redirect("frontend:marketplace-notifications")
    page = Paginator(selectors.notification_list(principal=principal), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "frontend/marketplace/notifications.html", {"page": page})


@login_required
@require_GET
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    notification = selectors.notification_list(principal=principal).filter(pk=pk).first()
    if notification is None:
        raise Http404("No such notification.")
    notification_mark_read(principal=principal, notification_id=notification.pk)
    # Links are our own paths; anything else goes to the list (no open redirect).
    if notification.link.startswith("/") and not notification.link.startswith("//"):
        return redirect(notification.link)
    return redirect("frontend:marketplace-notifications")


urlpatterns: list[URLPattern] = [
    path("marketplace/request/", request_licence, name="marketplace-request"),
    path("marketplace/offers/", offer_list, name="marketplace-offers"),
    path("marketplace/offers/<int:pk>/", offer_detail, name="marketplace-offer"),
    path(
        "marketplace/offers/<int:pk>/counter/",
        offer_counter_view,
        name="marketplace-offer-counter",
    ),
    path("marketplace/offers/<int:pk>/accept/", offer_accept_view, name="marketplace-offer-accept"),
    path("marketplace/offers/<int:pk>/reject/", offer_reject_view, name="marketplace-offer-reject"),
    path(
        "marketplace/offers/<int:pk>/withdraw/",
        offer_withdraw_view,
        name="marketplace-offer-withdraw",
    ),
    path("marketplace/agreements/", agreement_list, name="marketplace-agreements"),
    path("marketplace/agreements/<int:pk>/", agreement_detail, name="marketplace-agreement"),
    path(
        "marketplace/agreements/<int:pk>/status/",
        agreement_status,
        name="marketplace-agreement-status",
    ),
    path(
        "marketplace/agreements/<int:pk>/contract.pdf",
        agreement_pdf,
        name="marketplace-agreement-pdf",
    ),
    path(
        "marketplace/agreements/<int:pk>/certificate.json",
        agreement_certificate,
        name="marketplace-certificate",
    ),
    path("marketplace/agreements/<int:pk>/checkout/", checkout_start, name="marketplace-checkout"),
    path(
        "marketplace/agreements/<int:pk>/checkout/return/",
        checkout_return,
        name="marketplace-checkout-return",
    ),
    path("verify/", verify, name="marketplace-verify"),
    path(".well-known/trainright-keys.json", signing_keys, name="marketplace-keys"),
    path("notifications/", notification_list, name="marketplace-notifications"),
    path("notifications/<int:pk>/open/", notification_open, name="marketplace-notification-open"),
]
