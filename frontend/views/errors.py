"""Error pages: problem+json for API paths, HTML for people."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.api.problems import api_not_found, api_server_error


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request, exception)
    return render(request, "frontend/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return api_server_error(request)
    return render(request, "frontend/500.html", status=500)
