"""API routes of the settlement app, mounted under /api/v1/ by config.urls."""

from rest_framework.routers import SimpleRouter

from settlement import api

router = SimpleRouter()
router.register("settlement-runs", api.SettlementRunViewSet, basename="settlement-run")
router.register("statements", api.StatementViewSet, basename="statement")

urlpatterns = router.urls
