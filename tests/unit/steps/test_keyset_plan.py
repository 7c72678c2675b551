"""Planning a policy key (pure): in sync by x5t or the recorded kid, the nbf of the upload, and
refusals where B2C would never use the new key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rotator.errors import CredentialError
from rotator.model import CredentialKind, PolicyKeyTarget, RotationRequest, VersionInfo
from rotator.state.records import ConnectorRecord, Pin, UploadedKey
from rotator.steps.keyset_plan import (
    KeySet,
    KeySetBlockedError,
    PolicyKey,
    in_sync,
    make,
    uploaded_kid,
    x5t_of,
)

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
VAULT = "https://kv.vault.azure.net"
THUMB = "0EB2" * 10
CERT = PolicyKeyTarget("B2C_1A_Cert", VAULT, "cert", CredentialKind.CERTIFICATE)
SECRET = PolicyKeyTarget("B2C_1A_Pw", VAULT, "pw", CredentialKind.SECRET)


def version(name: str = "v" * 32, **fields: Any) -> VersionInfo:
    values: dict[str, Any] = {"not_before": NOW - DAY, "expires_on": NOW + 300 * DAY}
    values.update(fields)
    return VersionInfo("x", name, True, NOW - DAY, **values)


def record(*uploads: tuple[str, str]) -> ConnectorRecord:
    keys = tuple(UploadedKey(VAULT, "pw", v, kid, "2026-12-01T00:00:00Z") for v, kid in uploads)
    return ConnectorRecord("keyset.B2C_1A_Pw", uploaded_keys=keys)


def test_x5t_is_the_base64url_sha1_without_padding() -> None:
    """The hex thumbprint becomes the JWK's x5t."""
    assert x5t_of("00" * 20) == "AAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert "=" not in x5t_of(THUMB)


def test_a_certificate_is_in_sync_when_the_active_key_has_its_x5t() -> None:
    """getActiveKey's x5t against the version's thumbprint; no active key: behind."""
    chosen = version(thumbprint=THUMB)
    assert in_sync(CERT, chosen, PolicyKey("k", x5t=x5t_of(THUMB)), ConnectorRecord("c"))
    assert not in_sync(CERT, chosen, PolicyKey("k", x5t=x5t_of("11" * 20)), ConnectorRecord("c"))
    assert not in_sync(CERT, chosen, None, ConnectorRecord("c"))


def test_a_secret_is_in_sync_only_by_the_kid_recorded_for_that_version() -> None:
    """A secret cannot be read back: the state store's kid decides; the newest upload wins."""
    chosen = version("a" * 32)
    stored = record(("a" * 32, "old-kid"), ("b" * 32, "other"), ("a" * 32, "new-kid"))
    assert uploaded_kid(SECRET, "a" * 32, stored) == "new-kid"
    assert in_sync(SECRET, chosen, PolicyKey("new-kid"), stored)
    assert not in_sync(SECRET, chosen, PolicyKey("other"), stored)
    assert not in_sync(SECRET, chosen, PolicyKey("new-kid"), ConnectorRecord("c"))


def test_a_secret_is_uploaded_with_its_versions_not_before_and_the_sets_use() -> None:
    """nbf: the version's notBefore; exp: its expiry; use: the set's own."""
    chosen = version(not_before=NOW - 2 * DAY)
    planned = make(
        SECRET,
        chosen,
        None,
        KeySet("B2C_1A_Pw", (PolicyKey("k", use="sig"),)),
        RotationRequest(),
        NOW,
    )
    assert planned.not_before == NOW - 2 * DAY
    assert planned.expires == chosen.expires_on
    assert planned.use == "sig"


def test_an_empty_set_gets_use_enc_and_a_version_without_nbf_gets_now() -> None:
    """No key to copy the use from: enc. No notBefore: now."""
    planned = make(
        SECRET, version(not_before=None), None, KeySet("B2C_1A_Pw"), RotationRequest(), NOW
    )
    assert planned.use == "enc"
    assert planned.not_before == NOW


def test_a_pinned_or_forced_secret_is_uploaded_with_nbf_now_so_it_wins() -> None:
    """A rollback of a secret works by being the latest nbf."""
    pin = Pin("a" * 32, "2026-12-03T12:00:00Z")
    assert make(SECRET, version(), pin, KeySet("s"), RotationRequest(), NOW).not_before == NOW
    forced = RotationRequest(force=True, reason="leak")
    assert make(SECRET, version(), None, KeySet("s"), forced, NOW).not_before == NOW


def test_a_later_key_in_the_set_blocks_the_upload_with_what_to_do() -> None:
    """A manual key with a later nbf: B2C would never switch; the message says so."""
    later = PolicyKey("manual", nbf=NOW + 30 * DAY, exp=NOW + 400 * DAY)
    with pytest.raises(KeySetBlockedError, match="would never switch to the new key") as caught:
        make(SECRET, version(), None, KeySet("s", (later,)), RotationRequest(), NOW)
    assert "replace the key set" in str(caught.value)


def test_an_expired_later_key_does_not_block() -> None:
    """A key already expired never becomes active again: it is no obstacle."""
    expired = PolicyKey("gone", nbf=NOW - DAY / 2, exp=NOW - DAY / 4)
    planned = make(SECRET, version(), None, KeySet("s", (expired,)), RotationRequest(), NOW)
    assert planned.not_before == NOW - DAY


def test_a_certificate_already_in_the_set_is_present_not_uploaded_again() -> None:
    """The key with the certificate's x5t is found; it is never a blocker of itself."""
    chosen = version(thumbprint=THUMB, not_before=NOW - DAY)
    held = PolicyKey("k", x5t=x5t_of(THUMB), nbf=NOW - DAY)
    planned = make(CERT, chosen, None, KeySet("c", (held,)), RotationRequest(), NOW)
    assert planned.present == held


def test_a_pin_to_an_older_certificate_is_refused_with_the_hint() -> None:
    """Its notBefore is older than the active key's: refused, with the two ways out."""
    chosen = version(thumbprint=THUMB, not_before=NOW - 300 * DAY)
    newer = PolicyKey("new", x5t=x5t_of("22" * 20), nbf=NOW - DAY, exp=NOW + 300 * DAY)
    pin = Pin("v" * 32, "2026-12-03T12:00:00Z")
    with pytest.raises(CredentialError, match="B2C would never use it") as caught:
        make(CERT, chosen, pin, KeySet("c", (newer,)), RotationRequest(), NOW)
    assert "issue a new certificate version from the same key" in str(caught.value)


def test_a_later_key_rotator_uploaded_itself_is_superseded_with_nbf_now() -> None:
    """After a rollback (nbf now), the next secret goes up with nbf now too, not blocked."""
    own = PolicyKey("mine", nbf=NOW - dt.timedelta(hours=1), exp=None)
    chosen = version(not_before=NOW - 2 * DAY)
    planned = make(
        SECRET, chosen, None, KeySet("s", (own,)), RotationRequest(), NOW, frozenset({"mine"})
    )
    assert planned.not_before == NOW
    with pytest.raises(KeySetBlockedError):
        make(SECRET, chosen, None, KeySet("s", (own,)), RotationRequest(), NOW)
