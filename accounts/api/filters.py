"""List filters that never reveal another organisation's objects. Django-filter's default for
a foreign key checks the id against every row in the table, so a real foreign id answered 200
with an empty list and a made-up one 400: a probe for what exists. Here a foreign key is
filtered by its id as a number, so both answer the same (200, nothing the caller may see);
the list itself is already scoped to the caller's organisations."""

from __future__ import annotations

from typing import Any

from django.db import models
from django_filters import rest_framework as filters
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS

MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger id is refused as a field error, not a 500


def _by_id(field: models.Field[Any, Any]) -> dict[str, Any]:
    return {"min_value": 1, "max_value": MAX_ID, "help_text": f"Id of the {field.verbose_name}."}


_BY_ID = {"filter_class": filters.NumberFilter, "extra": _by_id}


class TenantFilterSet(filters.FilterSet):
    """The base of every API filter set: foreign keys filter by id (see the module)."""

    FILTER_DEFAULTS = {
        **FILTER_FOR_DBFIELD_DEFAULTS,
        models.ForeignKey: _BY_ID,
        models.OneToOneField: _BY_ID,
    }


class TenantFilterBackend(filters.DjangoFilterBackend):
    filterset_base = TenantFilterSet
