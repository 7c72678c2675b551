"""Plan, package and progress: the boundaries, flags and messages that mutation testing showed loose."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.azure.keyvault import SecretValue
from rotator.emulator import pki
from rotator.errors import (
    CredentialError,
    GraphError,
    KeyVaultError,
    RotationInProgressError,
    VerificationError,
)
from rotator.model import (
    Outcome,
    Pkcs12Profile,
    ProbeResult,
    RotationRequest,
    Verdict,
    VersionInfo,
)
from rotator.state.records import ConnectorRecord, Pin
from rotator.steps import package, pkcs12, plan
from rotator.steps.progress import Progress
from tests.unit.steps.test_steps import (
    BASIC,
    CERT,
    DAY,
    NONE,
    NOW,
    OVERLAP,
    REQUEST,
    VAULT,
    FakeVault,
    basic_connector,
    cert_version,
    holding,
    packaged,
    planned,
    version,
)

SOURCE = f"certificate 'api-cert' in {VAULT}"
# DER of the PKCS#12 bag algorithms: pbeWithSHAAnd3-KeyTripleDES-CBC and PBES2
TRIPLE_DES_OID = bytes.fromhex("2a864886f70d010c0103")
PBES2_OID = bytes.fromhex("2a864886f70d01050d")


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Pinned Steps CA")


# -- plan ----------------------------------------------------------------------------------


def test_choose_refuses_when_nothing_is_usable_naming_the_object() -> None:
    """No usable version: the refusal names the certificate and its vault."""
    with pytest.raises(CredentialError) as raised:
        plan.choose(CERT, [version("a", created=-9, exp=-1)], REQUEST, NONE, NOW)
    assert str(raised.value) == (
        f"{SOURCE} has no usable version (1 expired); add a valid version in Key Vault"
    )


def test_a_requested_version_that_does_not_exist_is_refused_naming_the_object() -> None:
    """A rollback to a version Key Vault does not list names the object and the version."""
    request = RotationRequest(version="nope", reason="r")
    with pytest.raises(CredentialError) as raised:
        plan.choose(CERT, [version("a", created=-1)], request, NONE, NOW)
    assert str(raised.value) == f"{SOURCE} has no version 'nope' in Key Vault"


def test_a_rollback_among_undated_versions_pins_without_a_newest_time() -> None:
    """When no version has a creation time, the pin records none (and the choice still works)."""
    undated = VersionInfo("api-cert", "a", True, None, thumbprint="AAAA")
    choice = plan.choose(CERT, [undated], RotationRequest(version="a"), NONE, NOW)
    assert choice.pin == Pin("a", "2026-11-27T12:00:00Z", None, None, None)


def test_a_pin_without_newest_time_counts_from_when_it_was_set() -> None:
    """An old pin without its newest creation time gives way to a version created after it."""
    pin = Pin("a", "2026-11-20T12:00:00Z", None, None, None)
    record = ConnectorRecord("c1", pin=pin)
    versions = [version("a", created=-9), version("b", created=-1)]
    choice = plan.choose(CERT, versions, REQUEST, record, NOW)
    assert choice.version.version == "b"
    assert choice.cleared == plan.ClearedPin("a", "version b was added to Key Vault after the pin")


def test_in_sync_reason_lists_every_version_and_a_pin_without_reason() -> None:
    """Several versions are listed comma-separated; a pin without a reason adds no parentheses."""
    pin = Pin("a", "2026-11-27T00:00:00Z", None, None, None)
    versions = [version("a", created=-2), version("f", created=-1, nbf=5)]
    assert plan.in_sync_reason(versions, pin) == (
        "connector already holds AAAA (version a), FFFF (version f); "
        "pinned since 2026-11-27T00:00:00Z"
    )


def test_a_plan_gives_its_own_in_sync_reason() -> None:
    """A plan's up-to-date sentence is the one of its versions and its pin."""
    pin = Pin("a", "2026-11-27T00:00:00Z", "incident", None, None)
    versions = [version("a", created=-1)]
    choice = plan.Choice(versions[0], pin)
    wanted = plan.make(CERT, choice, versions, NONE, holding("AAAA"), REQUEST, NOW)
    assert wanted.pin == pin
    assert wanted.in_sync_reason() == plan.in_sync_reason(versions, pin)


