"""The finance console (platform finance staff only; everyone else gets 404): settlement runs
with progress, collections, payouts, reconciliation runs and the exceptions queue, period close
with its checks, reports with filters and charts, and exports (mounted by frontend.urls)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Sum
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Membership, Organisation, User
from accounts.selectors import platform_finance_check
from accounts.tenancy import principal_for_request
from core import clock
from finance import exports, period_close, reconciliation
from finance import selectors as finance_selectors
from finance.models import (
    ExceptionStatus,
    FinanceExport,
    ReconciliationException,
    ReconciliationRun,
)
from finance.reports import REPORT_TITLES, ReportFilters, report_build
from ledger.models import AccountingPeriod
from payouts.models import Collection, Payout
from payouts.selectors import collections_for_finance, payout_audit_trails, payouts_for_finance
from payouts.services import PayoutError, payout_hold, payout_retry
from settlement.models import SettlementRun
from settlement.services import (
    SettlementError,
    settlement_run_create,
    settlement_run_progress,
    settlement_run_start,
)

View = Callable[..., HttpResponseBase]


def finance_only(view: View) -> View:
    """Signed-in platform finance staff; to anyone else the page does not exist."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not platform_finance_check(principal=principal_for_request(request)):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _error_text(error: ValidationError | PermissionDenied) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


class PeriodForm(forms.Form):
    period = forms.RegexField(
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        label="Period (YYYY-MM)",
        error_messages={"invalid": "Enter a month as YYYY-MM."},
    )


def _last_month() -> str:
    first = clock.today().replace(day=1)
    return f"{first - dt.timedelta(days=1):%Y-%m}"


# --- Console and settlement --------------------------------------------------------------------


def _run_rows(runs: list[SettlementRun]) -> list[dict[str, Any]]:
    return [{"run": run, "progress": settlement_run_progress(run=run)} for run in runs]


@finance_only
def console(request: HttpRequest) -> HttpResponse:
    exceptions = ReconciliationException.objects.exclude(status=ExceptionStatus.RESOLVED)
    context = {
        "settlement_runs": _run_rows(list(SettlementRun.objects.order_by("-period_start")[:5])),
        "reconciliation_runs": finance_selectors.reconciliation_run_list()[:5],
        "open_exceptions": exceptions.count(),
        "periods": finance_selectors.accounting_period_list()[:6],
        "collections": Collection.objects.values("status", "currency")
        .annotate(count=Count("id"), amount=Sum("amount_due_minor"))
        .order_by("currency", "status"),
        "payouts": Payout.objects.values("status", "currency")
        .annotate(count=Count("id"), amount=Sum("amount_minor"))
        .order_by("currency", "status"),
    }
    return render(request, "frontend/finance/console.html", context)


@finance_only
@require_http_methods(["GET", "POST"])
def settlement_runs(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.POST or None, initial={"period": _last_month()})
    if request.method == "POST" and form.is_valid():
        year, month = map(int, form.cleaned_data["period"].split("-"))
        try:
            run = settlement_run_create(period_start=dt.date(year, month, 1), actor=_user(request))
            settlement_run_start(run=run, actor=_user(request))
        except SettlementError as error:
            form.add_error("period", str(error))
        else:
            messages.success(request, f"Settlement of {form.cleaned_data['period']} started.")
            return redirect("frontend:finance-settlement")
    runs = _run_rows(list(SettlementRun.objects.order_by("-period_start")[:24]))
    return render(request, "frontend/finance/settlement.html", {"form": form, "runs": runs})


@finance_only
def settlement_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SettlementRun, pk=pk)
    return render(
        request,
        "frontend/finance/_settlement_progress.html",
        {"row": {"run": run, "progress": settlement_run_progress(run=run)}},
    )


def _currency_filter(request: HttpRequest) -> str:
    currency = (request.GET.get("currency") or "").strip().upper()
    return currency if len(currency) == 3 and currency.isalpha() else ""


@finance_only
def collections_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or ""
    currency = _currency_filter(request)
    rows = collections_for_finance().order_by("-created_at", "-id")
    if status in Collection.Status.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    if currency:
        rows = rows.filter(currency=currency)
    return render(
        request,
        "frontend/finance/collections.html",
        {
            "collections": rows[:200],
            "status": status,
            "currency": currency,
            "statuses": Collection.Status.choices,
            "currencies": Collection.objects.values_list("currency", flat=True)
            .distinct()
            .order_by("currency"),
        },
    )


