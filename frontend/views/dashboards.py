"""The landing page and one dashboard per persona; later capabilities fill them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.selectors import persona_for
from accounts.tenancy import principal_for_request

DASHBOARD_FOR_PERSONA = {
    "creator": "frontend:creator-dashboard",
    "developer": "frontend:developer-dashboard",
    "finance": "frontend:finance-dashboard",
}


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "frontend/landing.html")
    persona = persona_for(principal=principal_for_request(request))
    return redirect(DASHBOARD_FOR_PERSONA.get(persona, "frontend:creator-dashboard"))


@login_required
def creator_dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/dashboards/creator.html")


@login_required
def developer_dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/dashboards/developer.html")


@login_required
def finance_dashboard(request: HttpRequest) -> HttpResponse:
    principal = principal_for_request(request)
    if persona_for(principal=principal) != "finance":
        return render(request, "frontend/403.html", status=403)
    return render(request, "frontend/dashboards/finance.html")
