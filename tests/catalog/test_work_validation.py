"""One work validator: a hostile value gets the same field error from the service, the API
(problem details, 400) and the CSV importer (the row named, nothing imported)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from catalog.forms import WorkForm
from catalog.importers import work_import_run
from catalog.models import Work, WorkImport
from catalog.services import ShareLine, work_create
from catalog.work_fields import (
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    NUL_MESSAGE,
    metadata_clean,
    metadata_from_text,
    size_bytes_clean,
)
from tests.catalog.factories import CatalogueFactory, acting_for, isbn13

pytestmark = pytest.mark.django_db


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


HOSTILE = [
    pytest.param("title", "Bad\x00title", NUL_MESSAGE, id="nul-title"),
    pytest.param("language", "en\x00", NUL_MESSAGE, id="nul-language"),
    pytest.param("metadata", {"a\x00": 1}, NUL_MESSAGE, id="nul-metadata-key"),
    pytest.param("metadata", {"a": ["x\x00"]}, NUL_MESSAGE, id="nul-metadata-value"),
    pytest.param(
        "metadata",
        _nested(MAX_METADATA_DEPTH + 1),
        f"Metadata is nested at most {MAX_METADATA_DEPTH} levels deep.",
        id="deep-metadata",
    ),
    pytest.param(
        "metadata",
        {f"k{n}": n for n in range(1_001)},
        "Metadata has at most 1,000 keys.",
        id="many-keys",
    ),
    pytest.param(
        "metadata",
        {"blob": "x" * MAX_METADATA_BYTES},
        "Metadata is at most 64 KiB of JSON.",
        id="big-metadata",
    ),
    pytest.param(
        "size_bytes", 2**63, "The size is at most 9,223,372,036,854,775,807 bytes.", id="huge-size"
    ),
    pytest.param("size_bytes", -1, "The size is a whole number of bytes, 0 or more.", id="neg"),
]


@pytest.fixture
def owner(creator):
    creator.organisation.slug = "harbour-press"
    creator.organisation.save(update_fields=["slug"])
    return creator


def _fields(field, value, n=1):
    fields = {"title": f"Work {n}", "kind": "book", "isbn13": isbn13(n)}
    fields[field] = value
    return fields


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE)
def test_the_service_refuses(owner, field, value, message):
    catalogue = CatalogueFactory(owner=owner.organisation)
    fields = _fields(field, value)
    identifiers = {"isbn13": fields.pop("isbn13")}
    with pytest.raises(ValidationError) as refused:
        work_create(
            catalogue=catalogue,
            shares=[ShareLine(owner.organisation, "publisher", 10_000)],
            identifiers=identifiers,
            actor=acting_for(owner.organisation),
            **fields,
        )
    assert refused.value.message_dict == {field: [message]}
    assert not Work.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE)
def test_the_api_refuses(owner, field, value, message):
    catalogue = CatalogueFactory(owner=owner.organisation)
    body = {
        "catalogue": catalogue.pk,
        **_fields(field, value),
        "shares": [{"holder": owner.organisation.pk, "role": "publisher", "share_bp": 10_000}],
    }
    response = owner.api().post("/api/v1/works/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {field: [message]}
    assert not Work.objects.exists()


def _csv_cell(value) -> str:
    text = json.dumps(value) if isinstance(value, dict) else str(value)
    return '"' + text.replace('"', '""') + '"'


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE)
def test_the_csv_importer_refuses(owner, field, value, message, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    catalogue = CatalogueFactory(owner=owner.organisation)
    good = _fields("title", "Fine")
    bad = _fields(field, value, n=2)
    columns = ["title", "kind", "language", "isbn13", "size_bytes", "metadata", "shares"]
    lines = [",".join(columns)]
    for row in (good, bad):
        row = {"shares": "harbour-press:publisher:10000", **row}
        lines.append(",".join(_csv_cell(row.get(c, "")) for c in columns))
    work_import = WorkImport(catalogue=catalogue, format="csv")
    work_import.file.save("works.csv", ContentFile("\n".join(lines).encode()), save=False)
    work_import.save()
    result = work_import_run(import_id=work_import.pk)
    assert result.status == WorkImport.Status.REJECTED
    assert list(result.problems.values_list("row_number", "column", "reason")) == [
        (3, field, message)
    ]
    assert not Work.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE[:2])
def test_the_web_form_refuses(field, value, message):
    form = WorkForm({**_fields(field, value), "metadata": "{}"})
    assert not form.is_valid()
    assert form.errors[field] == [message]


def test_metadata_text_is_bounded_before_it_is_parsed():
    with pytest.raises(ValueError, match="nested at most 32"):
        metadata_from_text("[" * 30_000 + "]" * 30_000)  # under 64 KiB, far too deep
    with pytest.raises(ValueError, match="64 KiB"):
        metadata_from_text('{"a": "' + "x" * MAX_METADATA_BYTES + '"}')
    with pytest.raises(ValueError, match="Not valid JSON"):
        metadata_from_text('{"a": NaN}')
    with pytest.raises(ValueError, match="finite"):
        metadata_clean({"a": float("inf")})
    assert metadata_from_text('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_a_csv_size_is_digits_and_a_json_size_a_number():
    assert size_bytes_clean(" 12 ", from_text=True) == 12
    assert size_bytes_clean("", from_text=True) is None
    for bad in ("12", True, 1.5):
        with pytest.raises(ValueError):
            size_bytes_clean(bad)
