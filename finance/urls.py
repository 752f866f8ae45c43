"""API routes of the finance app, mounted under /api/v1/ by config.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from finance import api

router = SimpleRouter()
router.register(
    "finance/reconciliation-runs",
    api.ReconciliationRunViewSet,
    basename="finance-reconciliation-run",
)
router.register(
    "finance/reconciliation-exceptions",
    api.ReconciliationExceptionViewSet,
    basename="finance-reconciliation-exception",
)
router.register("finance/periods", api.AccountingPeriodViewSet, basename="finance-period")
router.register("finance/exports", api.FinanceExportViewSet, basename="finance-export")

urlpatterns = [
    path("finance/reports/<str:name>/", api.FinanceReportView.as_view(), name="finance-report"),
    *router.urls,
]