def test_a_basic_plan_replaces_keeps_the_pin_and_never_compacts() -> None:
    """A password is always written by replacing; a pinned password keeps its pin."""
    pin = Pin("v1", "2026-11-27T00:00:00Z", "rollback", None, None)
    info = version("v1", created=-1, thumbprint=None)
    wanted = plan.make(BASIC, plan.Choice(info, pin), [info], NONE, basic_connector(), REQUEST, NOW)
    assert (wanted.pin, wanted.pending, wanted.replace, wanted.compact) == (pin, None, True, False)
    assert wanted.replace is True
    assert wanted.compact is False


# -- package -------------------------------------------------------------------------------


@dataclass
class ListingVault(FakeVault):
    """A vault that also lists versions (what ``read_certificate`` / ``read_secret`` need)."""

    versions: list[VersionInfo] = field(default_factory=list)

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        return self.versions

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        return self.versions


def pfx_of(change: package.Change, index: int = 0) -> bytes:
    assert isinstance(change, package.CertificateChange)
    return base64.b64decode(change.installs[index].pfx)


@pytest.mark.parametrize(
    ("profile", "oid"),
    [(Pkcs12Profile.LEGACY_3DES, TRIPLE_DES_OID), (Pkcs12Profile.AES256, PBES2_OID)],
)
def test_the_pfx_uses_the_profile_asked_for(
    ca: pki.Issued, profile: Pkcs12Profile, oid: bytes
) -> None:
    """Current and pre-staged certificates are both encrypted with the configured profile."""
    current, current_secret = cert_version(ca, "a", created=-9)
    future, future_secret = cert_version(ca, "f", nbf=5, exp=120, created=-1)
    vault = FakeVault({("api-cert", "a"): current_secret, ("api-cert", "f"): future_secret})
    connector = holding("OTHER", until=10)
    wanted = planned(OVERLAP, [current, future], connector)
    change = package.change_for(
        vault, wanted, connector, now=pki.utcnow(), profile=profile, force=False
    )
    assert oid in pfx_of(change, 0)
    assert oid in pfx_of(change, 1)


def test_a_secret_holding_another_certificate_is_refused_naming_the_version(
    ca: pki.Issued,
) -> None:
    """The backing secret must hold the certificate Key Vault lists for that version."""
    info, _ = cert_version(ca, "a")
    _, other_secret = cert_version(ca, "b")
    vault = FakeVault({("api-cert", "a"): other_secret})
    wanted = planned(CERT, [info], holding("OTHER", until=10))
    with pytest.raises(CredentialError) as raised:
        packaged(vault, wanted, holding("OTHER", until=10))
    assert str(raised.value).startswith(
        f"{SOURCE} version a: the backing secret holds certificate "
    )
    assert str(raised.value).endswith(
        f"but Key Vault lists {info.thumbprint} for this version; re-import the certificate"
    )


def test_an_unreadable_secret_is_refused_naming_the_version(ca: pki.Issued) -> None:
    """A backing secret without a key is refused with the object and version in the message."""
    info, _ = cert_version(ca, "a")
    vault = FakeVault({("api-cert", "a"): SecretValue("not pem", "application/x-pem-file")})
    wanted = planned(CERT, [info], holding("OTHER", until=10))
    with pytest.raises(CredentialError) as raised:
        packaged(vault, wanted, holding("OTHER", until=10))
    assert str(raised.value).startswith(f"{SOURCE} version a holds no private key: ")


