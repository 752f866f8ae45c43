"""API routes of the payouts app, mounted under /api/v1/ by config.urls."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from payouts import api

router = SimpleRouter()
router.register("payouts", api.PayoutViewSet, basename="payout")
router.register("collections", api.CollectionViewSet, basename="collection")

urlpatterns = [
    path("balances/", api.BalancesView.as_view(), name="balances"),
    re_path(
        r"^payout-thresholds/(?P<currency>[A-Za-z]{3})/$",
        api.PayoutThresholdView.as_view(),
        name="payout-threshold",
    ),
    *router.urls,
]
