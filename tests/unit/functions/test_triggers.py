"""Parsing trigger input: Key Vault events in every shape Event Grid sends, and the HTTP body."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from rotator.functions.triggers import (
    HANDLED_EVENT_TYPES,
    MAX_BODY_BYTES,
    EventError,
    EventKind,
    RequestError,
    parse_keyvault_event,
    parse_rotate_request,
    targets_for_event,
)
from rotator.model import BasicTarget, CertificateTarget, InstallMode

VERSION = "0123456789abcdef0123456789abcdef"
CERT_EVENT = "Microsoft.KeyVault.CertificateNewVersionCreated"


def data(**overrides: Any) -> dict[str, Any]:
    base = {
        "Id": f"https://Contoso-KV.vault.azure.net/certificates/api-cert/{VERSION}",
        "VaultName": "contoso-kv",
        "ObjectType": "Certificate",
        "ObjectName": "api-cert",
        "Version": VERSION,
        "NBF": 1764000000,
        "EXP": 1795536000,
    }
    base.update(overrides)
    return base


def test_handled_event_types_are_the_six_certificate_and_secret_events() -> None:
    """New version, near expiry and expired, for certificates and secrets."""
    assert len(HANDLED_EVENT_TYPES) == 6
    assert all(t.startswith("Microsoft.KeyVault.") for t in HANDLED_EVENT_TYPES)


def test_pascal_case_event_parses_from_the_id_url() -> None:
    """Vault, object and version come from the Id URL; the vault is lower-cased."""
    event = parse_keyvault_event(event_id="e1", event_type=CERT_EVENT, data=data())
    assert event.vault_url == "https://contoso-kv.vault.azure.net"
    assert (event.object_type, event.object_name, event.version) == (
        "Certificate",
        "api-cert",
        VERSION,
    )
    assert event.kind is EventKind.NEW_VERSION
    assert event.not_before == dt.datetime.fromtimestamp(1764000000, dt.UTC)


def test_camel_case_keys_and_string_or_null_dates() -> None:
    """camelCase keys, NBF/EXP as numeric strings or null are all accepted."""
    camel = {"id": data()["Id"], "objectType": "Certificate", "nbf": "1764000000", "exp": None}
    event = parse_keyvault_event(event_id="e1", event_type=CERT_EVENT, data=camel)
    assert event.not_before is not None
    assert event.expires_on is None


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("not an object", "expected an object"),
        ({"ObjectName": "x"}, "data.Id is missing"),
        (data(Id="ftp://kv/certificates/x/1"), "not a Key Vault object URL"),
        (data(Id="https://kv.vault.azure.net/storage/x/1"), "names no certificate"),
        (data(NBF="soon"), "data.NBF 'soon' is not epoch seconds"),
        (data(EXP=True), "boolean"),
        (data(EXP=1e20), "out of range"),
    ],
)
def test_malformed_events_say_why(payload: Any, fragment: str) -> None:
    """Each malformed event is an EventError naming the event id and the field."""
    with pytest.raises(EventError) as caught:
        parse_keyvault_event(event_id="evt-42", event_type=CERT_EVENT, data=payload)
    assert "evt-42" in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("Microsoft.KeyVault.SecretNearExpiry", EventKind.NEAR_EXPIRY),
        ("Microsoft.KeyVault.CertificateExpired", EventKind.EXPIRED),
        ("Microsoft.KeyVault.KeyNewVersionCreated", EventKind.IGNORED),
        ("Microsoft.KeyVault.VaultAccessPolicyChanged", EventKind.IGNORED),
    ],
)
def test_event_kinds(event_type: str, kind: EventKind) -> None:
    """Each event type maps to what rotator does with it."""
    assert parse_keyvault_event(event_id="e", event_type=event_type, data=data()).kind is kind


def test_targets_for_event_match_vault_object_and_kind() -> None:
    """Only targets on the same vault (any case, trailing slash) and object of the right kind match."""
    cert = CertificateTarget(
        "c1", "https://CONTOSO-kv.vault.azure.net/", "API-CERT", InstallMode.REPLACE
    )
    other_vault = CertificateTarget("c2", "https://other.vault.azure.net", "api-cert")
    basic_same_name = BasicTarget("c3", "https://contoso-kv.vault.azure.net", "u", "api-cert")
    event = parse_keyvault_event(event_id="e", event_type=CERT_EVENT, data=data())
    assert targets_for_event([cert, other_vault, basic_same_name], event) == (cert,)
    secret_event = parse_keyvault_event(
        event_id="e",
        event_type="Microsoft.KeyVault.SecretNewVersionCreated",
        data=data(
            Id=f"https://contoso-kv.vault.azure.net/secrets/api-cert/{VERSION}", ObjectType="Secret"
        ),
    )
    assert targets_for_event([cert, other_vault, basic_same_name], secret_event) == (
        basic_same_name,
    )


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def test_rotate_request_for_one_connector_with_principal() -> None:
    """A valid body becomes an http RotationRequest carrying who asked."""
    request = parse_rotate_request(
        body(connectorId="c1", force=True, reason="leak", dryRun=False),
        {"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"},
        ["c1", "c2"],
    )
    assert request.connector_ids == ("c1",)
    assert request.force
    assert (request.reason, request.requested_by, request.trigger) == (
        "leak",
        "alice@contoso.com",
        "http",
    )


def test_rotate_request_all() -> None:
    """connectorId "all" selects every target."""
    assert parse_rotate_request(body(connectorId="all"), {}, ["c1"]).connector_ids == ()


@pytest.mark.parametrize(
    ("raw", "field", "status"),
    [
        (b"{nope", None, 400),
        (b"[1]", None, 400),
        (body(), "connectorId", 400),
        (body(connectorId="c1", forse=True), "forse", 400),
        (body(connectorId="c1", force="yes", reason="r"), "force", 400),
        (body(connectorId="c1", force=True), "reason", 400),
        (body(connectorId="all", version="abc"), "version", 400),
        (body(connectorId="c1", version=""), "version", 400),
        (body(connectorId="c1", reason="x" * 501), "reason", 400),
        (body(connectorId="nope"), "connectorId", 404),
    ],
)
def test_bad_rotate_requests_name_the_field(raw: bytes, field: str | None, status: int) -> None:
    """Every wrong body is a RequestError with the field to fix and the HTTP status."""
    with pytest.raises(RequestError) as caught:
        parse_rotate_request(raw, {}, ["c1"])
    assert caught.value.field == field
    assert caught.value.status == status


def request_error(raw: bytes, known: tuple[str, ...] = ("c1",)) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_rotate_request(raw, {}, known)
    return caught.value


# -- ids and versions cannot reach another object (issue 9, class 2) -----------------------


@pytest.mark.parametrize(
    "connector", ["c1/../REAL", "../REAL", "REAL/", "REAL#x", "REAL?$x=1", ".."]
)
def test_rotate_request_connector_id_with_url_syntax_is_a_400(connector: str) -> None:
    """A connectorId that is not letters, digits, '-', '_' and '.' is refused before any lookup."""
    error = request_error(body(connectorId=connector), ("REAL",))
    assert (error.status, error.field) == (400, "connectorId")
    assert "is not a connector id (letters, digits, '-', '_' and '.')" in str(error)


@pytest.mark.parametrize("version", ["abc", "../../secrets/other", "0" * 32 + "/x", "0" * 31 + "?"])
def test_rotate_request_version_that_is_not_a_version_id_is_a_400(version: str) -> None:
    """A rollback version must be a 32-character Key Vault version id."""
    error = request_error(body(connectorId="c1", version=version))
    assert (error.status, error.field) == (400, "version")
    assert "is not a Key Vault version id (32 letters and digits)" in str(error)


def test_rotate_request_version_id_is_accepted() -> None:
    """A 32-character version id for one connector is a rollback request."""
    request = parse_rotate_request(body(connectorId="c1", version=VERSION), {}, ["c1"])
    assert request.version == VERSION


# -- sizes and nesting are bounded (issue 9, class 6) ---------------------------------------


def test_rotate_request_nested_1000_levels_is_a_400_not_a_recursion_error() -> None:
    """A 2 KB body nested 1000 levels deep is a short 400."""
    error = request_error(b'{"connectorId": "c1", "reason": ' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert error.status == 400
    assert str(error) == "the body must be a JSON object (nested deeper than 32 levels)"


def test_rotate_request_larger_than_the_limit_is_a_413() -> None:
    """A body over MAX_BODY_BYTES is refused with 413 before it is parsed."""
    error = request_error(body(connectorId="c1", reason="x" * MAX_BODY_BYTES))
    assert error.status == 413
    assert str(error).startswith(f"the body is larger than {MAX_BODY_BYTES} bytes (")


def test_rotate_request_duplicate_field_is_a_400() -> None:
    """connectorId given twice is refused, not last-one-wins."""
    error = request_error(b'{"connectorId": "c1", "connectorId": "all"}')
    assert (error.status, str(error)) == (
        400,
        "the body must be a JSON object (duplicate key 'connectorId')",
    )


def test_unknown_field_name_is_echoed_cut_short() -> None:
    """A 50000-character unknown field is named by 200 characters and its length, in both places."""
    error = request_error(body(connectorId="c1", **{"f" * 50_000: 1}))
    assert error.field == "f" * 200 + "… (50000 characters)"
    assert len(str(error)) < 400


def test_unknown_connector_is_echoed_cut_short() -> None:
    """A 404 for a 250-character connectorId repeats 200 characters and its length."""
    error = request_error(body(connectorId="c" * 250))
    assert error.status == 404
    assert str(error) == f"connector {'c' * 200 + '… (250 characters)'!r} is not configured"


def test_principal_name_is_cut_short() -> None:
    """The caller's principal name from the platform header is bounded too."""
    request = parse_rotate_request(
        body(connectorId="c1"), {"x-ms-client-principal-name": "p" * 5000}, ["c1"]
    )
    assert request.requested_by == "p" * 200 + "… (5000 characters)"


def test_malformed_event_names_a_long_event_id_cut_short() -> None:
    """A 2 MB event id appears in the error as 200 characters and its length."""
    with pytest.raises(EventError) as caught:
        parse_keyvault_event(event_id="e" * 2_000_000, event_type=CERT_EVENT, data=[])
    assert "e" * 200 + "… (2000000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 400


def test_malformed_event_names_a_long_id_url_cut_short() -> None:
    """A huge data.Id is echoed cut short in the error."""
    with pytest.raises(EventError) as caught:
        parse_keyvault_event(event_id="e1", event_type=CERT_EVENT, data=data(Id="x" * 100_000))
    assert "(100000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 400
