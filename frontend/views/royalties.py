"""Royalty statements for rights holders and settlement runs for the platform's finance team
(mounted by frontend.urls)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from accounts.selectors import platform_finance_check
from accounts.tenancy import principal_for_request
from core import clock
from core.money import currency_exponent
from settlement.models import SettlementRun, Statement
from settlement.selectors import (
    holder_earnings,
    settlement_agreements,
    settlement_run_list,
    statement_csv,
    statement_lines,
    statement_list,
    statement_pdf,
)
from settlement.services import (
    SettlementError,
    next_month,
    settlement_run_create,
    settlement_run_progress,
    settlement_run_start,
)

PAGE_SIZE = 25


def _statement_or_404(request: HttpRequest, pk: int) -> Statement:
    statement = statement_list(principal=principal_for_request(request)).filter(pk=pk).first()
    if statement is None:
        raise Http404("No such statement.")
    return statement


@login_required
def statements(request: HttpRequest) -> HttpResponse:
    listed = statement_list(principal=principal_for_request(request))
    return render(
        request,
        "frontend/royalties/statements.html",
        {"page": Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))},
    )


@login_required
def statement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement_or_404(request, pk)
    return render(
        request,
        "frontend/royalties/statement.html",
        {"statement": statement, "rows": statement_lines(statement=statement)},
    )


def _download_name(statement: Statement, extension: str) -> str:
    return (
        f"statement-{statement.period_start:%Y-%m}-{statement.holder.slug}-"
        f"{statement.currency}.{extension}"
    )


@login_required
def statement_csv_download(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement_or_404(request, pk)
    response = HttpResponse(statement_csv(statement=statement), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{_download_name(statement, "csv")}"'
    return response


@login_required
def statement_pdf_download(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement_or_404(request, pk)
    response = HttpResponse(statement_pdf(statement=statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_download_name(statement, "pdf")}"'
    return response


@login_required
def earnings_data(request: HttpRequest) -> JsonResponse:
    """The creator's earnings per currency, by month, work and licensee (the dashboard charts);
    ``exponent`` is the currency's minor-unit exponent, to chart major units."""
    earnings = holder_earnings(principal=principal_for_request(request))
    return JsonResponse(
        {
            "currencies": [
                {**asdict(item), "exponent": currency_exponent(item.currency)} for item in earnings
            ]
        }
    )


# --- finance: settlement runs ------------------------------------------------------------------


class SettlementRunForm(forms.Form):
    period = forms.CharField(
        label="Month to settle",
        widget=forms.DateInput(attrs={"type": "month"}),
        help_text="A calendar month (UTC) that has ended.",
    )

    def clean_period(self) -> dt.date:
        try:
            return dt.datetime.strptime(self.cleaned_data["period"], "%Y-%m").date()
        except ValueError:
            raise forms.ValidationError("Enter a month as YYYY-MM.") from None


def _require_finance(request: HttpRequest) -> None:
    if not platform_finance_check(principal=principal_for_request(request), api_keys=True):
        raise Http404("No such page.")


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@login_required
@require_http_methods(["GET", "POST"])
def settlement_runs(request: HttpRequest) -> HttpResponse:
    _require_finance(request)
    form = SettlementRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = settlement_run_create(
                period_start=form.cleaned_data["period"], actor=_actor(request)
            )
            run = settlement_run_start(run=run, actor=_actor(request))
        except SettlementError as error:
            form.add_error("period", str(error))
        else:
            messages.success(request, f"Settlement of {run.period_start:%B %Y} started.")
            return redirect("frontend:settlement-run", pk=run.pk)
    if not form.is_bound:
        today = clock.today()
        last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        form = SettlementRunForm(initial={"period": f"{last_month:%Y-%m}"})
    runs = settlement_run_list(principal=principal_for_request(request))
    return render(
        request,
        "frontend/royalties/runs.html",
        {"form": form, "page": Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))},
    )


def _run_or_404(request: HttpRequest, pk: int) -> SettlementRun:
    _require_finance(request)
    run = settlement_run_list(principal=principal_for_request(request)).filter(pk=pk).first()
    if run is None:
        raise Http404("No such settlement run.")
    return run


@login_required
def settlement_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    return render(
        request,
        "frontend/royalties/run.html",
        {
            "run": run,
            "progress": settlement_run_progress(run=run),
            "period_end": next_month(run.period_start),
            "agreements": settlement_agreements(run=run)[:200],
            "statements": Paginator(
                run.statements.select_related("holder").order_by("holder__name"), PAGE_SIZE
            ).get_page(request.GET.get("page")),
        },
    )


@login_required
def settlement_run_progress_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx while the run is running."""
    run = _run_or_404(request, pk)
    response = render(
        request,
        "frontend/royalties/_run_progress.html",
        {"run": run, "progress": settlement_run_progress(run=run)},
    )
    if run.status != SettlementRun.Status.RUNNING:
        response["HX-Refresh"] = "true"  # the run ended: reload to show its statements
    return response


@login_required
@require_POST
def settlement_run_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(request, pk)
    try:
        settlement_run_start(run=run, actor=_actor(request))
    except SettlementError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Settlement of {run.period_start:%B %Y} queued.")
    return redirect("frontend:settlement-run", pk=run.pk)


urlpatterns = [
    path("royalties/statements/", statements, name="royalty-statements"),
    path("royalties/statements/<int:pk>/", statement_detail, name="royalty-statement"),
    path(
        "royalties/statements/<int:pk>/csv/", statement_csv_download, name="royalty-statement-csv"
    ),
    path(
        "royalties/statements/<int:pk>/pdf/", statement_pdf_download, name="royalty-statement-pdf"
    ),
    path("royalties/earnings.json", earnings_data, name="royalty-earnings-data"),
    path("finance/settlement-runs/", settlement_runs, name="settlement-runs"),
    path("finance/settlement-runs/<int:pk>/", settlement_run_detail, name="settlement-run"),
    path(
        "finance/settlement-runs/<int:pk>/progress/",
        settlement_run_progress_fragment,
        name="settlement-run-progress",
    ),
    path(
        "finance/settlement-runs/<int:pk>/start/",
        settlement_run_start_view,
        name="settlement-run-start",
    ),
]
