"""API routes of this app, mounted under /api/v1/ by config.urls."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from royalties.api import finance, payouts, settlement, usage

router = SimpleRouter()
router.register("usage-reports", usage.UsageReportViewSet, basename="usage-report")
router.register("settlement-runs", settlement.SettlementRunViewSet, basename="settlement-run")
router.register("statements", settlement.StatementViewSet, basename="statement")
router.register(
    "finance/reconciliation-runs",
    finance.ReconciliationRunViewSet,
    basename="finance-reconciliation-run",
)
router.register(
    "finance/reconciliation-exceptions",
    finance.ReconciliationExceptionViewSet,
    basename="finance-reconciliation-exception",
)
router.register("payouts", payouts.PayoutViewSet, basename="payout")
router.register("collections", payouts.CollectionViewSet, basename="collection")
router.register("finance/periods", finance.AccountingPeriodViewSet, basename="finance-period")
router.register("finance/exports", finance.FinanceExportViewSet, basename="finance-export")

urlpatterns = [
    path("balances/", payouts.BalancesView.as_view(), name="balances"),
    re_path(
        r"^payout-thresholds/(?P<currency>[A-Za-z]{3})/$",
        payouts.PayoutThresholdView.as_view(),
        name="payout-threshold",
    ),
    path("finance/reports/<str:name>/", finance.FinanceReportView.as_view(), name="finance-report"),
    path(
        "agreements/<int:agreement_id>/usage-reports/",
        usage.AgreementUsageReportsView.as_view(),
        name="agreement-usage-reports",
    ),
    *router.urls,
]
