"""Web pages for the catalog area (mounted by frontend.urls).

Creators: catalogues, works and their split sheets (live total via htmx), consent toggles,
the price list, bulk import with a progress bar, history; co-holders: works awaiting their
confirmation. Licensees: search and work pages. Public: each catalogue's terms page and its
RSL document. Views call catalog selectors and services; tenancy comes from the selectors.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from accounts.models import Organisation
from accounts.tenancy import Principal, principal_for_request
from catalog import importers, selectors, services
from catalog.forms import (
    CatalogueForm,
    ContentForm,
    ImportForm,
    SearchForm,
    ShareRowsForm,
    TermsForm,
    WorkConsentForm,
    WorkForm,
    bp_to_percent,
    share_rows_initial,
    share_total_feedback,
    terms_initial,
)
from catalog.identifiers import SCHEME_LABELS, format_identifier
from catalog.models import AiUse, Catalogue, LicenceTerms, Work
from catalog.rsl import RSL_MEDIA_TYPE, RslUrls, catalogue_rsl, rsl_usage
from catalog.work_fields import IDENTIFIER_FIELDS
from core.money import UnknownCurrencyError, currency_exponent, major_to_minor
from core.money import money_format as money


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it: ``request.htmx`` says whether htmx sent
    it (the views that answer htmx with a fragment take this type)."""

    htmx: HtmxDetails


PAGE_SIZE = 25
PROBLEMS_SHOWN = 500
USE_LABELS = dict(AiUse.choices)


# --- Helpers ---------------------------------------------------------------------------------


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/403.html", status=403)


def _catalogue_or_404(principal: Principal, pk: int) -> Catalogue:
    catalogue = selectors.catalogue_owned(principal=principal, catalogue_id=pk)
    if catalogue is None:
        raise Http404("No such catalogue.")
    return catalogue


def _work_or_404(principal: Principal, pk: int) -> Work:
    work = selectors.work_list(principal=principal).filter(pk=pk).first()
    if work is None:
        raise Http404("No such work.")
    return work


def _put_errors(error: ValidationError, forms_by_field: dict[str, Any], fallback: Any) -> None:
    """Service field errors go by the field they name, others on top of the main form."""
    for field, messages_ in error.message_dict.items():
        target = forms_by_field.get(field, fallback)
        if field in target.fields:
            target.add_error(field, messages_)
        else:
            target.add_error(None, [f"{m}" for m in messages_])


def rate(amount_minor: Decimal | None, currency: str, unit: str) -> str:
    if amount_minor is None:
        return ""
    return f"{money(amount_minor, currency)} {unit}"


def terms_rows(terms: LicenceTerms | None) -> list[tuple[str, str]]:
    """The price list as a person reads it."""
    if terms is None:
        return [("Terms", "Not listed: ask for an offer.")]
    c = terms.currency
    rows = [
        (
            "Upfront fee",
            f"{money(terms.upfront_fee_minor, c)} {terms.get_upfront_fee_basis_display().lower()}"
            + (" (recoupable advance)" if terms.advance_recoupable else ""),
        ),
        ("Rate per 1,000 tokens trained", rate(terms.rate_tokens_trained_minor, c, "")),
        ("Rate per training example", rate(terms.rate_training_examples_minor, c, "")),
        ("Rate per retrieval", rate(terms.rate_retrievals_minor, c, "")),
        ("Rate per attributed output", rate(terms.rate_outputs_attributed_minor, c, "")),
        (
            "Revenue share",
            f"{bp_to_percent(terms.revenue_share_bp)} %" if terms.revenue_share_bp else "",
        ),
        (
            "Minimum guarantee per contract year",
            money(terms.minimum_guarantee_minor, c) if terms.minimum_guarantee_minor else "",
        ),
        ("Term", f"{terms.term_months} months"),
        ("Territories", ", ".join(terms.territories or ["WORLD"])),
        ("Exclusive", "yes" if terms.exclusive else "no"),
        ("Attribution required", "yes" if terms.attribution_required else "no"),
        (
            "Uses offered",
            ", ".join(terms.permitted_uses) if terms.permitted_uses else "every consented use",
        ),
    ]
    return [(label, value.strip()) for label, value in rows if value.strip()]