def test_a_current_certificate_not_valid_yet_is_refused(ca: pki.Issued) -> None:
    """Only a pre-stage may be future-dated: a current leaf not valid yet is refused."""
    info, secret = cert_version(ca, "a", nbf=5)
    listed = dataclasses.replace(info, not_before=None)  # Key Vault's nbf disagrees with the leaf
    vault = ListingVault({("api-cert", "a"): secret}, versions=[listed])
    wanted = planned(CERT, [listed], holding("OTHER", until=10))
    with pytest.raises(
        CredentialError, match=r"^certificate .* the certificate is not valid before"
    ):
        packaged(vault, wanted, holding("OTHER", until=10))
    with pytest.raises(CredentialError, match=r"^kv api-cert version a: the certificate is not"):
        package.read_certificate(vault, "api-cert", now=pki.utcnow(), source="kv api-cert")


def test_a_broken_pre_stage_is_noted_and_logged_with_its_reason(
    ca: pki.Issued, caplog: pytest.LogCaptureFixture
) -> None:
    """The refused pre-stage is named in the note and in a ``rotation.prestage_refused`` event."""
    current, current_secret = cert_version(ca, "a", created=-9)
    future, _ = cert_version(ca, "f", nbf=5, exp=120, created=-1)
    broken = SecretValue("not pem", "application/x-pem-file")
    vault = FakeVault({("api-cert", "a"): current_secret, ("api-cert", "f"): broken})
    wanted = planned(OVERLAP, [current, future], holding("OTHER", until=10))
    with caplog.at_level(logging.WARNING, logger="rotator"):
        change = packaged(vault, wanted, holding("OTHER", until=10))
    reason = f"{SOURCE} version f holds no private key: the certificate policy must mark the key "
    assert change.notes[0].startswith(f"pre-staging refused: {reason}")
    [record] = [r for r in caplog.records if r.getMessage().startswith("rotation.prestage_refused")]
    data = record.rotator  # type: ignore[attr-defined]  # set by the log call's extra=
    assert data["event"] == "rotation.prestage_refused"
    assert data["connectorId"] == "c1"
    assert data["reason"].startswith(reason)
    assert record.levelno == logging.WARNING


def test_an_install_keeps_the_validated_bundle_for_the_probe(ca: pki.Issued) -> None:
    """Each install carries the key and chain it was packaged from (the probe's TLS handshake)."""
    info, secret = cert_version(ca, "a")
    vault = FakeVault({("api-cert", "a"): secret})
    change = packaged(vault, planned(CERT, [info], holding("OTHER", until=10)), holding("OTHER"))
    assert isinstance(change, package.CertificateChange)
    [only] = change.installs
    assert pkcs12.thumbprint(only.bundle.leaf) == only.thumbprint == info.thumbprint
    assert [c.subject for c in only.bundle.chain] == [ca.certificate.subject]


def test_a_replace_re_uploads_a_certificate_the_connector_already_holds(ca: pki.Issued) -> None:
    """Replace writes the whole planned list, even the certificate that is already there."""
    info, secret = cert_version(ca, "a")
    vault = FakeVault({("api-cert", "a"): secret})
    connector = holding(info.thumbprint or "", "OTHER", until=10)
    change = packaged(vault, planned(CERT, [info], connector), connector)
    assert isinstance(change, package.CertificateChange)
    assert [i.version.version for i in change.installs] == ["a"]


def test_a_pre_stage_the_connector_holds_is_not_uploaded_again(ca: pki.Issued) -> None:
    """Overlap uploads only what is missing: a held pre-stage is not packaged with the current."""
    current, current_secret = cert_version(ca, "a", created=-9)
    future, future_secret = cert_version(ca, "f", nbf=5, exp=120, created=-1)
    vault = FakeVault({("api-cert", "a"): current_secret, ("api-cert", "f"): future_secret})
    connector = holding(future.thumbprint or "", until=80)
    change = packaged(vault, planned(OVERLAP, [current, future], connector), connector)
    assert isinstance(change, package.CertificateChange)
    assert [i.version.version for i in change.installs] == ["a"]
    assert vault.reads == [("api-cert", "a")]


