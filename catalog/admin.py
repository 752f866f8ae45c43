"""Platform staff's view of the catalogue. Split sheets and consent are read-only here: their
changes go through catalog.services, which checks them and records who made them."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from catalog.models import Catalogue, Consent, LicenceTerms, RightsShare, Work, WorkImport


class RightsShareInline(admin.TabularInline):
    model = RightsShare
    extra = 0
    can_delete = False
    fields = ("holder", "role", "share_bp", "confirmed_at", "confirmed_by")
    readonly_fields = ("holder", "role", "share_bp", "confirmed_at", "confirmed_by")

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    can_delete = False
    fields = ("use", "granted", "updated_at", "updated_by")
    readonly_fields = ("use", "granted", "updated_at", "updated_by")

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Catalogue)
class CatalogueAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name", "owner__name"]
    raw_id_fields = ["owner"]
    inlines = [ConsentInline]


@admin.register(Work)
class WorkAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "catalogue", "isbn13", "isrc", "iswc", "doi", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["title", "isbn13", "isrc", "iswc", "doi"]
    raw_id_fields = ["catalogue"]
    readonly_fields = ["content_sha256", "size_bytes", "created_at", "updated_at"]
    inlines = [RightsShareInline, ConsentInline]


@admin.register(LicenceTerms)
class LicenceTermsAdmin(admin.ModelAdmin):
    list_display = ["catalogue", "work", "currency", "upfront_fee_minor", "upfront_fee_basis"]
    raw_id_fields = ["catalogue", "work"]


@admin.register(WorkImport)
class WorkImportAdmin(admin.ModelAdmin):
    list_display = ["id", "catalogue", "original_name", "status", "progress_percent", "created_at"]
    list_filter = ["status", "format"]
    readonly_fields = [
        "status",
        "progress_percent",
        "rows_total",
        "rows_invalid",
        "works_created",
        "works_updated",
        "failure_reason",
        "started_at",
        "finished_at",
    ]
    raw_id_fields = ["catalogue", "created_by", "created_by_api_key"]
