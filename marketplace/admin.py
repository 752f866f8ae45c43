"""Staff views of the marketplace. Negotiation history, agreements' snapshots and certificates
are read-only here: they change only through the services (terminating an agreement included)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.agreements import agreement_terminate
from marketplace.models import (
    Agreement,
    Certificate,
    CheckoutAttempt,
    LicenceClaim,
    Notification,
    Offer,
    OfferEvent,
    OfferVersion,
    SigningKey,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OfferVersionInline(admin.TabularInline):
    model = OfferVersion
    fields = readonly_fields = (
        "number",
        "proposed_by",
        "upfront_fee_minor",
        "currency",
        "term_months",
        "exclusive",
        "permitted_uses",
        "created_at",
    )
    extra = 0
    can_delete = False
    show_change_link = True


class OfferEventInline(admin.TabularInline):
    model = OfferEvent
    fields = readonly_fields = (
        "kind",
        "version",
        "actor_party",
        "actor_user",
        "message",
        "created_at",
    )
    extra = 0
    can_delete = False


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["id", "licensee", "licensor", "status", "latest_version", "expires_at"]
    list_filter = ["status"]
    search_fields = ["licensee__name", "licensor__name"]
    inlines = [OfferVersionInline, OfferEventInline]


@admin.register(OfferVersion)
class OfferVersionAdmin(ReadOnlyAdmin):
    list_display = ["offer", "number", "proposed_by", "upfront_fee_minor", "currency"]
    raw_id_fields = ["offer"]


class CheckoutAttemptInline(admin.TabularInline):
    model = CheckoutAttempt
    fields = readonly_fields = (
        "status",
        "amount_minor",
        "currency",
        "stripe_session_id",
        "charge_id",
        "failure_message",
        "created_at",
    )
    extra = 0
    can_delete = False


@admin.action(description="Terminate the selected agreements (releases their claims)")
def terminate_agreements(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Agreement]
) -> None:
    ended = sum(
        agreement_terminate(
            agreement_id=pk, reason=f"Terminated by platform staff ({request.user})."
        )
        for pk in queryset.values_list("pk", flat=True)
    )
    modeladmin.message_user(request, f"{ended} agreement(s) terminated.", messages.SUCCESS)


@admin.register(Agreement)
class AgreementAdmin(ReadOnlyAdmin):
    list_display = ["id", "licensee", "licensor", "status", "starts_on", "ends_on", "exclusive"]
    list_filter = ["status", "exclusive"]
    search_fields = ["licensee__name", "licensor__name"]
    inlines = [CheckoutAttemptInline]
    actions = [terminate_agreements]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing the list with its action needs "change" on the changelist, never on a row.
        return obj is None and bool(request.user.is_staff)


@admin.register(CheckoutAttempt)
class CheckoutAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "agreement", "status", "amount_minor", "currency", "created_at"]
    list_filter = ["status"]
    search_fields = ["stripe_session_id", "payment_intent_id", "charge_id"]


@admin.register(LicenceClaim)
class LicenceClaimAdmin(ReadOnlyAdmin):
    list_display = ["agreement", "work", "use", "territory", "exclusive", "released_at"]
    list_filter = ["exclusive", "use"]
    raw_id_fields = ["agreement", "work"]


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["agreement", "signing_key", "issued_at"]


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "created_at", "retired_at"]
    exclude = ["private_key_pem"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["title", "organisation", "kind", "created_at", "read_at", "emailed_at"]
    list_filter = ["kind"]
