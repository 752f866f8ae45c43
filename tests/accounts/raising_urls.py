"""The real URLs plus two API views that fail unexpectedly (a plain Django view and a DRF
view), to show that even then an API client gets a problem document."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.decorators import api_view

from config.urls import handler404, handler500, urlpatterns  # noqa: F401


def _django_view_that_fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom from a plain view")


@api_view(["GET"])
def _drf_view_that_fails(request):
    raise RuntimeError("boom from an API view")


urlpatterns = [
    path("api/v1/_test/plain-failure/", _django_view_that_fails),
    path("api/v1/_test/api-failure/", _drf_view_that_fails),
    *urlpatterns,
]
