"""API routes of this app, mounted under /api/v1/ by config.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from marketplace.api import views

router = SimpleRouter()
router.register("offers", views.OfferViewSet, basename="offer")
router.register("agreements", views.AgreementViewSet, basename="agreement")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path(
        "certificates/verify/",
        views.CertificateVerifyView.as_view(),
        name="certificate-verify",
    ),
    path("certificates/keys/", views.SigningKeysView.as_view(), name="certificate-keys"),
    *router.urls,
]