def test_a_shorter_certificate_refusal_names_the_version(ca: pki.Issued) -> None:
    """The refusal of a shorter certificate names the object and the version being installed."""
    info, secret = cert_version(ca, "a", exp=10)
    vault = FakeVault({("api-cert", "a"): secret})
    connector = holding("OTHER", until=60)
    with pytest.raises(CredentialError) as raised:
        packaged(vault, planned(CERT, [info], connector), connector)
    assert str(raised.value).startswith(f"{SOURCE} version a expires on ")


def test_a_password_change_carries_the_value_read() -> None:
    """The password written is the value of the planned version, and the username configured."""
    info = version("v1", created=-1, thumbprint=None)
    vault = FakeVault({("api-password", "v1"): SecretValue("s3cret", None)})
    wanted = plan.make(
        BASIC, plan.Choice(info, None), [info], NONE, basic_connector(), REQUEST, NOW
    )
    change = packaged(vault, wanted, basic_connector(), now=NOW)
    assert isinstance(change, package.PasswordChange)
    assert (change.password, change.username) == ("s3cret", "api-user")


@pytest.mark.parametrize(
    ("reader", "kind"), [("read_certificate", "certificate"), ("read_secret", "secret")]
)
def test_reading_a_missing_object_is_not_found(reader: str, kind: str) -> None:
    """An object without versions is a 404 naming it and what kind of object was looked for."""
    vault = ListingVault({})
    with pytest.raises(KeyVaultError) as raised:
        getattr(package, reader)(vault, "x", now=NOW, source="kv x")
    assert str(raised.value) == f"kv x was not found (no {kind} of that name)"
    assert raised.value.status == 404


@pytest.mark.parametrize("reader", ["read_certificate", "read_secret"])
def test_reading_without_a_usable_version_is_refused(reader: str) -> None:
    """An object whose versions are all expired is refused, naming it."""
    vault = ListingVault({}, versions=[version("a", created=-9, exp=-1)])
    with pytest.raises(CredentialError) as raised:
        getattr(package, reader)(vault, "x", now=NOW, source="kv x")
    assert str(raised.value) == (
        "kv x has no usable version (1 expired); add a valid version in Key Vault"
    )


def test_read_secret_returns_the_newest_usable_value() -> None:
    """A secret is read at its newest usable version; a blank value is refused naming it."""
    versions = [version("old", created=-9), version("new", created=-1)]
    vault = ListingVault(
        {("x", "new"): SecretValue("v2", None), ("x", "old"): SecretValue("v1", None)},
        versions=versions,
    )
    chosen, value = package.read_secret(vault, "x", now=NOW, source="kv x")
    assert (chosen.version, value) == ("new", "v2")
    vault.secrets[("x", "new")] = SecretValue(" ", None)
    with pytest.raises(CredentialError) as raised:
        package.read_secret(vault, "x", now=NOW, source="kv x")
    assert str(raised.value) == "kv x version new is empty"


def install(ca: pki.Issued, vid: str, thumbprint: str, not_before: dt.datetime) -> package.Install:
    info = version(vid, created=-1)
    assert isinstance(ca.key, rsa.RSAPrivateKey)
    bundle = pkcs12.CertificateBundle(ca.certificate, ca.key)
    return package.Install(info, thumbprint, not_before, NOW + 90 * DAY, "pfx", "pw", bundle)


def change_of(
    target_plan: plan.ConnectorPlan, *installs: package.Install
) -> package.CertificateChange:
    return package.CertificateChange(target_plan, installs)


def test_describe_a_replace_in_both_tenses(ca: pki.Issued) -> None:
    """A replace names what the connector held and each certificate written, present or past."""
    connector = holding("OTHER")
    versions = [version("a", created=-1)]
    wanted = plan.make(
        CERT, plan.Choice(versions[0], None), versions, NONE, connector, REQUEST, NOW
    )
    change = change_of(wanted, install(ca, "a", "AAAA", NOW), install(ca, "b", "BBBB", NOW - DAY))
    held = connector.describe()
    assert change.describe(connector, NOW) == (
        f"replace {held} with AAAA (version a), BBBB (version b)"
    )
    assert change.describe(connector, NOW, done=True) == (
        f"replaced {held} with AAAA (version a), BBBB (version b)"
    )


