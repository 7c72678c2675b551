"""Trigger parsing: the fields, boundaries and messages that mutation testing showed loose."""

from __future__ import annotations

from typing import Any

import pytest

from rotator.functions.triggers import (
    EventError,
    EventKind,
    RequestError,
    parse_keyvault_event,
    parse_rotate_request,
    targets_for_event,
)
from rotator.model import CertificateTarget
from tests.unit.functions.test_triggers import CERT_EVENT, VERSION, body, data

VAULT = "https://contoso-kv.vault.azure.net"


def event_error(payload: Any, *, event_id: str = "e1", event_type: str = CERT_EVENT) -> str:
    with pytest.raises(EventError) as caught:
        parse_keyvault_event(event_id=event_id, event_type=event_type, data=payload)
    return str(caught.value)


def request_error(raw: bytes, headers: dict[str, str] | None = None) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_rotate_request(raw, headers or {}, ["c1"])
    return caught.value


# -- Key Vault events ----------------------------------------------------------------------


def test_an_event_keeps_its_id() -> None:
    """The parsed event carries the Event Grid id it came with."""
    assert (
        parse_keyvault_event(event_id="e-7", event_type=CERT_EVENT, data=data()).event_id == "e-7"
    )


def test_an_event_without_id_or_type_says_so() -> None:
    """Missing id and type are named as such in the message."""
    assert (
        event_error(data(), event_id="", event_type="")
        == "event <no id> (<no type>): no event type"
    )
    assert event_error("text", event_id="") == (
        f"event <no id> ({CERT_EVENT}): data is str, expected an object"
    )


def test_an_id_without_version_names_the_object_only() -> None:
    """``https://vault/certificates/name`` is an object without a version."""
    event = parse_keyvault_event(
        event_id="e1",
        event_type=CERT_EVENT,
        data=data(Id="https://contoso-kv.vault.azure.net/certificates/api-cert"),
    )
    assert (event.object_name, event.version) == ("api-cert", None)


def test_an_id_with_too_many_segments_is_refused() -> None:
    """An Id URL deeper than collection / name / version is not a Key Vault object."""
    raw = f"https://contoso-kv.vault.azure.net/certificates/api-cert/{VERSION}/extra"
    assert event_error(data(Id=raw)) == (
        f"event e1 ({CERT_EVENT}): data.Id {raw!r} is not a Key Vault object URL"
    )


def test_a_key_event_parses_and_is_ignored() -> None:
    """Keys are Key Vault objects too: the event parses, and rotator ignores it."""
    event = parse_keyvault_event(
        event_id="e1",
        event_type="Microsoft.KeyVault.KeyNewVersionCreated",
        data=data(Id=f"https://contoso-kv.vault.azure.net/keys/k/{VERSION}"),
    )
    assert (event.object_type, event.kind) == ("Key", EventKind.IGNORED)


def test_empty_dates_are_absent_and_other_types_are_refused() -> None:
    """An empty NBF is no date; a list is refused with its type named."""
    event = parse_keyvault_event(event_id="e1", event_type=CERT_EVENT, data=data(NBF=""))
    assert event.not_before is None
    assert event_error(data(EXP=[1])) == (
        f"event e1 ({CERT_EVENT}): data.EXP is list, expected epoch seconds"
    )


def test_a_target_with_another_object_name_does_not_stop_the_scan() -> None:
    """Targets on the same vault but another object are skipped, and the scan goes on."""
    other = CertificateTarget("c0", VAULT, "another-cert")
    wanted = CertificateTarget("c1", VAULT, "api-cert")
    event = parse_keyvault_event(event_id="e", event_type=CERT_EVENT, data=data())
    assert targets_for_event([other, wanted], event) == (wanted,)


# -- POST /api/rotate ----------------------------------------------------------------------


def test_dry_run_and_version_are_carried() -> None:
    """``dryRun`` and ``version`` reach the request as given."""
    request = parse_rotate_request(
        body(connectorId="c1", dryRun=True, version=f" {VERSION} "), {}, ["c1"]
    )
    assert request.dry_run is True
    assert request.version == VERSION
    assert request.force is False
    assert parse_rotate_request(body(connectorId="c1"), {}, ["c1"]).dry_run is False


def test_requested_by_comes_only_from_the_principal_header() -> None:
    """Another header never names the requester, and a blank principal counts as none."""
    headers = {"X-Forwarded-For": "10.0.0.1", "x-ms-client-principal-name": "  "}
    assert parse_rotate_request(body(connectorId="c1"), headers, ["c1"]).requested_by is None


def test_a_reason_of_exactly_the_maximum_length_is_accepted() -> None:
    """500 characters of reason are accepted (501 are not)."""
    request = parse_rotate_request(body(connectorId="c1", reason="x" * 500), {}, ["c1"])
    assert request.reason == "x" * 500


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (
            b"",
            None,
            "the body must be a JSON object (not valid JSON: Expecting value at line 1 column 1)",
        ),
        (
            b"{nope",
            None,
            "the body must be a JSON object (not valid JSON: Expecting property name enclosed "
            "in double quotes at line 1 column 2)",
        ),
        (b"[1]", None, "the body must be a JSON object"),
        (
            body(connectorId="c1", forse=True),
            "forse",
            "unknown field 'forse' (allowed: connectorId, dryRun, force, reason, skipProbe, version)",
        ),
        (body(), "connectorId", 'connectorId is required: a connector id or "all"'),
        (body(connectorId="c1", dryRun="yes"), "dryRun", "dryRun must be true or false"),
        (body(connectorId="c1", version=" "), "version", "version must be a non-empty string"),
        (
            body(connectorId="c1", reason="x" * 501),
            "reason",
            "reason is longer than 500 characters",
        ),
        (
            body(connectorId="c1", force=True),
            "reason",
            "force needs a reason (it goes into the history)",
        ),
        (body(connectorId="nope"), "connectorId", "connector 'nope' is not configured"),
        (
            body(connectorId="c1", skipProbe=True),
            "skipProbe",
            "skipProbe needs force and a reason (an emergency that accepts breaking the user "
            "flow if the API does not take the new credential)",
        ),
        (
            body(connectorId="all", version=VERSION),
            "version",
            'version needs a single connectorId, not "all"',
        ),
    ],
)
def test_bad_rotate_requests_say_exactly_what_is_wrong(
    raw: bytes, field: str | None, message: str
) -> None:
    """Each wrong body answers with its own sentence and the field to fix."""
    error = request_error(raw)
    assert (str(error), error.field) == (message, field)


def test_a_body_of_exactly_the_maximum_size_is_read() -> None:
    """A body of exactly 64 KiB (65536 bytes) is parsed; one byte more is refused with 413."""
    raw = body(connectorId="c1")
    padded = raw + b" " * (65536 - len(raw))
    assert parse_rotate_request(padded, {}, ["c1"]).connector_ids == ("c1",)
    error = request_error(padded + b" ")
    assert error.status == 413
    assert str(error) == "the body is larger than 65536 bytes (65537 bytes)"


def test_a_date_out_of_range_is_refused_showing_it() -> None:
    """An epoch too large for a date is refused with the value shown."""
    assert (
        event_error(data(EXP=1e20)) == f"event e1 ({CERT_EVENT}): data.EXP '1e+20' is out of range"
    )
