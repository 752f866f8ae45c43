"""The sandbox clock's banner form: move the platform's clock forward (not in production)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core import clock
from core.services import PRODUCTION_REFUSAL, SandboxClockError
from frontend.context_processors import sandbox_clock_mover
from sandbox.services import MAX_ADVANCE_DAYS, sandbox_clock_advance, sandbox_clock_target


class SandboxClockForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=MAX_ADVANCE_DAYS, required=False)
    to = forms.DateField(required=False, label="Move to date")
    next = forms.CharField(required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if (data.get("days") is None) == (data.get("to") is None):
            raise forms.ValidationError("Give either a number of days or a date.")
        to = data.get("to")
        if isinstance(to, dt.date) and to <= clock.today():
            self.add_error("to", f"Choose a date after today ({clock.today():%d %b %Y}).")
        return data


@login_required
@require_POST
def sandbox_clock_move_view(request: HttpRequest) -> HttpResponse:
    if not clock.sandbox_enabled():
        return render(request, "frontend/403.html", {"reason": PRODUCTION_REFUSAL}, status=403)
    if not sandbox_clock_mover(request.user):
        return render(
            request,
            "frontend/403.html",
            {"reason": "Only an organisation's owner or platform finance can move the clock."},
            status=403,
        )
    form = SandboxClockForm(request.POST)
    back = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(str(message) for message in error))
        return redirect(back)
    try:
        target = sandbox_clock_target(days=form.cleaned_data["days"], to=form.cleaned_data["to"])
        result = sandbox_clock_advance(to=target, actor=str(getattr(request.user, "email", "")))
    except SandboxClockError as error:
        messages.error(request, error.message)
        return redirect(back)
    failed = f" {len(result.failures)} job(s) failed: see the logs." if result.failures else ""
    messages.success(
        request,
        f"The clock moved to {result.now:%d %b %Y %H:%M} UTC "
        f"({result.days_crossed} midnight(s) crossed, {result.jobs_run} periodic job(s) run)."
        + failed,
    )
    return redirect(back)


urlpatterns = [path("sandbox/clock/", sandbox_clock_move_view, name="sandbox-clock-move")]
