"""Licence certificates: an active agreement as a signed, machine-readable manifest that anyone
can verify offline with the platform's published public key.

The manifest is canonical JSON (sorted keys, no whitespace, UTF-8, integers and strings only)
signed with Ed25519. The document handed out is itself canonical JSON:

    {"certificate":{...manifest...},"signature":{"alg":"Ed25519","key_id":"...","value":"..."}}

with the signature in base64url (no padding) over the manifest's canonical bytes. Public keys,
retired ones included, are published at /.well-known/trainright-keys.json; every certificate
names the key that signed it, so keys can be rotated without invalidating older certificates.

Where the private key lives: `settings.CERTIFICATE_SIGNING_KEY` (an Ed25519 private key in
PEM, from the environment) when set; production sets it, and rotating means deploying a new
PEM (the next signature, or `manage.py rotate_signing_key`, registers it and retires the old
one). When it is empty (development, tests) keys are generated and kept in the database by
`signing_key_rotate`; a retired key's private half is erased.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from core import clock
from marketplace.models import Agreement, AgreementWork, Certificate, SigningKey

CERTIFICATE_TYPE = "trainright.licence-certificate"
CERTIFICATE_FORMAT_VERSION = 1
ALGORITHM = "Ed25519"
KEYS_PATH = "/.well-known/trainright-keys.json"
_KEY_LOCK = (0x4B45, 1)  # advisory lock serialising key registration ("KE")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ASCII-escaped): one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict: only the canonical spelling decodes, so no altered character (not even one of
    the last character's unused bits) can leave the bytes unchanged."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """A key's id is a fingerprint of its public half, so it can never name another key."""
    return "ed25519-" + hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


# --- Signing keys --------------------------------------------------------------------------
def _configured_private_key() -> Ed25519PrivateKey | None:
    pem = settings.CERTIFICATE_SIGNING_KEY.strip().replace("\\n", "\n")
    if not pem:
        return None
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("CERTIFICATE_SIGNING_KEY must be an Ed25519 private key.")
    return key


def _private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _register(private_key: Ed25519PrivateKey, *, keep_private: bool) -> SigningKey:
    """Make this key the active one, retiring (and erasing the private half of) the others."""
    public_key = private_key.public_key()
    key_id = key_id_for(public_key)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(_KEY_LOCK))
        current = SigningKey.objects.filter(key_id=key_id).first()
        if current is not None and current.is_active:
            return current
        now = clock.now()
        SigningKey.objects.filter(retired_at__isnull=True).update(
            retired_at=now, private_key_pem=""
        )
        if current is not None:  # a retired key brought back by the deployment
            current.retired_at = None
            current.save(update_fields=["retired_at"])
            return current
        return SigningKey.objects.create(
            key_id=key_id,
            public_key=_b64url(_raw_public(public_key)),
            private_key_pem=_private_pem(private_key) if keep_private else "",
        )


def signing_key_rotate() -> SigningKey:
    """Start signing with a new key; earlier keys stay published (retired) so certificates
    they signed still verify. With CERTIFICATE_SIGNING_KEY set, the new key is that one."""
    configured = _configured_private_key()
    if configured is not None:
        return _register(configured, keep_private=False)
    return _register(Ed25519PrivateKey.generate(), keep_private=True)


