"""The catalogue API: what the creator pages do (catalogues, works with their split sheets,
consent, terms, imports, history), co-holders' confirmations, and licensee search.

Tenancy: owners' and co-holders' data comes through `visible_to` selectors (others get 404);
a co-holder who tries what only the owner may do gets 403 from the service. Licensee search
reads only `licensable_works()`: a work without consent is absent, whoever asks.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import TenantScopedGenericViewSet, TenantScopedReadOnlyViewSet
from accounts.api.filters import MAX_ID, TenantFilterSet
from accounts.api.problems import Conflict
from accounts.models import Organisation
from accounts.tenancy import Principal
from catalog import importers, selectors, services
from catalog.api import serializers as s
from catalog.models import (
    AiUse,
    Catalogue,
    Consent,
    LicenceTerms,
    RightsShare,
    Work,
    WorkImport,
)
from catalog.terms import MAX_AMOUNT_MINOR
from catalog.work_fields import IDENTIFIER_FIELDS


def _share_lines(rows: list[dict[str, Any]]) -> list[services.ShareLine]:
    """Turn API share rows into ShareLines; unknown holders are a field error, not a 404."""
    holders = Organisation.objects.in_bulk({row["holder"] for row in rows})
    missing = sorted({row["holder"] for row in rows} - set(holders))
    if missing:
        raise exceptions.ValidationError(
            {"shares": [f"No organisation with id {holder_id}." for holder_id in missing]}
        )
    return [
        services.ShareLine(
            holder=holders[row["holder"]], role=row["role"], share_bp=row["share_bp"]
        )
        for row in rows
    ]


def _owned_catalogue(principal: Principal, catalogue_id: int) -> Catalogue:
    catalogue = selectors.catalogue_owned(principal=principal, catalogue_id=catalogue_id)
    if catalogue is None:
        raise exceptions.ValidationError({"catalogue": "No such catalogue of yours."})
    return catalogue


class CatalogueViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """Catalogues your organisation lists. The RSL document of each is public (`rsl_url`)."""

    serializer_class = s.CatalogueSerializer
    filterset_fields = ["owner"]
    ordering_fields = ["name", "created_at"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Catalogue]:
        return selectors.catalogue_list(principal=principal)

    @extend_schema(request=s.CatalogueWriteSerializer, responses={201: s.CatalogueSerializer})
    def create(self, request: Request) -> Response:
        payload = s.CatalogueWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        owner_id = payload.validated_data.get("owner")
        owners = Organisation.objects.filter(
            pk__in=self.principal.organisation_ids, kind=Organisation.Kind.CREATOR
        )
        owner = owners.filter(pk=owner_id).first() if owner_id else owners.order_by("name").first()
        if owner is None:
            raise exceptions.ValidationError(
                {"owner": "Choose one of your own creator organisations."}
            )
        catalogue = services.catalogue_create(
            owner=owner,
            name=payload.validated_data["name"],
            description=payload.validated_data.get("description", ""),
            actor=self.principal,
        )
        return Response(self.get_serializer(catalogue).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CatalogueUpdateSerializer, responses={200: s.CatalogueSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        catalogue = self.get_object()
        payload = s.CatalogueUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        catalogue = services.catalogue_update(
            catalogue=catalogue, actor=self.principal, **payload.validated_data
        )
        return Response(self.get_serializer(catalogue).data)

    @extend_schema(responses={200: s.HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Every change of the catalogue's default consent: who, when, before and after."""
        entries = selectors.catalogue_consent_history(catalogue=self.get_object())
        page = self.paginate_queryset(entries)
        data = s.HistoryEntrySerializer(page, many=True).data
        return self.get_paginated_response(data)


class WorkFilter(TenantFilterSet):
    status = django_filters.ChoiceFilter(
        choices=[("pending", "Awaiting confirmation"), ("confirmed", "Sheet confirmed")],
        method="filter_status",
    )
    q = django_filters.CharFilter(method="filter_text", help_text="Words of title or metadata.")

    class Meta:
        model = Work
        fields = ["catalogue", "kind", "language", "isbn13", "isrc", "iswc", "doi"]

    def filter_status(self, queryset: QuerySet[Work], name: str, value: str) -> QuerySet[Work]:
        confirmed = selectors.split_sheet_confirmed()
        return queryset.filter(confirmed if value == "confirmed" else ~confirmed)

    def filter_text(self, queryset: QuerySet[Work], name: str, value: str) -> QuerySet[Work]:
        query = selectors.search_query_for(value)
        return queryset.filter(search_document=query) if query is not None else queryset


class WorkViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """Works your organisation lists, or holds a share in (co-holders read and confirm)."""

    serializer_class = s.WorkSerializer
    filterset_class = WorkFilter
    ordering_fields = ["title", "created_at", "updated_at"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Work]:
        return selectors.work_list(principal=principal)

    @extend_schema(request=s.WorkWriteSerializer, responses={201: s.WorkSerializer})
    def create(self, request: Request) -> Response:
        payload = s.WorkWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        catalogue = _owned_catalogue(self.principal, data.pop("catalogue"))
        shares = _share_lines(data.pop("shares"))
        identifiers = {k: data.pop(k) for k in list(data) if k in IDENTIFIER_FIELDS}
        work = services.work_create(
            catalogue=catalogue,
            shares=shares,
            identifiers=identifiers,
            actor=self.principal,
            **data,
        )
        return Response(self.get_serializer(work).data, status=status.HTTP_201_CREATED)

    def _update(self, request: Request, *, partial: bool) -> Response:
        work = self.get_object()
        payload = s.WorkUpdateSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        shares = _share_lines(data.pop("shares")) if "shares" in data else None
        identifiers = {k: data.pop(k) for k in list(data) if k in IDENTIFIER_FIELDS}
        work = services.work_update(
            work=work, actor=self.principal, fields=data, identifiers=identifiers, shares=shares
        )
        return Response(self.get_serializer(work).data)

    @extend_schema(request=s.WorkUpdateSerializer, responses={200: s.WorkSerializer})
    def update(self, request: Request, pk: str | None = None) -> Response:
        """Replace the work's description and split sheet (the owner's action)."""
        return self._update(request, partial=False)

    @extend_schema(request=s.WorkUpdateSerializer, responses={200: s.WorkSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Change some fields; `shares`, when given, replace the split sheet."""
        return self._update(request, partial=True)

    @extend_schema(
        request={"multipart/form-data": s.ContentUploadSerializer},
        responses={200: s.WorkSerializer},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def content(self, request: Request, pk: str | None = None) -> Response:
        """Upload the work's content: stored while its SHA-256 and size are computed."""
        work = self.get_object()
        payload = s.ContentUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        work = services.work_content_attach(
            work=work, upload=payload.validated_data["file"], actor=self.principal
        )
        return Response(self.get_serializer(work).data)

    @extend_schema(responses={200: s.HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Every consent and split change of the work: who, when, before and after."""
        entries = selectors.work_history(work=self.get_object())
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(s.HistoryEntrySerializer(page, many=True).data)


class ConsentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedGenericViewSet,
):
    """Opt-in consent rows: a catalogue's defaults and works' own choices. POST sets (creates
    or changes) one; DELETE makes a work follow its catalogue again."""

    serializer_class = s.ConsentSerializer
    filterset_fields = ["catalogue", "work", "use", "granted"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[Consent]:
        return Consent.objects.visible_to(principal).order_by("id")

    @extend_schema(request=s.ConsentWriteSerializer, responses={200: s.ConsentSerializer})
    def create(self, request: Request) -> Response:
        payload = s.ConsentWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        use, granted = data["use"], data["granted"]
        if data.get("work") is not None:
            work = selectors.work_list(principal=self.principal).filter(pk=data["work"]).first()
            if work is None:
                raise exceptions.ValidationError({"work": "No such work of yours."})
            services.work_consent_set(work=work, consents={use: granted}, actor=self.principal)
            consent = Consent.objects.get(work=work, use=use)
        else:
            catalogue = _owned_catalogue(self.principal, data["catalogue"])
            services.catalogue_consent_set(
                catalogue=catalogue, consents={use: granted}, actor=self.principal
            )
            consent = Consent.objects.get(catalogue=catalogue, use=use)
        return Response(self.get_serializer(consent).data)

    @extend_schema(request=s.ConsentUpdateSerializer, responses={200: s.ConsentSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        consent = self.get_object()
        payload = s.ConsentUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        granted = payload.validated_data["granted"]
        if consent.work_id is not None:
            services.work_consent_set(
                work=consent.work,
                consents={consent.use: granted},
                actor=self.principal,
            )
        else:
            services.catalogue_consent_set(
                catalogue=consent.catalogue,
                consents={consent.use: granted},
                actor=self.principal,
            )
        return Response(self.get_serializer(Consent.objects.get(pk=consent.pk)).data)

    def perform_destroy(self, instance: Consent) -> None:
        services.consent_delete(consent=instance, actor=self.principal)


class LicenceTermsViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedGenericViewSet,
):
    """The price list: a catalogue's default terms and per-work overrides. POST sets them
    (fields not given keep their value); DELETE of an override falls back to the default."""

    serializer_class = s.LicenceTermsSerializer
    filterset_fields = ["catalogue", "work", "currency"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[LicenceTerms]:
        return LicenceTerms.objects.visible_to(principal).order_by("id")

    def _set(self, values: dict[str, Any], *, catalogue: Catalogue, work: Work | None) -> Any:
        return services.licence_terms_set(
            catalogue=catalogue, work=work, values=values, actor=self.principal
        )

    @extend_schema(request=s.LicenceTermsWriteSerializer, responses={200: s.LicenceTermsSerializer})
    def create(self, request: Request) -> Response:
        payload = s.LicenceTermsWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        values = dict(payload.validated_data)
        work_id, catalogue_id = values.pop("work", None), values.pop("catalogue", None)
        work = None
        if work_id is not None:
            work = (
                selectors.work_list(principal=self.principal)
                .filter(pk=work_id, catalogue__owner_id__in=self.principal.organisation_ids)
                .first()
            )
            if work is None:
                raise exceptions.ValidationError({"work": "No such work of yours."})
            catalogue = work.catalogue
        elif catalogue_id is not None:
            catalogue = _owned_catalogue(self.principal, catalogue_id)
        else:
            raise exceptions.ValidationError({"catalogue": "Give a catalogue or a work."})
        return Response(self.get_serializer(self._set(values, catalogue=catalogue, work=work)).data)

    @extend_schema(request=s.LicenceTermsWriteSerializer, responses={200: s.LicenceTermsSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        terms = self.get_object()
        payload = s.LicenceTermsWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        values = dict(payload.validated_data)
        values.pop("work", None)
        values.pop("catalogue", None)
        updated = self._set(values, catalogue=terms.catalogue, work=terms.work)
        return Response(self.get_serializer(updated).data)

    def perform_destroy(self, instance: LicenceTerms) -> None:
        services.licence_terms_delete(terms=instance, actor=self.principal)


class WorkImportViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TenantScopedGenericViewSet,
):
    """Bulk imports (CSV or JSON Lines): upload, then follow `status` and `progress` (0-100)
    while a Celery task runs it; `problems` lists every bad row."""

    serializer_class = s.WorkImportSerializer
    filterset_fields = ["catalogue", "status"]
    parser_classes = [MultiPartParser, FormParser]

    def scoped_queryset(self, principal: Principal) -> QuerySet[WorkImport]:
        return selectors.work_import_list(principal=principal)

    @extend_schema(
        request={"multipart/form-data": s.WorkImportCreateSerializer},
        responses={201: s.WorkImportSerializer},
    )
    def create(self, request: Request) -> Response:
        payload = s.WorkImportCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        work_import = importers.work_import_create(
            catalogue=_owned_catalogue(self.principal, data["catalogue"]),
            upload=data["file"],
            file_format=data.get("format"),
            import_valid_rows=data.get("import_valid_rows", False),
            actor=self.principal,
        )
        return Response(self.get_serializer(work_import).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.WorkImportProblemSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def problems(self, request: Request, pk: str | None = None) -> Response:
        """Every bad row: row number, column and reason."""
        problems = selectors.work_import_problems(work_import=self.get_object())
        page = self.paginate_queryset(problems)
        return self.get_paginated_response(s.WorkImportProblemSerializer(page, many=True).data)


class ConfirmationViewSet(TenantScopedReadOnlyViewSet):
    """Split-sheet lines your organisation holds. A co-holder confirms its lines of a work's
    current sheet before the work can be licensed; any change to the sheet asks again."""

    serializer_class = s.ConfirmationSerializer
    filterset_fields = ["work", "holder", "role"]

    def scoped_queryset(self, principal: Principal) -> QuerySet[RightsShare]:
        return (
            RightsShare.objects.visible_to(principal)
            .filter(holder_id__in=principal.organisation_ids)
            .select_related("work", "work__catalogue", "work__catalogue__owner", "holder")
            .order_by("confirmed_at", "work__title", "id")
        )

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        confirmed = self.request.query_params.get("confirmed")
        if confirmed in {"true", "false"}:
            queryset = queryset.filter(confirmed_at__isnull=confirmed == "false")
        return super().filter_queryset(queryset)

    @extend_schema(
        parameters=[
            OpenApiParameter("confirmed", bool, description="Only confirmed, or only awaiting.")
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.ConfirmSerializer, responses={200: s.ConfirmationSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """Confirm your lines of this work's current split sheet."""
        share = self.get_object()
        payload = s.ConfirmSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.work_shares_confirm(
                work=share.work,
                holder=share.holder,
                actor=self.principal,
                fingerprint=payload.validated_data.get("sheet_fingerprint") or None,
            )
        except services.SheetChanged as changed:
            raise Conflict(
                str(changed),
                current={
                    "sheet_fingerprint": services.split_sheet_fingerprint(work=share.work),
                    "shares": s.ShareSerializer(
                        selectors.split_sheet(work=share.work), many=True
                    ).data,
                },
            ) from changed
        share = get_object_or_404(self.get_queryset(), pk=share.pk)
        return Response(self.get_serializer(share).data)


class LicensableWorkFilter(TenantFilterSet):
    q = django_filters.CharFilter(help_text="Words of the title or metadata (prefixes match).")
    kind = django_filters.ChoiceFilter(choices=Work.Kind.choices)
    language = django_filters.CharFilter(help_text="BCP 47 tag or its primary language, e.g. en.")
    use = django_filters.ChoiceFilter(choices=AiUse.choices, help_text="Consented for this use.")
    currency = django_filters.CharFilter()
    fee_min_minor = django_filters.NumberFilter(
        min_value=0, max_value=MAX_AMOUNT_MINOR, help_text="Effective upfront fee ≥, minor units."
    )
    fee_max_minor = django_filters.NumberFilter(
        min_value=0, max_value=MAX_AMOUNT_MINOR, help_text="Effective upfront fee ≤, minor units."
    )
    catalogue = django_filters.NumberFilter(min_value=1, max_value=MAX_ID)
    owner = django_filters.NumberFilter(
        min_value=1, max_value=MAX_ID, help_text="Organisation id of the catalogue owner."
    )
    sort = django_filters.ChoiceFilter(choices=[(k, k) for k in selectors.SORTS])

    class Meta:
        model = Work
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Work]) -> QuerySet[Work]:
        data = self.form.cleaned_data
        fee_min, fee_max = data.get("fee_min_minor"), data.get("fee_max_minor")
        return selectors.licensable_work_search(
            text=data.get("q") or "",
            kind=data.get("kind") or "",
            language=data.get("language") or "",
            use=data.get("use") or "",
            currency=data.get("currency") or "",
            fee_min_minor=int(fee_min) if fee_min is not None else None,
            fee_max_minor=int(fee_max) if fee_max is not None else None,
            catalogue_id=int(data["catalogue"]) if data.get("catalogue") is not None else None,
            owner_id=int(data["owner"]) if data.get("owner") is not None else None,
            sort=data.get("sort") or "",
        )


class LicensableWorkViewSet(TenantScopedReadOnlyViewSet):
    """Search for licensees: works with consent for at least one AI use and a confirmed split
    sheet, with what they permit and their listed terms. Nothing else is ever shown."""

    serializer_class = s.LicensableWorkSerializer
    filterset_class = LicensableWorkFilter
    ordering_fields: list[str] = []

    def scoped_queryset(self, principal: Principal) -> QuerySet[Work]:
        return selectors.licensable_works().select_related("catalogue", "catalogue__owner")

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        page = getattr(self, "_page_works", None)
        if page:
            context["consents"] = selectors.effective_consents_for(works=page)
            context["terms"] = selectors.effective_terms_for(works=page)
        return context

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        self._page_works = list(page) if page is not None else None
        return page
