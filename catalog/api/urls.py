"""API routes of this app, mounted under /api/v1/ by config.urls."""

from rest_framework.routers import SimpleRouter

from catalog.api import views

router = SimpleRouter()
router.register("catalogues", views.CatalogueViewSet, basename="catalogue")
router.register("works", views.WorkViewSet, basename="work")
router.register("consents", views.ConsentViewSet, basename="consent")
router.register("terms", views.LicenceTermsViewSet, basename="licence-terms")
router.register("imports", views.WorkImportViewSet, basename="work-import")
router.register("confirmations", views.ConfirmationViewSet, basename="confirmation")
router.register("licensable-works", views.LicensableWorkViewSet, basename="licensable-work")

urlpatterns = [*router.urls]
