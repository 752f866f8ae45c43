from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from payments.events import stripe_event_process
from payments.models import (
    StripeConnectedAccount,
    StripeCustomer,
    StripeEvent,
    StripePayment,
    StripeRefund,
    StripeRequest,
)


# --- Stripe: read-only mirrors of Stripe's state, for staff to look into ----------------------
class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["stripe_event_id", "type", "account", "status", "attempts", "received_at"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_event_id", "account"]
    actions = ["process_again"]

    @admin.action(description="Process the selected failed or stuck events again now")
    def process_again(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        outcomes: dict[str, int] = {}
        retryable = queryset.filter(
            status__in=[StripeEvent.Status.FAILED, StripeEvent.Status.RECEIVED]
        )
        for event_pk in retryable.values_list("pk", flat=True):
            status = stripe_event_process(event_pk=event_pk).status
            outcomes[status] = outcomes.get(status, 0) + 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        self.message_user(
            request,
            f"Processed again: {summary or 'nothing to retry'}.",
            messages.WARNING if outcomes.get(StripeEvent.Status.FAILED) else messages.SUCCESS,
        )


@admin.register(StripeRequest)
class StripeRequestAdmin(ReadOnlyAdmin):
    list_display = ["idempotency_key", "operation", "status", "stripe_object_id", "attempts"]
    list_filter = ["status", "operation"]
    search_fields = ["idempotency_key", "stripe_object_id", "stripe_account"]


@admin.register(StripeConnectedAccount)
class StripeConnectedAccountAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "stripe_account_id", "status", "payouts_enabled", "synced_at"]
    list_filter = ["status"]
    search_fields = ["stripe_account_id", "organisation__name"]


class StripeRefundInline(admin.TabularInline):
    model = StripeRefund
    extra = 0
    can_delete = False
    fields = ("stripe_refund_id", "amount_minor", "currency", "status", "succeeded_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(StripePayment)
class StripePaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_charge_id",
        "organisation",
        "amount_minor",
        "amount_refunded_minor",
        "currency",
        "dispute_status",
        "stripe_created",
    ]
    list_filter = ["status", "dispute_status", "currency"]
    search_fields = ["stripe_charge_id", "stripe_payment_intent_id", "transfer_group"]
    inlines = [StripeRefundInline]


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "stripe_customer_id", "off_session_consented_at"]
    search_fields = ["stripe_customer_id", "organisation__name"]