def signing_key_current() -> tuple[SigningKey, Ed25519PrivateKey]:
    configured = _configured_private_key()
    if configured is not None:
        return _register(configured, keep_private=False), configured
    active = SigningKey.objects.filter(retired_at__isnull=True).first()
    if active is None or not active.private_key_pem:
        active = signing_key_rotate()
    key = serialization.load_pem_private_key(active.private_key_pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return active, key


def published_keys() -> dict[str, Any]:
    """The public keys anyone verifies certificates with (JWK-style entries, newest first)."""
    return {
        "issuer": "TrainRight",
        "algorithm": ALGORITHM,
        "certificate_type": CERTIFICATE_TYPE,
        "keys": [
            {
                "key_id": key.key_id,
                "kid": key.key_id,
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "x": key.public_key,
                "status": "active" if key.is_active else "retired",
                "created_at": key.created_at.isoformat(),
                "retired_at": key.retired_at.isoformat() if key.retired_at else None,
            }
            for key in SigningKey.objects.order_by("-created_at", "-id")
        ],
    }


# --- Issuing -------------------------------------------------------------------------------
def certificate_manifest(*, agreement: Agreement, key_id: str, issued_at: str) -> dict[str, Any]:
    works = [
        {"id": work_id, "title": title, "sha256": sha256, "identifiers": identifiers}
        for work_id, title, sha256, identifiers in AgreementWork.objects.filter(agreement=agreement)
        .order_by("work_id")
        .values_list("work_id", "title", "content_sha256", "identifiers")
        .iterator(chunk_size=5000)
    ]
    return {
        "type": CERTIFICATE_TYPE,
        "format_version": CERTIFICATE_FORMAT_VERSION,
        "issuer": "TrainRight",
        "key_id": key_id,
        "issued_at": issued_at,
        "agreement_id": agreement.pk,
        "licensee": {"id": agreement.licensee_id, "name": agreement.licensee.name},
        "licensor": {"id": agreement.licensor_id, "name": agreement.licensor.name},
        "uses": sorted(agreement.permitted_uses),
        "territories": sorted(agreement.territories),
        "exclusive": agreement.exclusive,
        "term": {
            "starts_on": agreement.starts_on.isoformat(),
            "ends_on": agreement.ends_on.isoformat(),
        },
        "work_count": len(works),
        "works": works,
        "verify_at": settings.SITE_URL.rstrip("/") + "/verify/",
        "keys_at": settings.SITE_URL.rstrip("/") + KEYS_PATH,
    }


def certificate_issue(*, agreement: Agreement) -> Certificate:
    """Sign the agreement's certificate (once: an existing certificate is returned)."""
    existing = Certificate.objects.filter(agreement=agreement).first()
    if existing is not None:
        return existing
    key, private_key = signing_key_current()
    issued_at = clock.now().replace(microsecond=0)
    manifest = canonical_json(
        certificate_manifest(
            agreement=agreement, key_id=key.key_id, issued_at=issued_at.isoformat()
        )
    )
    return Certificate.objects.create(
        agreement=agreement,
        signing_key=key,
        manifest=manifest.decode(),
        signature=_b64url(private_key.sign(manifest)),
        issued_at=issued_at,
    )


def certificate_document(*, certificate: Certificate) -> bytes:
    """The certificate as handed out: canonical JSON, no trailing newline, so that every byte
    counts."""
    signature = {
        "alg": ALGORITHM,
        "key_id": certificate.signing_key.key_id,
        "value": certificate.signature,
    }
    return (
        b'{"certificate":'
        + certificate.manifest.encode()
        + b',"signature":'
        + canonical_json(signature)
        + b"}"
    )


# --- Verifying -----------------------------------------------------------------------------
class Status:
    VALID = "valid"
    NOT_COVERED = "not_covered"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    SIGNATURE_INVALID = "signature_invalid"
    UNKNOWN_KEY = "unknown_key"
    MALFORMED = "malformed"

    ALL = (VALID, NOT_COVERED, EXPIRED, TERMINATED, SIGNATURE_INVALID, UNKNOWN_KEY, MALFORMED)


@dataclass
class Verification:
    """What a certificate proves. `status` is `valid` only when the signature is ours, the
    licence is in force today and (when content was given) the content is listed."""

    status: str
    reason: str
    key_id: str = ""
    agreement_id: int | None = None
    licensee: str = ""
    licensor: str = ""
    uses: list[str] = field(default_factory=list)
    territories: list[str] = field(default_factory=list)
    starts_on: str = ""
    ends_on: str = ""
    work_count: int = 0
    sha256: str = ""
    covered: bool | None = None
    covered_works: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.status == Status.VALID

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "valid": self.valid}


class _Malformed(ValueError):
    pass


