"""The organisation's audit log, for its owners and admins."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from accounts.selectors import audit_event_list
from accounts.tenancy import principal_for_request


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    events = audit_event_list(principal=principal_for_request(request))
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "frontend/account/audit.html", {"page": page})


urlpatterns = [path("account/audit/", audit_log, name="audit-log")]