@finance_only
def payouts_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or ""
    currency = _currency_filter(request)
    rows = payouts_for_finance().select_related("requested_by").order_by("-created_at", "-id")
    if status in Payout.Status.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    if currency:
        rows = rows.filter(currency=currency)
    if request.GET.get("on_hold") == "1":
        rows = rows.filter(on_hold=True)
    listed = list(rows[:200])
    trails = payout_audit_trails(payout_ids=[p.pk for p in listed])
    return render(
        request,
        "frontend/finance/payouts.html",
        {
            "rows": [{"payout": p, "audit": trails.get(p.pk, [])} for p in listed],
            "status": status,
            "currency": currency,
            "on_hold": request.GET.get("on_hold") == "1",
            "statuses": Payout.Status.choices,
            "currencies": Payout.objects.values_list("currency", flat=True)
            .distinct()
            .order_by("currency"),
        },
    )


def _back_to_payouts(request: HttpRequest) -> HttpResponse:
    """Back to the payouts list with the filters the form came from."""
    query = request.POST.get("next_query", "")
    url = reverse("frontend:finance-payouts")
    return redirect(f"{url}?{query}" if query and "//" not in query else url)


@finance_only
@require_POST
def payout_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    payout = get_object_or_404(Payout, pk=pk)
    try:
        payout_retry(payout=payout, actor=_user(request))
    except PayoutError as error:
        messages.error(request, f"Payout {pk}: {_error_text(error)}")
    else:
        messages.success(request, f"Payout {pk} scheduled again.")
    return _back_to_payouts(request)


@finance_only
@require_POST
def payout_hold_view(request: HttpRequest, pk: int) -> HttpResponse:
    payout = get_object_or_404(Payout, pk=pk)
    on_hold = request.POST.get("on_hold") == "1"
    try:
        payout_hold(payout=payout, on_hold=on_hold, actor=_user(request))
    except PayoutError as error:
        messages.error(request, f"Payout {pk}: {_error_text(error)}")
    else:
        messages.success(request, f"Payout {pk} {'held' if on_hold else 'released'}.")
    return _back_to_payouts(request)


# --- Reconciliation ----------------------------------------------------------------------------


@finance_only
@require_http_methods(["GET", "POST"])
def reconciliation_runs(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.POST or None, initial={"period": f"{clock.today():%Y-%m}"})
    if request.method == "POST" and form.is_valid():
        period = period_close.period_for_label(label=form.cleaned_data["period"])
        run = reconciliation.reconciliation_run_queue(period=period, actor=_user(request))
        messages.success(request, f"Reconciliation of {period.label} started.")
        return redirect("frontend:finance-reconciliation-run", pk=run.pk)
    runs = finance_selectors.reconciliation_run_list()[:50]
    return render(request, "frontend/finance/reconciliation.html", {"form": form, "runs": runs})


@finance_only
def reconciliation_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun, pk=pk)
    template = (
        "frontend/finance/_reconciliation_run.html"
        if request.headers.get("HX-Request")
        else "frontend/finance/reconciliation_run.html"
    )
    return render(
        request,
        template,
        {"run": run, "exceptions": run.exceptions_seen.select_related("assignee").order_by("id")},
    )


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(choices=reconciliation.Resolution.CHOICES)
    counter_account_code = forms.ChoiceField(
        label="Counter-account (when cash and fee alone don't balance)",
        choices=[(str(code), str(code)) for code in reconciliation.COUNTER_ACCOUNT_CODES],
        initial="write_offs",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=User.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds Field; this one is the ModelChoiceField declared above.
        self.fields["assignee"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            memberships__organisation__kind=Organisation.Kind.PLATFORM,
            memberships__role__in=[Membership.Role.FINANCE, Membership.Role.OWNER],
        ).distinct()


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 2}))


@finance_only
def exception_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "unresolved")
    exceptions = finance_selectors.reconciliation_exception_list(
        status=status if status in ExceptionStatus.values else None,
        unresolved=status == "unresolved",
    )
    return render(
        request,
        "frontend/finance/exceptions.html",
        {"exceptions": exceptions[:200], "status": status, "statuses": ExceptionStatus.choices},
    )