def test_describe_an_overlap_upload_and_a_compaction(ca: pki.Issued) -> None:
    """An upload adds beside what is held (pre-staged ones say until when); a compaction says why."""
    connector = holding("OTHER")
    versions = [version("a", created=-1)]
    added = plan.make(
        OVERLAP, plan.Choice(versions[0], None), versions, NONE, connector, REQUEST, NOW
    )
    change = change_of(added, install(ca, "f", "FFFF", NOW + DAY))
    held = connector.describe()
    assert change.describe(connector, NOW) == (
        f"add FFFF (version f, pre-staged until 2026-11-28 12:00 UTC) beside {held}"
    )
    assert change.describe(connector, NOW, done=True).startswith("added FFFF (version f, ")
    stale = holding("OTHER", expired=1)
    compacted = plan.make(
        OVERLAP, plan.Choice(versions[0], None), versions, NONE, stale, REQUEST, NOW
    )
    change = change_of(compacted, install(ca, "a", "AAAA", NOW))
    assert change.describe(stale, NOW, done=True) == (
        f"replaced {stale.describe()} (it held expired certificates) with AAAA (version a)"
    )
    assert change.describe(stale, NOW).startswith("replace ")


def test_a_password_change_is_described_in_the_present_by_default() -> None:
    """Before the write a password change says ``replace``; after, ``replaced``."""
    info = version("v1", created=-1, thumbprint=None)
    wanted = plan.make(
        BASIC, plan.Choice(info, None), [info], NONE, basic_connector(), REQUEST, NOW
    )
    change = package.PasswordChange(wanted, "api-user", "pw")
    assert change.describe(basic_connector(), NOW) == (
        "replace basic auth as 'api-user' with version v1 for 'api-user'"
    )


# -- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (CredentialError("bad value"), "bad value"),
        (GraphError("denied", status=403), "denied"),
        (VerificationError("not shown"), "not shown"),
        (KeyVaultError("kv down"), "kv down"),
    ],
)
def test_a_failure_keeps_the_error_message_as_its_reason(error: Exception, reason: str) -> None:
    """The outcome's reason is the error's own sentence, with nothing added when nothing was written."""
    assert Progress(CERT).failed(error).reason == reason


@pytest.mark.parametrize("error", [KeyVaultError("kv"), ValueError("odd")])
def test_any_failure_after_a_write_is_unverified(error: Exception) -> None:
    """Once a write was accepted, a later failure of any kind leaves the outcome unverified."""
    run = Progress(CERT)
    run.wrote = True
    assert run.failed(error).unverified is True


def test_an_unexpected_error_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """A bug is logged at debug level as ``rotation.unexpected_error`` with the exception."""
    error = KeyError("x")
    with caplog.at_level(logging.DEBUG, logger="rotator"):
        Progress(CERT).failed(error)
    [record] = caplog.records
    assert record.getMessage() == "rotation.unexpected_error"
    assert record.levelno == logging.DEBUG
    assert record.exc_info is not None
    assert record.exc_info[1] is error


def test_an_outcome_carries_the_probe_of_the_run() -> None:
    """What the connector's API said about the credential reaches the outcome."""
    probe = ProbeResult("https://api.contoso.test/hook", Verdict.ACCEPTED, status=200, attempts=1)
    assert Progress(CERT, probe=probe).outcome(Outcome.ROTATED, "done").probe == probe


def test_a_certificate_outcome_carries_thumbprint_and_not_after() -> None:
    """A certificate target's outcome shows the thumbprint and notAfter the run was at."""
    run = Progress(CERT)
    run.at(version("a", created=-1))
    result = run.outcome(Outcome.ROTATED, "done")
    assert (result.thumbprint, result.not_after) == ("AAAA", NOW + 90 * DAY)