def sha256_of(stream: IO[bytes]) -> str:
    """SHA-256 of a file, read in chunks (bounded memory whatever its size)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _parse(document: bytes | str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        text = document.decode("utf-8") if isinstance(document, bytes) else document
    except UnicodeDecodeError as error:
        raise _Malformed(f"The certificate is not UTF-8 text (byte {error.start}).") from None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Malformed(
            f"The certificate is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}."
        ) from None
    if not isinstance(parsed, dict) or set(parsed) != {"certificate", "signature"}:
        raise _Malformed('A certificate has exactly two members: "certificate" and "signature".')
    manifest, signature = parsed["certificate"], parsed["signature"]
    if not isinstance(manifest, dict) or not isinstance(signature, dict):
        raise _Malformed('"certificate" and "signature" must be JSON objects.')
    if manifest.get("type") != CERTIFICATE_TYPE:
        raise _Malformed(
            f'This is not a TrainRight licence certificate ("type" is not "{CERTIFICATE_TYPE}").'
        )
    if signature.get("alg") != ALGORITHM or not isinstance(signature.get("value"), str):
        raise _Malformed(f'The signature must be {ALGORITHM} with a base64url "value".')
    if not isinstance(signature.get("key_id"), str):
        raise _Malformed('The signature does not name its key ("key_id").')
    return manifest, signature


def _describe(manifest: dict[str, Any]) -> dict[str, Any]:
    """The licence the (authentic) manifest describes; malformed when its fields are not."""
    try:
        term = manifest["term"]
        details = {
            "agreement_id": int(manifest["agreement_id"]),
            "licensee": str(manifest["licensee"]["name"]),
            "licensor": str(manifest["licensor"]["name"]),
            "uses": [str(use) for use in manifest["uses"]],
            "territories": [str(code) for code in manifest["territories"]],
            "starts_on": date.fromisoformat(term["starts_on"]).isoformat(),
            "ends_on": date.fromisoformat(term["ends_on"]).isoformat(),
            "work_count": len(manifest["works"]),
        }
        for work in manifest["works"]:
            int(work["id"]), str(work["sha256"])
    except (KeyError, TypeError, ValueError) as error:
        raise _Malformed(f"The certificate's contents are incomplete ({error!r}).") from None
    return details


def certificate_verify(
    *, document: bytes | str, sha256: str = "", today: date | None = None
) -> Verification:
    """Check a certificate: our signature, by a key we published; the licence still in force;
    and, given the SHA-256 of some content, whether that content is among the licensed works."""
    today = today or clock.today()
    content_hash = sha256.strip().lower()
    if content_hash and not _SHA256.match(content_hash):
        return Verification(Status.MALFORMED, "The SHA-256 must be 64 hexadecimal characters.")
    try:
        manifest, signature = _parse(document)
    except _Malformed as error:
        return Verification(Status.MALFORMED, str(error), sha256=content_hash)
    key_id = signature["key_id"]
    key = SigningKey.objects.filter(key_id=key_id).first()
    if key is None:
        return Verification(
            Status.UNKNOWN_KEY,
            f"Key {key_id!r} is not one of TrainRight's signing keys (they are listed at "
            f"{KEYS_PATH}).",
            key_id=key_id,
            sha256=content_hash,
        )
    try:
        public_key = Ed25519PublicKey.from_public_bytes(_b64url_decode(key.public_key))
        public_key.verify(_b64url_decode(signature["value"]), canonical_json(manifest))
        if manifest.get("key_id") != key_id:
            raise InvalidSignature
    except (InvalidSignature, ValueError):
        return Verification(
            Status.SIGNATURE_INVALID,
            "The signature does not match the certificate's contents: the certificate was "
            "changed after it was signed, or was not signed by TrainRight.",
            key_id=key_id,
            sha256=content_hash,
        )
    try:
        details = _describe(manifest)
    except _Malformed as error:
        return Verification(Status.MALFORMED, str(error), key_id=key_id, sha256=content_hash)
    verification = Verification(Status.VALID, "", key_id=key_id, sha256=content_hash, **details)
    if content_hash:
        verification.covered_works = [
            {"id": work["id"], "title": work.get("title", "")}
            for work in manifest["works"]
            if work["sha256"] == content_hash
        ]
        verification.covered = bool(verification.covered_works)
    verification.status, verification.reason = _standing(verification, today=today)
    return verification


def _standing(verification: Verification, *, today: date) -> tuple[str, str]:
    assert verification.agreement_id is not None
    agreement = (
        Agreement.objects.filter(pk=verification.agreement_id)
        .values("status", "ended_at", "termination_reason")
        .first()
    )
    if agreement and agreement["status"] == Agreement.Status.TERMINATED:
        when = f" on {agreement['ended_at']:%d %b %Y}" if agreement["ended_at"] else ""
        why = f": {agreement['termination_reason']}" if agreement["termination_reason"] else ""
        return (
            Status.TERMINATED,
            f"Agreement {verification.agreement_id} was terminated{when}{why}.",
        )
    ends_on = date.fromisoformat(verification.ends_on)
    if (agreement and agreement["status"] == Agreement.Status.EXPIRED) or ends_on < today:
        return Status.EXPIRED, f"The licence term ended on {ends_on:%d %b %Y}."
    if verification.covered is False:
        return (
            Status.NOT_COVERED,
            f"The certificate is genuine, but no licensed work has SHA-256 "
            f"{verification.sha256}: that content is not covered by this licence.",
        )
    covered = (
        f" The content is licensed work {verification.covered_works[0]['id']}."
        if verification.covered
        else ""
    )
    return (
        Status.VALID,
        f"Genuine and in force: agreement {verification.agreement_id}, "
        f"{verification.licensor} to {verification.licensee}, until {ends_on:%d %b %Y}.{covered}",
    )
