"""API routes of the usage app, mounted under /api/v1/ by config.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from usage import api

router = SimpleRouter()
router.register("usage-reports", api.UsageReportViewSet, basename="usage-report")

urlpatterns = [
    path(
        "agreements/<int:agreement_id>/usage-reports/",
        api.AgreementUsageReportsView.as_view(),
        name="agreement-usage-reports",
    ),
    *router.urls,
]