@finance_only
@require_http_methods(["GET", "POST"])
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(ReconciliationException, pk=pk)
    action = request.POST.get("action") if request.method == "POST" else None
    forms_by_action: dict[str, forms.Form] = {
        "assign": AssignForm(request.POST if action == "assign" else None),
        "comment": CommentForm(request.POST if action == "comment" else None),
        "resolve": ResolveForm(request.POST if action == "resolve" else None),
    }
    if action == "retry":
        try:
            reconciliation.reconciliation_exception_retry(exception=exception, actor=_user(request))
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, f"Exception #{exception.pk}: retried, money posted.")
        return redirect("frontend:finance-exception", pk=exception.pk)
    form = forms_by_action.get(action or "")
    if form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            if action == "assign":
                reconciliation.reconciliation_exception_assign(
                    exception=exception, assignee=data["assignee"], actor=_user(request)
                )
            elif action == "comment":
                reconciliation.reconciliation_exception_comment(
                    exception=exception, body=data["body"], actor=_user(request)
                )
            else:
                reconciliation.reconciliation_exception_resolve(
                    exception=exception,
                    resolution=data["resolution"],
                    reason=data["reason"],
                    counter_account_code=data["counter_account_code"],
                    actor=_user(request),
                )
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, _error_text(error))
        else:
            messages.success(request, f"Exception #{exception.pk}: {action} done.")
            return redirect("frontend:finance-exception", pk=exception.pk)
    exception.refresh_from_db()
    return render(
        request,
        "frontend/finance/exception_detail.html",
        {
            "exception": exception,
            "comments": exception.comments.select_related("author"),
            "history": finance_selectors.exception_history(exception=exception),
            **{f"{name}_form": value for name, value in forms_by_action.items()},
        },
    )


# --- Periods -----------------------------------------------------------------------------------


class ReopenForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


def _period_or_404(label: str) -> AccountingPeriod:
    try:
        return period_close.period_for_label(label=label)
    except ValidationError as error:
        raise Http404(str(error)) from error


@finance_only
def periods(request: HttpRequest) -> HttpResponse:
    form = PeriodForm(request.GET or None)
    if form.is_valid():
        return redirect("frontend:finance-period", label=form.cleaned_data["period"])
    return render(
        request,
        "frontend/finance/periods.html",
        {"periods": finance_selectors.accounting_period_list(), "form": form},
    )


@finance_only
def period_detail(request: HttpRequest, label: str) -> HttpResponse:
    period = _period_or_404(label)
    return render(
        request,
        "frontend/finance/period_detail.html",
        {
            "period": period,
            "checks": period_close.period_close_checks(period=period),
            "reopen_form": ReopenForm(),
            "history": finance_selectors.period_history(period=period),
            "late_receipts": finance_selectors.late_receipts_for_period(period=period),
            "late_receipts_posted": finance_selectors.late_receipts_posted_in(period=period),
        },
    )


@finance_only
@require_POST
def period_close_view(request: HttpRequest, label: str) -> HttpResponse:
    period = _period_or_404(label)
    try:
        period_close.period_close_with_checks(period=period, actor=_user(request))
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, f"{period.label} is closed: postings dated into it are refused.")
    return redirect("frontend:finance-period", label=period.label)


@finance_only
@require_POST
def period_reopen_view(request: HttpRequest, label: str) -> HttpResponse:
    period = _period_or_404(label)
    form = ReopenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Reopening needs a reason.")
        return redirect("frontend:finance-period", label=period.label)
    try:
        period_close.period_reopen_for(
            period=period, actor=_user(request), reason=form.cleaned_data["reason"]
        )
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, f"{period.label} is open again.")
    return redirect("frontend:finance-period", label=period.label)


# --- Reports and exports -----------------------------------------------------------------------


class ReportFilterForm(forms.Form):
    period = forms.RegexField(
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        label="Period (YYYY-MM)",
        error_messages={"invalid": "Enter a month as YYYY-MM."},
    )
    currency = forms.RegexField(
        regex=r"^[A-Za-z]{3}$",
        required=False,
        error_messages={"invalid": "A 3-letter currency code."},
    )


def _filters(request: HttpRequest) -> tuple[ReportFilterForm, ReportFilters]:
    form = ReportFilterForm(request.GET or None)
    if not form.is_valid():
        return form, ReportFilters()
    label = form.cleaned_data.get("period")
    currency = (form.cleaned_data.get("currency") or "").upper() or None
    period = period_close.period_for_label(label=label) if label else None
    return form, ReportFilters(period=period, currency=currency)


def _report_name_or_404(name: str) -> str:
    if name not in REPORT_TITLES:
        raise Http404("No such report.")
    return name


@finance_only
def report_view(request: HttpRequest, name: str = "trial_balance") -> HttpResponse:
    name = _report_name_or_404(name)
    form, filters = _filters(request)
    report = report_build(name=name, filters=filters)
    return render(
        request,
        "frontend/finance/reports.html",
        {
            "report": report,
            "rows": list(report.rows()),
            "form": form,
            "reports": REPORT_TITLES.items(),
            "query": request.GET.urlencode(),
        },
    )