def identifier_rows(work: Work) -> list[tuple[str, str]]:
    return [
        (SCHEME_LABELS[scheme], format_identifier(scheme, getattr(work, scheme)))
        for scheme in ("isbn13", "isrc", "iswc", "doi", "url")
        if getattr(work, scheme)
    ]


def _share_lines(form: ShareRowsForm) -> list[services.ShareLine] | None:
    rows = form.lines()
    holders = {
        o.slug: o
        for o in Organisation.objects.filter(
            slug__in=[slug for slug, _, _ in rows], kind=Organisation.Kind.CREATOR
        )
    }
    lines = []
    for i, (slug, role, bp) in enumerate(rows):
        if slug not in holders:
            form.add_error(
                None, f"No rights-holder organisation with the slug {slug!r} (row {i + 1})."
            )
            continue
        lines.append(services.ShareLine(holder=holders[slug], role=role, share_bp=bp))
    return None if form.errors else lines


def _holder_choices() -> list[Organisation]:
    return list(selectors.creator_organisations()[:500])


# --- Catalogues -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_list(request: HttpRequest) -> HttpResponse:
    principal = principal_for_request(request)
    owners = list(
        Organisation.objects.filter(
            pk__in=principal.organisation_ids, kind=Organisation.Kind.CREATOR
        ).order_by("name")
    )
    form = CatalogueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not owners:
            return _forbidden(request)
        try:
            catalogue = services.catalogue_create(
                owner=owners[0], actor=principal, **form.cleaned_data
            )
        except ValidationError as error:
            _put_errors(error, {}, form)
        else:
            messages.success(request, f"Catalogue {catalogue.name} created.")
            return redirect("frontend:catalogue-detail", pk=catalogue.pk)
    catalogues = list(selectors.catalogue_list(principal=principal))
    rows = [(c, selectors.catalogue_counts(catalogue=c)) for c in catalogues]
    return render(
        request,
        "frontend/catalog/catalogue_list.html",
        {"rows": rows, "form": form, "can_create": bool(owners)},
    )


