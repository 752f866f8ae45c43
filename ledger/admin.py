"""Read-only admin for the ledger: the books change only through ledger.services services
(PostgreSQL rejects edits and deletions of entries and legs anyway)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ledger.models import AccountingPeriod, JournalEntry, JournalLeg, LedgerAccount


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "code", "kind", "organisation", "currency", "subledger_key", "created_at"]
    list_filter = ["code", "kind", "currency"]
    search_fields = ["organisation__name", "subledger_key"]
    list_select_related = ["organisation"]


class JournalLegInline(admin.TabularInline):
    model = JournalLeg
    fields = ("account", "amount_minor", "currency", "memo")
    readonly_fields = ("account", "amount_minor", "currency", "memo")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "effective_date", "kind", "currency", "reference", "posted_at"]
    list_filter = ["kind", "currency", "effective_date"]
    search_fields = ["reference", "idempotency_key", "stripe_object_id", "memo"]
    date_hierarchy = "effective_date"
    inlines = [JournalLegInline]


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(ReadOnlyAdmin):
    list_display = ["label", "status", "closed_at", "closed_by", "reopened_at", "reopened_by"]
    list_filter = ["status"]
