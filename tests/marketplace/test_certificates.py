"""Licence certificates: signed canonical JSON that verifies online and offline, fails with a
clear reason when altered or when the content is not licensed, survives key rotation."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from marketplace.agreements import agreement_terminate
from marketplace.certificates import (
    canonical_json,
    certificate_document,
    certificate_verify,
    signing_key_rotate,
)
from marketplace.models import Certificate, SigningKey
from tests.marketplace.factories import accepted_agreement, sha256_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def certified(world):
    """An active agreement (no upfront fee) and its certificate document."""
    agreement = accepted_agreement(
        world.northwind.organisation, world.shelf, terms={"upfront_fee_minor": 0}
    )
    return agreement, certificate_document(certificate=Certificate.objects.get(agreement=agreement))


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_certificate_is_canonical_signed_json_listing_every_work(certified):
    agreement, document = certified
    parsed = json.loads(document)
    assert canonical_json(parsed) == document  # sorted keys, no whitespace, UTF-8
    manifest = parsed["certificate"]
    assert manifest["agreement_id"] == agreement.pk
    assert manifest["licensee"]["name"] == "Northwind AI"
    assert manifest["licensor"]["name"] == "Harbour Press"
    assert manifest["uses"] == ["ai-train"] and manifest["territories"] == ["WORLD"]
    assert manifest["term"] == {
        "starts_on": agreement.starts_on.isoformat(),
        "ends_on": agreement.ends_on.isoformat(),
    }
    assert {w["sha256"] for w in manifest["works"]} == {
        sha256_for("salt roads text"),
        sha256_for("the quiet key text"),
    }
    assert parsed["signature"]["key_id"] == manifest["key_id"]
    assert certificate_verify(document=document).status == "valid"


def test_it_verifies_offline_with_nothing_but_the_published_key(certified, client):
    _, document = certified
    keys = client.get("/.well-known/trainright-keys.json").json()["keys"]
    parsed = json.loads(document)
    (key,) = [k for k in keys if k["kid"] == parsed["signature"]["key_id"]]
    public_key = Ed25519PublicKey.from_public_bytes(_b64(key["x"]))
    manifest_bytes = json.dumps(
        parsed["certificate"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    public_key.verify(_b64(parsed["signature"]["value"]), manifest_bytes)  # raises if invalid


def test_flipping_any_one_byte_fails_verification_with_a_reason(certified):
    _, document = certified
    reasons = set()
    for position in range(0, len(document), max(1, len(document) // 97)):
        tampered = bytearray(document)
        tampered[position] ^= 0x01
        result = certificate_verify(document=bytes(tampered))
        assert result.status in {"signature_invalid", "malformed", "unknown_key"}, position
        assert not result.valid and result.reason
        reasons.add(result.status)
    assert "signature_invalid" in reasons and "malformed" in reasons


def test_even_the_unused_bits_of_the_signature_count(certified):
    _, document = certified
    parsed = json.loads(document)
    value = parsed["signature"]["value"]
    last = value[-1]
    neighbour = chr(ord(last) ^ 0x01)  # same six-bit group but for a bit base64 ignores here
    parsed["signature"]["value"] = value[:-1] + neighbour
    assert certificate_verify(document=canonical_json(parsed)).status == "signature_invalid"


def test_an_altered_hash_is_caught_by_the_signature(certified):
    _, document = certified
    genuine = sha256_for("salt roads text")
    forged = document.replace(genuine.encode(), sha256_for("pirated text").encode())
    result = certificate_verify(document=forged, sha256=sha256_for("pirated text"))
    assert result.status == "signature_invalid"
    assert "changed after it was signed" in result.reason
    assert result.covered is None  # nothing in a forged certificate is trusted


def test_content_is_covered_only_when_its_hash_is_listed(certified):
    _, document = certified
    covered = certificate_verify(document=document, sha256=sha256_for("salt roads text"))
    assert (covered.status, covered.covered) == ("valid", True)
    assert covered.covered_works[0]["title"] == "Salt Roads"
    other = certificate_verify(document=document, sha256=sha256_for("someone else's novel"))
    assert (other.status, other.covered, other.valid) == ("not_covered", False, False)
    assert "not covered" in other.reason


def test_terminated_and_expired_licences_are_reported_as_such(certified):
    agreement, document = certified
    past_end = agreement.ends_on + timedelta(days=1)
    assert certificate_verify(document=document, today=past_end).status == "expired"
    agreement_terminate(agreement_id=agreement.pk, reason="Breach.")
    terminated = certificate_verify(document=document)
    assert terminated.status == "terminated" and "Breach." in terminated.reason


def test_a_certificate_signed_by_an_unknown_key_is_refused(certified):
    _, document = certified
    parsed = json.loads(document)
    stranger = Ed25519PrivateKey.generate()
    parsed["certificate"]["key_id"] = parsed["signature"]["key_id"] = "ed25519-0000000000000000"
    parsed["signature"]["value"] = (
        base64.urlsafe_b64encode(stranger.sign(canonical_json(parsed["certificate"])))
        .decode()
        .rstrip("=")
    )
    result = certificate_verify(document=canonical_json(parsed))
    assert result.status == "unknown_key"
    assert "trainright-keys.json" in result.reason


def test_rotated_keys_keep_old_certificates_valid_and_stay_published(world, client, certified):
    _, old_document = certified
    old_key = json.loads(old_document)["signature"]["key_id"]
    new_key = signing_key_rotate()
    assert new_key.key_id != old_key
    newer = accepted_agreement(
        world.northwind.organisation, world.shelf, terms={"upfront_fee_minor": 0}
    )
    assert newer.certificate.signing_key == new_key
    assert certificate_verify(document=old_document).status == "valid"
    published = {
        k["kid"]: k["status"]
        for k in client.get("/.well-known/trainright-keys.json").json()["keys"]
    }
    assert published == {old_key: "retired", new_key.key_id: "active"}
    assert SigningKey.objects.get(key_id=old_key).private_key_pem == ""


def test_a_key_from_the_environment_signs_and_is_never_stored(world, settings):
    private = Ed25519PrivateKey.generate()
    settings.CERTIFICATE_SIGNING_KEY = (
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
        .replace("\n", "\\n")
    )
    agreement = accepted_agreement(
        world.northwind.organisation, world.shelf, terms={"upfront_fee_minor": 0}
    )
    key = agreement.certificate.signing_key
    assert key.private_key_pem == "" and key.is_active
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert _b64(key.public_key) == raw
    document = certificate_document(certificate=agreement.certificate)
    assert certificate_verify(document=document).status == "valid"


def test_the_public_api_verifies_json_and_uploaded_files(certified, client):
    _, document = certified
    as_json = client.post(
        "/api/v1/certificates/verify/",
        {"certificate": json.loads(document), "sha256": sha256_for("the quiet key text")},
        content_type="application/json",
    )
    assert as_json.status_code == 200, as_json.content
    assert (as_json.json()["status"], as_json.json()["covered"]) == ("valid", True)

    uploaded = client.post(
        "/api/v1/certificates/verify/",
        {
            "certificate_file": SimpleUploadedFile("licence.json", document),
            "file": SimpleUploadedFile("novel.txt", b"not a licensed work"),
        },
    )
    assert uploaded.status_code == 200
    assert uploaded.json()["status"] == "not_covered"
    assert uploaded.json()["sha256"] == sha256_for("not a licensed work")

    garbage = client.post(
        "/api/v1/certificates/verify/",
        {"certificate": "{not json"},
        content_type="application/json",
    )
    assert garbage.json()["status"] == "malformed"
    missing = client.post("/api/v1/certificates/verify/", {}, content_type="application/json")
    assert missing.status_code == 400


def test_the_verify_page_says_why(certified, client):
    _, document = certified
    tampered = document.replace(b'"ai-train"', b'"ai-trains"')
    page = client.post(
        "/verify/", {"certificate_file": SimpleUploadedFile("licence.json", tampered)}
    )
    assert page.status_code == 200
    assert b"signature_invalid" in page.content
    assert b"changed after it was signed" in page.content


def test_the_management_command_verifies_and_exits_non_zero_when_invalid(certified, tmp_path):
    _, document = certified
    path = tmp_path / "licence.json"
    path.write_bytes(document)
    out = io.StringIO()
    call_command(
        "verify_certificate", str(path), "--sha256", sha256_for("salt roads text"), stdout=out
    )
    assert out.getvalue().startswith("valid:")

    content = tmp_path / "other.txt"
    content.write_bytes(b"unlicensed")
    with pytest.raises(SystemExit) as exited:
        call_command("verify_certificate", str(path), "--file", str(content), "--json", stdout=out)
    assert exited.value.code == 1
    assert '"status": "not_covered"' in out.getvalue()


def test_rotate_signing_key_command_starts_a_new_key(certified):
    before = SigningKey.objects.get(retired_at__isnull=True)
    out = io.StringIO()
    call_command("rotate_signing_key", stdout=out)
    after = SigningKey.objects.get(retired_at__isnull=True)
    assert after != before and after.key_id in out.getvalue()