@finance_only
def report_download(request: HttpRequest, name: str, file_format: str) -> HttpResponseBase:
    if file_format not in ("csv", "xlsx"):
        raise Http404("Downloads are CSV or XLSX.")
    _form, filters = _filters(request)
    header: tuple[str, ...]
    if name == "journal":
        header, rows = exports.JOURNAL_COLUMNS, exports.journal_rows(filters)
        title = "Journal"
    else:
        report = report_build(name=_report_name_or_404(name), filters=filters)
        header, rows = tuple(c.key for c in report.columns), report.rows()
        title = report.title
    filename = exports.export_file_name(name, filters, file_format)
    if file_format == "csv":
        response = StreamingHttpResponse(
            exports.csv_lines(header, rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    path = exports.temporary_file(".xlsx")
    exports.write_xlsx(path, [(title, header, rows)])
    return StreamingHttpResponse(
        exports.file_chunks(path, remove=True),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class ExportForm(ReportFilterForm):
    kind = forms.ChoiceField(
        choices=[
            ("statements", "Statements of the period (zip of PDFs and CSVs)"),
            ("journal", "Journal"),
            *REPORT_TITLES.items(),
        ]
    )
    file_format = forms.ChoiceField(
        label="Format", choices=[("csv", "CSV"), ("xlsx", "XLSX"), ("zip", "zip")], initial="csv"
    )


@finance_only
@require_http_methods(["GET", "POST"])
def exports_view(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        period = period_close.period_for_label(label=data["period"]) if data["period"] else None
        try:
            exports.finance_export_request(
                kind=data["kind"],
                file_format=data["file_format"],
                filters=ReportFilters(
                    period=period, currency=(data["currency"] or "").upper() or None
                ),
                actor=_user(request),
            )
        except ValueError as error:
            form.add_error("file_format", str(error))
        else:
            messages.success(request, "Export queued.")
            return redirect("frontend:finance-exports")
    jobs = list(FinanceExport.objects.order_by("-created_at", "-id")[:30])
    unfinished = (FinanceExport.Status.QUEUED, FinanceExport.Status.RUNNING)
    polling = any(job.status in unfinished for job in jobs)
    template = (
        "frontend/finance/_export_jobs.html"
        if request.headers.get("HX-Request")
        else "frontend/finance/exports.html"
    )
    return render(request, template, {"form": form, "jobs": jobs, "polling": polling})


@finance_only
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    export = get_object_or_404(FinanceExport, pk=pk, status=FinanceExport.Status.COMPLETED)
    return FileResponse(exports.export_open(export), as_attachment=True, filename=export.filename)


urlpatterns: list[URLPattern] = [
    path("finance/console/", console, name="finance-console"),
    path("finance/settlement/", settlement_runs, name="finance-settlement"),
    path(
        "finance/settlement/<int:pk>/progress/",
        settlement_progress,
        name="finance-settlement-progress",
    ),
    path("finance/collections/", collections_list, name="finance-collections"),
    path("finance/payouts/", payouts_list, name="finance-payouts"),
    path("finance/payouts/<int:pk>/retry/", payout_retry_view, name="finance-payout-retry"),
    path("finance/payouts/<int:pk>/hold/", payout_hold_view, name="finance-payout-hold"),
    path("finance/reconciliation/", reconciliation_runs, name="finance-reconciliation"),
    path(
        "finance/reconciliation/<int:pk>/",
        reconciliation_run_detail,
        name="finance-reconciliation-run",
    ),
    path("finance/exceptions/", exception_queue, name="finance-exceptions"),
    path("finance/exceptions/<int:pk>/", exception_detail, name="finance-exception"),
    path("finance/periods/", periods, name="finance-periods"),
    path("finance/periods/<str:label>/", period_detail, name="finance-period"),
    path("finance/periods/<str:label>/close/", period_close_view, name="finance-period-close"),
    path("finance/periods/<str:label>/reopen/", period_reopen_view, name="finance-period-reopen"),
    path("finance/reports/", report_view, name="finance-reports"),
    path("finance/reports/<str:name>/", report_view, name="finance-report"),
    path(
        "finance/downloads/<str:name>.<str:file_format>",
        report_download,
        name="finance-download",
    ),
    path("finance/exports/", exports_view, name="finance-exports"),
    path("finance/exports/<int:pk>/download/", export_download, name="finance-export-download"),
]