def test_packaged_moves_the_run_to_the_last_certificate_with_its_notes(
    ca: pki.Issued,
) -> None:
    """After packaging, the run is at the last certificate written, with the leaf's own dates."""
    versions = [version("a", created=-1)]
    wanted = plan.make(
        CERT, plan.Choice(versions[0], None), versions, NONE, holding("X"), REQUEST, NOW
    )
    first, second = install(ca, "a", "AAAA", NOW), install(ca, "b", "BBBB", NOW)
    last = dataclasses.replace(install(ca, "f", "FFFF", NOW + DAY), not_after=NOW + 99 * DAY)
    run = Progress(CERT)
    run.packaged(package.CertificateChange(wanted, (first, second, last), ("a note",)))
    assert (run.version, run.thumbprint, run.not_after, run.expires_on) == (
        "f",
        "FFFF",
        NOW + 99 * DAY,
        NOW + 99 * DAY,
    )
    assert run.notes == ["a note"]


def test_packaged_password_keeps_the_version_and_takes_its_notes() -> None:
    """A password change leaves the version the run is at and brings its notes."""
    info = version("v1", created=-1, thumbprint=None)
    wanted = plan.make(
        BASIC, plan.Choice(info, None), [info], NONE, basic_connector(), REQUEST, NOW
    )
    run = Progress(BASIC)
    run.at(info)
    run.packaged(package.PasswordChange(wanted, "api-user", "pw", ("n",)))
    assert (run.version, run.notes) == ("v1", ["n"])


def test_ensure_lease_raises_only_when_a_held_lease_was_lost() -> None:
    """Without a lease nothing is checked; a lost lease stops the write."""

    class LostLease:
        def ensure_held(self) -> None:
            raise RotationInProgressError("lease lost")

    Progress(CERT).ensure_lease()
    with pytest.raises(RotationInProgressError, match="lease lost"):
        Progress(CERT, lease=LostLease()).ensure_lease()


def test_an_outcome_names_the_identity_and_tenant_and_a_stuck_lease() -> None:
    """The outcome carries the target's identity, its tenant, and whether the lease was stuck."""
    target = dataclasses.replace(CERT, identity="b2c-prod")
    run = Progress(target, tenant_id="contoso.onmicrosoft.com")
    result = run.outcome(Outcome.FAILED, "stuck", lease_stuck=True)
    assert (result.identity, result.tenant_id, result.lease_stuck) == (
        "b2c-prod",
        "contoso.onmicrosoft.com",
        True,
    )
    assert run.outcome(Outcome.ROTATED, None).lease_stuck is False


def test_a_password_echoed_in_an_error_never_reaches_the_reason() -> None:
    """After packaging, the password and its basic-auth header form are redacted from a reason."""
    info = version("v1", created=-1, thumbprint=None)
    wanted = plan.make(
        BASIC, plan.Choice(info, None), [info], NONE, basic_connector(), REQUEST, NOW
    )
    password = "correct-horse-battery-staple"
    # "svc:" is 4 bytes, so the password's own base64 is not inside the header's: only the
    # basic-auth form of the secret can redact the header
    header = base64.b64encode(f"svc:{password}".encode()).decode()
    run = Progress(BASIC)
    run.packaged(package.PasswordChange(wanted, "svc", password))
    result = run.failed(GraphError(f"bad password {password}; sent Basic {header}", status=400))
    assert result.reason == "bad password [redacted]; sent Basic [redacted]"
    assert run.outcome(Outcome.ROTATED, None).reason is None


def test_a_pfx_password_echoed_in_an_error_never_reaches_the_reason(ca: pki.Issued) -> None:
    """After packaging a certificate, its PKCS#12 password is redacted from a reason."""
    versions = [version("a", created=-1)]
    wanted = plan.make(
        CERT, plan.Choice(versions[0], None), versions, NONE, holding("X"), REQUEST, NOW
    )
    secret = install(ca, "a", "AAAA", NOW)
    secret = dataclasses.replace(secret, password="pfx-password-0123456789")
    run = Progress(CERT)
    run.packaged(package.CertificateChange(wanted, (secret,)))
    reason = run.failed(VerificationError("echo pfx-password-0123456789")).reason
    assert reason == "echo [redacted]"