@login_required
@require_GET
def catalogue_detail(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    catalogue = _catalogue_or_404(principal, pk)
    works = catalogue.works.order_by("title", "id")
    status_filter = request.GET.get("status", "")
    if status_filter == "pending":
        works = works.filter(~selectors.split_sheet_confirmed())
    page = Paginator(works, PAGE_SIZE).get_page(request.GET.get("page"))
    statuses = selectors.work_status_for(works=page.object_list)
    return render(
        request,
        "frontend/catalog/catalogue_detail.html",
        {
            "catalogue": catalogue,
            "page": page,
            "rows": [(w, statuses[w.pk]) for w in page.object_list],
            "counts": selectors.catalogue_counts(catalogue=catalogue),
            "consent": _consent_rows(selectors.catalogue_default_consent(catalogue=catalogue)),
            "terms_rows": terms_rows(selectors.catalogue_default_terms(catalogue=catalogue)),
            "imports": selectors.work_import_list(principal=principal).filter(catalogue=catalogue)[
                :5
            ],
            "status_filter": status_filter,
        },
    )


def _consent_rows(consent: dict[str, bool]) -> list[dict[str, Any]]:
    return [
        {"use": use, "label": USE_LABELS[use], "granted": granted}
        for use, granted in consent.items()
    ]


@login_required
@require_POST
def catalogue_consent(request: HtmxHttpRequest, pk: int, use: str) -> HttpResponse:
    """Toggle one use of the catalogue's default consent (htmx: returns the toggles)."""
    principal = principal_for_request(request)
    catalogue = _catalogue_or_404(principal, pk)
    if use not in USE_LABELS:
        raise Http404("No such use.")
    granted = request.POST.get("granted") == "on"
    services.catalogue_consent_set(catalogue=catalogue, consents={use: granted}, actor=principal)
    context = {
        "catalogue": catalogue,
        "consent": _consent_rows(selectors.catalogue_default_consent(catalogue=catalogue)),
    }
    if request.htmx:
        return render(request, "frontend/catalog/_catalogue_consent.html", context)
    return redirect("frontend:catalogue-detail", pk=pk)


def _terms_page(
    request: HttpRequest, *, catalogue: Catalogue, work: Work | None, back: str
) -> HttpResponse:
    principal = principal_for_request(request)
    current = (
        LicenceTerms.objects.filter(catalogue=catalogue, work=work).first()
        if work is not None
        else selectors.catalogue_default_terms(catalogue=catalogue)
    )
    starting_point = current or selectors.catalogue_default_terms(catalogue=catalogue)
    form = TermsForm(request.POST or None, initial=terms_initial(starting_point))
    if request.method == "POST" and "clear" in request.POST and current is not None:
        services.licence_terms_delete(terms=current, actor=principal)
        messages.success(request, "The work now follows the catalogue's terms.")
        return redirect(back)
    if request.method == "POST" and form.is_valid():
        try:
            services.licence_terms_set(
                catalogue=catalogue, work=work, values=form.values(), actor=principal
            )
        except ValidationError as error:
            _put_errors(error, {}, form)
        else:
            messages.success(request, "Terms saved.")
            return redirect(back)
    return render(
        request,
        "frontend/catalog/terms_form.html",
        {"form": form, "catalogue": catalogue, "work": work, "current": current, "back": back},
    )


@login_required
@require_http_methods(["GET", "POST"])
def catalogue_terms_edit(request: HttpRequest, pk: int) -> HttpResponse:
    catalogue = _catalogue_or_404(principal_for_request(request), pk)
    back = reverse("frontend:catalogue-detail", args=[pk])
    return _terms_page(request, catalogue=catalogue, work=None, back=back)


@login_required
@require_GET
def catalogue_history(request: HttpRequest, pk: int) -> HttpResponse:
    catalogue = _catalogue_or_404(principal_for_request(request), pk)
    entries = selectors.catalogue_consent_history(catalogue=catalogue)
    return render(
        request,
        "frontend/catalog/history.html",
        {"subject": catalogue.name, "entries": entries, "catalogue": catalogue},
    )


# --- Works --------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def work_create(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    catalogue = _catalogue_or_404(principal, pk)
    post = request.POST if request.method == "POST" else None
    work_form = WorkForm(post)
    shares_form = ShareRowsForm(
        post,
        initial={"holder_0": catalogue.owner.slug, "role_0": "publisher", "percent_0": "100"},
    )
    consent_form = WorkConsentForm(post)
    content_form = ContentForm(post, request.FILES or None)
    if request.method == "POST" and all(
        f.is_valid() for f in (work_form, shares_form, consent_form)
    ):
        lines = _share_lines(shares_form)
        if lines is not None:
            data = dict(work_form.cleaned_data)
            identifiers = {k: data.pop(k) for k in IDENTIFIER_FIELDS}
            try:
                work = services.work_create(
                    catalogue=catalogue,
                    shares=lines,
                    identifiers=identifiers,
                    consent=consent_form.consents(),
                    actor=principal,
                    **data,
                )
            except ValidationError as error:
                _put_errors(error, {"shares": shares_form}, work_form)
            else:
                if request.FILES.get("file"):
                    services.work_content_attach(
                        work=work, upload=request.FILES["file"], actor=principal
                    )
                messages.success(request, f"{work.title} added.")
                return redirect("frontend:work-detail", pk=work.pk)
    return render(
        request,
        "frontend/catalog/work_form.html",
        {
            "catalogue": catalogue,
            "work_form": work_form,
            "shares_form": shares_form,
            "consent_form": consent_form,
            "content_form": content_form,
            "holders": _holder_choices(),
            "feedback": share_total_feedback(shares_form.data or shares_form.initial),
            "creating": True,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def work_edit(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    work = _work_or_404(principal, pk)
    if not selectors.can_edit_work(principal=principal, work=work):
        return _forbidden(request)
    post = request.POST if request.method == "POST" else None
    work_form = WorkForm(
        post,
        initial={
            field: getattr(work, field)
            for field in ("title", "kind", "language", "content_sha256", "metadata")
        }
        | {scheme: format_identifier(scheme, getattr(work, scheme)) for scheme in SCHEME_LABELS},
    )
    shares_form = ShareRowsForm(post, initial=share_rows_initial(selectors.split_sheet(work=work)))
    if request.method == "POST" and work_form.is_valid() and shares_form.is_valid():
        lines = _share_lines(shares_form)
        if lines is not None:
            data = dict(work_form.cleaned_data)
            identifiers = {k: data.pop(k) for k in IDENTIFIER_FIELDS}
            try:
                services.work_update(
                    work=work, actor=principal, fields=data, identifiers=identifiers, shares=lines
                )
            except ValidationError as error:
                _put_errors(error, {"shares": shares_form}, work_form)
            else:
                messages.success(request, "Saved.")
                return redirect("frontend:work-detail", pk=work.pk)
    return render(
        request,
        "frontend/catalog/work_form.html",
        {
            "catalogue": work.catalogue,
            "work": work,
            "work_form": work_form,
            "shares_form": shares_form,
            "holders": _holder_choices(),
            "feedback": share_total_feedback(shares_form.data or shares_form.initial),
            "creating": False,
        },
    )


@login_required
@require_POST
def split_check(request: HttpRequest) -> HttpResponse:
    """Live feedback while a split sheet is typed: does it total 100 %?"""
    return render(
        request,
        "frontend/catalog/_split_total.html",
        {"feedback": share_total_feedback(request.POST)},
    )


def _work_consent_rows(work: Work) -> list[dict[str, Any]]:
    own = selectors.work_consent_overrides(work=work)
    effective = selectors.work_effective_consent(work=work)
    return [
        {
            "use": use,
            "label": USE_LABELS[use],
            "own": "" if own[use] is None else ("yes" if own[use] else "no"),
            "effective": effective[use],
        }
        for use in AiUse.values
    ]


@login_required
@require_GET
def work_detail(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    work = _work_or_404(principal, pk)
    status = selectors.work_status_for(works=[work])[work.pk]
    own_terms = LicenceTerms.objects.filter(work=work).first()
    return render(
        request,
        "frontend/catalog/work_detail.html",
        {
            "work": work,
            "status": status,
            "can_edit": selectors.can_edit_work(principal=principal, work=work),
            "shares": selectors.split_sheet(work=work),
            "my_pending": [
                s
                for s in selectors.split_sheet(work=work)
                if s.holder_id in principal.organisation_ids and s.confirmed_at is None
            ],
            "fingerprint": services.split_sheet_fingerprint(work=work),
            "consent": _work_consent_rows(work),
            "identifiers": identifier_rows(work),
            "terms_rows": terms_rows(selectors.effective_terms(work=work)),
            "own_terms": own_terms,
            "content_form": ContentForm(),
        },
    )


@login_required
@require_POST
def work_consent(request: HtmxHttpRequest, pk: int, use: str) -> HttpResponse:
    """Set one use of a work's consent: granted, not granted, or the catalogue default."""
    principal = principal_for_request(request)
    work = _work_or_404(principal, pk)
    if use not in USE_LABELS:
        raise Http404("No such use.")
    if not selectors.can_edit_work(principal=principal, work=work):
        return _forbidden(request)
    choice = request.POST.get("consent", "")
    granted = None if choice not in {"yes", "no"} else choice == "yes"
    services.work_consent_set(work=work, consents={use: granted}, actor=principal)
    if request.htmx:
        return render(
            request,
            "frontend/catalog/_work_consent.html",
            {
                "work": work,
                "consent": _work_consent_rows(work),
                "can_edit": True,
                "status": selectors.work_status_for(works=[work])[work.pk],
            },
        )
    return redirect("frontend:work-detail", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def work_terms(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    work = _work_or_404(principal, pk)
    if not selectors.can_edit_work(principal=principal, work=work):
        return _forbidden(request)
    back = reverse("frontend:work-detail", args=[pk])
    return _terms_page(request, catalogue=work.catalogue, work=work, back=back)


@login_required
@require_POST
def work_content(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    work = _work_or_404(principal, pk)
    form = ContentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a file to upload.")
        return redirect("frontend:work-detail", pk=pk)
    try:
        work = services.work_content_attach(
            work=work, upload=form.cleaned_data["file"], actor=principal
        )
    except PermissionDenied:
        return _forbidden(request)
    messages.success(request, f"Content stored; SHA-256 {work.content_sha256}.")
    return redirect("frontend:work-detail", pk=pk)


@login_required
@require_GET
def work_history(request: HttpRequest, pk: int) -> HttpResponse:
    work = _work_or_404(principal_for_request(request), pk)
    return render(
        request,
        "frontend/catalog/history.html",
        {"subject": work.title, "entries": selectors.work_history(work=work), "work": work},
    )


# --- Co-holders' confirmations --------------------------------------------------------------------


@login_required
@require_GET
def confirmations(request: HttpRequest) -> HttpResponse:
    """Works awaiting your confirmation, each with its whole split sheet."""
    principal = principal_for_request(request)
    awaiting = list(selectors.shares_awaiting_confirmation(principal=principal)[:200])
    works: dict[int, dict[str, Any]] = {}
    for share in awaiting:
        entry = works.setdefault(
            share.work_id,
            {
                "work": share.work,
                "holders": [],
                "sheet": selectors.split_sheet(work=share.work),
                "fingerprint": services.split_sheet_fingerprint(work=share.work),
            },
        )
        if share.holder not in entry["holders"]:
            entry["holders"].append(share.holder)
    return render(request, "frontend/catalog/confirmations.html", {"works": works.values()})


@login_required
@require_POST
def confirm_work(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    work = _work_or_404(principal, pk)
    holder = Organisation.objects.filter(
        pk=request.POST.get("holder") or 0, pk__in=principal.organisation_ids
    ).first()
    if holder is None:
        raise Http404("Not one of your organisations.")
    try:
        services.work_shares_confirm(
            work=work,
            holder=holder,
            actor=principal,
            fingerprint=request.POST.get("fingerprint") or None,
        )
    except services.SheetChanged:
        messages.error(request, "The split sheet changed since you looked; review it again.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"You confirmed the split sheet of {work.title}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("frontend:confirmations")
    return redirect(back)


# --- Imports ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest, pk: int) -> HttpResponse:
    principal = principal_for_request(request)
    catalogue = _catalogue_or_404(principal, pk)
    posted = request.method == "POST"  # a form of only a file has an empty request.POST
    form = ImportForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        try:
            work_import = importers.work_import_create(
                catalogue=catalogue,
                upload=form.cleaned_data["file"],
                file_format=form.cleaned_data.get("format") or None,
                import_valid_rows=form.cleaned_data["import_valid_rows"],
                actor=principal,
            )
        except ValidationError as error:
            _put_errors(error, {}, form)
        else:
            return redirect("frontend:import-detail", pk=work_import.pk)
    return render(
        request, "frontend/catalog/import_form.html", {"form": form, "catalogue": catalogue}
    )


def _import_context(principal: Principal, pk: int) -> dict[str, Any]:
    work_import = selectors.work_import_list(principal=principal).filter(pk=pk).first()
    if work_import is None:
        raise Http404("No such import.")
    problems = selectors.work_import_problems(work_import=work_import)
    return {
        "work_import": work_import,
        "problems": problems[:PROBLEMS_SHOWN] if work_import.is_finished else [],
        "problems_total": problems.count() if work_import.is_finished else 0,
        "problems_shown": PROBLEMS_SHOWN,
    }


@login_required
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    context = _import_context(principal_for_request(request), pk)
    return render(request, "frontend/catalog/import_detail.html", context)


@login_required
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress panel alone, which the page polls (htmx) until the import finishes."""
    context = _import_context(principal_for_request(request), pk)
    return render(request, "frontend/catalog/_import_progress.html", context)


@login_required
@require_GET
def catalog_panel(request: HttpRequest) -> HttpResponse:
    """The creator dashboard's catalogue panel (loaded by htmx)."""
    principal = principal_for_request(request)
    catalogues = selectors.catalogue_list(principal=principal)
    owned_works = Work.objects.filter(catalogue__in=catalogues)
    return render(
        request,
        "frontend/catalog/_creator_panel.html",
        {
            "catalogues": catalogues.count(),
            "works": owned_works.count(),
            "licensable": selectors.licensable_works().filter(catalogue__in=catalogues).count(),
            "awaiting": selectors.shares_awaiting_confirmation(principal=principal)
            .order_by()
            .values("work_id")
            .distinct()
            .count(),
        },
    )


# --- Licensees ------------------------------------------------------------------------------------


def _minor(value: Decimal | None, currency: str) -> int | None:
    if value is None:
        return None
    try:
        return major_to_minor(value, currency or "USD")
    except UnknownCurrencyError:
        return None  # no work is priced in it: the currency filter alone finds nothing
    except ValueError:  # finer than the currency's minor unit: the bound, truncated
        return int(value.scaleb(currency_exponent(currency or "USD")))


def _fee(work: Work) -> str:
    """The effective upfront fee the search annotated on the work (the annotations are no
    model fields, hence the ignores)."""
    fee_minor = work.effective_fee_minor  # type: ignore[attr-defined]
    if fee_minor is None:
        return "on request"
    return money(fee_minor, work.effective_currency)  # type: ignore[attr-defined]


@login_required
@require_GET
def licensing_search(request: HtmxHttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    currency = (data.get("currency") or "").upper()
    works = selectors.licensable_work_search(
        text=data.get("q") or "",
        kind=data.get("kind") or "",
        language=data.get("language") or "",
        use=data.get("use") or "",
        currency=currency,
        fee_min_minor=_minor(data.get("fee_min"), currency),
        fee_max_minor=_minor(data.get("fee_max"), currency),
        catalogue_id=data.get("catalogue"),
        owner_id=data.get("owner"),
        sort=data.get("sort") or "",
    )
    page = Paginator(works, PAGE_SIZE).get_page(request.GET.get("page"))
    consents = selectors.effective_consents_for(works=page.object_list)
    rows = [
        {
            "work": work,
            "uses": [u for u, ok in consents[work.pk].items() if ok],
            "fee": _fee(work),
        }
        for work in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "rows": rows, "query": query.urlencode()}
    if request.htmx:
        return render(request, "frontend/catalog/_search_results.html", context)
    return render(request, "frontend/catalog/search.html", context)


@login_required
@require_GET
def licensing_work(request: HttpRequest, pk: int) -> HttpResponse:
    work = selectors.licensable_work(work_id=pk)
    if work is None:
        raise Http404("No such work.")
    consent = selectors.work_effective_consent(work=work)
    return render(
        request,
        "frontend/catalog/licensing_work.html",
        {
            "work": work,
            "uses": [
                {"use": use, "label": USE_LABELS[use], "granted": ok} for use, ok in consent.items()
            ],
            "identifiers": identifier_rows(work),
            "terms_rows": terms_rows(selectors.effective_terms(work=work)),
        },
    )


# --- Public: terms page and RSL ------------------------------------------------------------------


def _public_catalogue(pk: int) -> Catalogue:
    catalogue = Catalogue.objects.select_related("owner").filter(pk=pk).first()
    if catalogue is None:
        raise Http404("No such catalogue.")
    return catalogue


@require_GET
def catalogue_terms(request: HttpRequest, pk: int) -> HttpResponse:
    """The human-readable terms of a catalogue (public, like its RSL document)."""
    catalogue = _public_catalogue(pk)
    default_consent = selectors.catalogue_default_consent(catalogue=catalogue)
    page = Paginator(selectors.licensable_catalogue_works(catalogue=catalogue), 100).get_page(
        request.GET.get("page")
    )
    consents = selectors.effective_consents_for(works=page.object_list)
    terms = selectors.effective_terms_for(works=page.object_list)
    rows = [
        {
            "work": work,
            "uses": [u for u, ok in consents[work.pk].items() if ok],
            "rsl": rsl_usage(consents[work.pk]),
            "own_terms": terms_rows(own)
            if (own := terms[work.pk]) is not None and own.work_id == work.pk
            else None,
        }
        for work in page.object_list
    ]
    return render(
        request,
        "frontend/catalog/catalogue_terms.html",
        {
            "catalogue": catalogue,
            "default_uses": [USE_LABELS[u] for u, ok in default_consent.items() if ok],
            "default_rsl": rsl_usage(default_consent),
            "terms_rows": terms_rows(selectors.catalogue_default_terms(catalogue=catalogue)),
            "page": page,
            "rows": rows,
            "rsl_media_type": RSL_MEDIA_TYPE,
        },
    )


@require_GET
def catalogue_rsl_document(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The catalogue's terms as RSL 1.0 (public, no login), streamed."""
    catalogue = _public_catalogue(pk)
    base = request.build_absolute_uri("/")[:-1]
    urls = RslUrls(
        catalogue_content=f"{base}/licensing/catalogues/{pk}/*",
        terms_page=base + reverse("frontend:catalogue-terms", args=[pk]),
        work_page_prefix=base + reverse("frontend:licensing-search"),
    )
    response = StreamingHttpResponse(
        catalogue_rsl(catalogue=catalogue, urls=urls),
        content_type=f"{RSL_MEDIA_TYPE}; charset=utf-8",
    )
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


urlpatterns: list[URLPattern] = [
    path("catalogues/", catalogue_list, name="catalogue-list"),
    path("catalogues/<int:pk>/", catalogue_detail, name="catalogue-detail"),
    path("catalogues/<int:pk>/consent/<str:use>/", catalogue_consent, name="catalogue-consent"),
    path("catalogues/<int:pk>/terms/", catalogue_terms_edit, name="catalogue-terms-edit"),
    path("catalogues/<int:pk>/history/", catalogue_history, name="catalogue-history"),
    path("catalogues/<int:pk>/works/new/", work_create, name="work-create"),
    path("catalogues/<int:pk>/imports/new/", import_create, name="import-create"),
    path("works/<int:pk>/", work_detail, name="work-detail"),
    path("works/<int:pk>/edit/", work_edit, name="work-edit"),
    path("works/<int:pk>/consent/<str:use>/", work_consent, name="work-consent"),
    path("works/<int:pk>/terms/", work_terms, name="work-terms"),
    path("works/<int:pk>/content/", work_content, name="work-content"),
    path("works/<int:pk>/history/", work_history, name="work-history"),
    path("works/<int:pk>/confirm/", confirm_work, name="confirm-work"),
    path("splits/check/", split_check, name="split-check"),
    path("catalog/panel/", catalog_panel, name="catalog-panel"),
    path("confirmations/", confirmations, name="confirmations"),
    path("imports/<int:pk>/", import_detail, name="import-detail"),
    path("imports/<int:pk>/progress/", import_progress, name="import-progress"),
    path("licensing/works/", licensing_search, name="licensing-search"),
    path("licensing/works/<int:pk>/", licensing_work, name="licensing-work"),
    path("licensing/catalogues/<int:pk>/terms/", catalogue_terms, name="catalogue-terms"),
    path("licensing/catalogues/<int:pk>/rsl.xml", catalogue_rsl_document, name="catalogue-rsl"),
]
