"""The steps of a rotation one by one: plan, package, progress (outcomes), verify, render."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from rotator.azure.keyvault import SecretValue
from rotator.emulator import pki
from rotator.errors import CredentialError, GraphError, KeyVaultError, VerificationError
from rotator.faces.render import render_history, render_report, render_status
from rotator.model import (
    BasicTarget,
    CertificateTarget,
    ConnectorState,
    GraphCertificate,
    InstallMode,
    Outcome,
    Pkcs12Profile,
    ProbeConfig,
    RotationReport,
    RotationRequest,
    VersionInfo,
)
from rotator.standing import StatusReport, TargetStatus
from rotator.state.records import AppliedCredential, ConnectorRecord, HistoryEntry, Pin
from rotator.steps import package, plan, verify
from rotator.steps.progress import Progress

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
VAULT = "https://kv.vault.azure.net"
CERT = CertificateTarget("c1", VAULT, "api-cert")
OVERLAP = CertificateTarget("c1", VAULT, "api-cert", InstallMode.OVERLAP)
BASIC = BasicTarget("b1", VAULT, "api-user", "api-password")
NONE = ConnectorRecord("c1")
REQUEST = RotationRequest()


def version(
    vid: str,
    *,
    created: int,
    nbf: int | None = None,
    exp: int = 90,
    thumbprint: str | None = "",
) -> VersionInfo:
    return VersionInfo(
        name="api-cert",
        version=vid,
        enabled=True,
        created_on=NOW + created * DAY,
        not_before=NOW + nbf * DAY if nbf is not None else None,
        expires_on=NOW + exp * DAY,
        thumbprint=(vid.upper() * 4) if thumbprint == "" else thumbprint,
    )


def holding(*thumbprints: str, until: int = 30, expired: int = 0) -> ConnectorState:
    certs = [
        GraphCertificate(t, NOW - 60 * DAY, NOW + until * DAY, i == 0)
        for i, t in enumerate(thumbprints)
    ]
    certs += [GraphCertificate(f"OLD{i}", NOW - 99 * DAY, NOW - DAY, False) for i in range(expired)]
    return ConnectorState("c1", "API", "certificate", certificates=tuple(certs))


def basic_connector(username: str = "api-user") -> ConnectorState:
    return ConnectorState("b1", "API", "basic", username=username)


# -- plan ----------------------------------------------------------------------------------


def test_choose_takes_the_newest_usable_version() -> None:
    """Without a pin or a requested version, the newest created usable version is chosen."""
    versions = [version("a", created=-9), version("b", created=-1), version("c", created=-5)]
    choice = plan.choose(CERT, versions, REQUEST, NONE, NOW)
    assert (choice.version.version, choice.pin, choice.cleared) == ("b", None, None)


def test_choose_without_versions_is_not_found() -> None:
    """An object with no versions does not exist: a 404 KeyVaultError naming it and the config."""
    with pytest.raises(KeyVaultError) as raised:
        plan.choose(CERT, [], REQUEST, NONE, NOW)
    assert raised.value.status == 404
    assert str(raised.value) == (
        f"certificate 'api-cert' in {VAULT} was not found (it has no versions); "
        "check the name in ROTATOR_CONFIG"
    )


def test_a_requested_version_pins_it_with_who_and_why() -> None:
    """A rollback pins the version with the reason, the requester and the newest creation time."""
    versions = [version("a", created=-9), version("b", created=-1)]
    request = RotationRequest(version="A", reason="bad cert", requested_by="ops")
    choice = plan.choose(CERT, versions, request, NONE, NOW)
    assert choice.version.version == "a"
    assert choice.pin == Pin("a", "2026-11-27T12:00:00Z", "bad cert", "ops", "2026-11-26T12:00:00Z")


def test_a_pin_holds_until_a_newer_version_is_added() -> None:
    """A pinned version stays chosen while nothing newer than the pin's newest version exists."""
    versions = [version("a", created=-9), version("b", created=-1)]
    pin = Pin("a", "2026-11-27T00:00:00Z", "why", None, "2026-11-26T12:00:00Z")
    record = ConnectorRecord("c1", pin=pin)
    choice = plan.choose(CERT, versions, REQUEST, record, NOW)
    assert (choice.version.version, choice.pin, choice.cleared) == ("a", pin, None)
    newer = [*versions, version("c", created=0)]
    moved = plan.choose(CERT, newer, REQUEST, record, NOW + DAY)
    assert moved.version.version == "c"
    assert moved.pin is None
    assert moved.cleared == plan.ClearedPin("a", "version c was added to Key Vault after the pin")


def test_a_pin_gives_way_when_its_version_is_gone() -> None:
    """A pin on a version Key Vault no longer lists is cleared, and says so."""
    pin = Pin("gone", "2026-11-27T00:00:00Z", None, None, None)
    choice = plan.choose(
        CERT, [version("a", created=-9)], REQUEST, ConnectorRecord("c1", pin=pin), NOW
    )
    assert choice.version.version == "a"
    assert choice.cleared == plan.ClearedPin(
        "gone", "the pinned version gone is gone from Key Vault"
    )


def test_replace_plan_is_in_sync_only_with_the_certificate_alone() -> None:
    """Replace mode is in sync when the connector holds exactly the chosen thumbprint."""
    versions = [version("a", created=-1)]
    choice = plan.choose(CERT, versions, REQUEST, NONE, NOW)
    alone = plan.make(CERT, choice, versions, NONE, holding("AAAA"), REQUEST, NOW)
    assert alone.in_sync
    assert alone.replace
    assert alone.versions == versions
    beside = plan.make(CERT, choice, versions, NONE, holding("AAAA", "BBBB"), REQUEST, NOW)
    assert not beside.in_sync


def test_overlap_plan_pre_stages_a_future_version() -> None:
    """Overlap mode plans the current version plus a newer one not valid yet, and uploads."""
    versions = [version("a", created=-9), version("f", created=-1, nbf=5)]
    choice = plan.choose(OVERLAP, versions, REQUEST, NONE, NOW)
    planned = plan.make(OVERLAP, choice, versions, NONE, holding("AAAA"), REQUEST, NOW)
    assert [v.version for v in planned.versions] == ["a", "f"]
    assert not planned.replace
    assert not planned.compact
    assert not planned.in_sync
    both = plan.make(OVERLAP, choice, versions, NONE, holding("AAAA", "FFFF"), REQUEST, NOW)
    assert both.in_sync


def test_overlap_with_a_probe_defers_a_future_version() -> None:
    """Overlap + probe: a version not valid yet is not planned (no server accepts it before its
    notBefore); it is the plan's ``deferred``, with a reason naming it and its date."""
    probed = CertificateTarget("c1", VAULT, "api-cert", InstallMode.OVERLAP, ProbeConfig())
    versions = [version("a", created=-9), version("f", created=-1, nbf=5)]
    choice = plan.choose(probed, versions, REQUEST, NONE, NOW)
    planned = plan.make(probed, choice, versions, NONE, holding("AAAA"), REQUEST, NOW)
    assert [v.version for v in planned.versions] == ["a"]
    assert planned.pending is None
    assert planned.deferred is not None
    assert planned.deferred.version == "f"
    assert planned.in_sync
    assert planned.deferred_reason() == (
        "certificate FFFF (version f) is not valid until 2026-12-02 12:00 UTC: not pre-staged, "
        "since the API cannot be probed with it before then; the first run after that date "
        "probes it"
    )
    unprobed = plan.make(OVERLAP, choice, versions, NONE, holding("AAAA"), REQUEST, NOW)
    assert unprobed.deferred is None
    assert unprobed.deferred_reason() == ""


def test_a_deferred_version_reaches_the_outcome() -> None:
    """Progress.defer: the outcome carries ``deferredUntil`` and, once packaged, the note."""
    future = version("f", created=-1, nbf=5)
    run = Progress(OVERLAP)
    run.defer(future, "waits")
    outcome = run.outcome(Outcome.DEFERRED, "waits")
    assert outcome.deferred_until == NOW + 5 * DAY
    assert outcome.to_json()["deferredUntil"] == "2026-12-02T12:00:00Z"
    assert Outcome.DEFERRED.ok
    assert Progress(OVERLAP).outcome(Outcome.ROTATED, None).deferred_until is None
    info = version("p", created=-1, thumbprint=None)
    choice = plan.choose(BASIC, [info], REQUEST, NONE, NOW)
    wanted = plan.make(BASIC, choice, [info], NONE, basic_connector(), REQUEST, NOW)
    run.packaged(package.PasswordChange(wanted, "api-user", "pw", notes=("first",)))
    assert run.notes == ["first", "waits"]


def test_overlap_with_expired_entries_compacts_by_replacing() -> None:
    """An overlap list holding expired certificates is replaced, so it is not in sync."""
    versions = [version("a", created=-9)]
    choice = plan.choose(OVERLAP, versions, REQUEST, NONE, NOW)
    planned = plan.make(OVERLAP, choice, versions, NONE, holding("AAAA", expired=1), REQUEST, NOW)
    assert planned.compact
    assert planned.replace
    assert not planned.in_sync


@pytest.mark.parametrize("request_", [RotationRequest(force=True), RotationRequest(version="a")])
def test_force_and_rollback_always_replace(request_: RotationRequest) -> None:
    """An emergency or a rollback replaces even in overlap mode, and pre-stages nothing."""
    versions = [version("a", created=-9), version("f", created=-1, nbf=5)]
    choice = plan.choose(OVERLAP, versions, request_, NONE, NOW)
    planned = plan.make(OVERLAP, choice, versions, NONE, holding("AAAA"), request_, NOW)
    assert planned.replace
    assert planned.pending is None


def test_a_version_without_thumbprint_is_a_key_vault_error() -> None:
    """A certificate version Key Vault lists without x5t cannot be compared: a KeyVaultError."""
    versions = [version("a", created=-1, thumbprint=None)]
    choice = plan.choose(CERT, versions, REQUEST, NONE, NOW)
    with pytest.raises(KeyVaultError, match="a version lists no thumbprint in Key Vault"):
        plan.make(CERT, choice, versions, NONE, holding("AAAA"), REQUEST, NOW)


def test_basic_is_in_sync_only_with_the_applied_version_and_username() -> None:
    """Basic auth is in sync when the store applied this version of this secret, same username."""
    versions = [version("v2", created=-1, thumbprint=None)]
    applied = AppliedCredential(VAULT.upper(), "api-password", "v2", None, "2026-11-26T00:00:00Z")
    record = ConnectorRecord("b1", applied=applied)
    choice = plan.choose(BASIC, versions, REQUEST, record, NOW)
    assert plan.make(BASIC, choice, versions, record, basic_connector(), REQUEST, NOW).in_sync
    other_user = basic_connector("someone")
    assert not plan.make(BASIC, choice, versions, record, other_user, REQUEST, NOW).in_sync
    assert not plan.make(BASIC, choice, versions, NONE, basic_connector(), REQUEST, NOW).in_sync


def test_in_sync_reason_names_versions_and_the_pin() -> None:
    """The up-to-date sentence lists thumbprint and version, and a pin with its reason."""
    pin = Pin("a", "2026-11-27T00:00:00Z", "incident 42", None, None)
    text = plan.in_sync_reason([version("a", created=-1)], pin)
    assert text == (
        "connector already holds AAAA (version a); pinned since 2026-11-27T00:00:00Z (incident 42)"
    )
    assert plan.in_sync_reason([version("v", created=-1, thumbprint=None)], None) == (
        "connector already holds version v"
    )


# -- package -------------------------------------------------------------------------------


@dataclass
class FakeVault:
    """Secrets by (name, version); records what was read."""

    secrets: dict[tuple[str, str], SecretValue]
    vault_url: str = VAULT
    reads: list[tuple[str, str]] = field(default_factory=list)

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        raise AssertionError("package never lists")

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        raise AssertionError("package never lists")

    def get_secret(self, name: str, version: str) -> SecretValue:
        self.reads.append((name, version))
        return self.secrets[(name, version)]


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Steps Test CA")


def cert_version(
    ca: pki.Issued, vid: str, *, nbf: int = -1, exp: int = 90, created: int = -1
) -> tuple[VersionInfo, SecretValue]:
    now = pki.utcnow()
    leaf = pki.make_leaf("api", issuer=ca, not_before=now + nbf * DAY, not_after=now + exp * DAY)
    info = VersionInfo(
        "api-cert",
        vid,
        True,
        now + created * DAY,
        now + nbf * DAY,
        now + exp * DAY,
        leaf.thumbprint,
    )
    value = pki.pem_bundle(leaf.key, leaf.certificate, [ca.certificate])
    return info, SecretValue(value, "application/x-pem-file")


def planned(
    target: CertificateTarget, versions: list[VersionInfo], connector: ConnectorState
) -> plan.ConnectorPlan:
    now = pki.utcnow()
    choice = plan.choose(target, versions, REQUEST, NONE, now)
    return plan.make(target, choice, versions, NONE, connector, REQUEST, now)


def packaged(
    vault: FakeVault,
    wanted: plan.ConnectorPlan,
    connector: ConnectorState,
    *,
    now: dt.datetime | None = None,
    force: bool = False,
) -> package.Change:
    return package.change_for(
        vault,
        wanted,
        connector,
        now=now or pki.utcnow(),
        profile=Pkcs12Profile.LEGACY_3DES,
        force=force,
    )


def test_package_repackages_the_chosen_certificate(ca: pki.Issued) -> None:
    """A replace packages the chosen version as a 3DES PKCS#12 with a fresh password."""
    info, secret = cert_version(ca, "a")
    vault = FakeVault({("api-cert", "a"): secret})
    wanted = planned(CERT, [info], holding("OTHER", until=10))
    change = packaged(vault, wanted, holding("OTHER", until=10))
    assert isinstance(change, package.CertificateChange)
    assert [i.thumbprint for i in change.installs] == [info.thumbprint]
    assert change.installs[0].password
    assert change.installs[0].pfx
    assert "password" not in repr(change.installs[0])
    assert change.notes == ()
    assert change.describe(holding("OTHER", until=10), pki.utcnow()).startswith(
        "replace certificate OTHER"
    )


def test_overlap_packages_only_what_the_connector_lacks(ca: pki.Issued) -> None:
    """Overlap uploads the pre-stage only when the current certificate is already held."""
    current, current_secret = cert_version(ca, "a", created=-9)
    future, future_secret = cert_version(ca, "f", nbf=5, exp=120, created=-1)
    vault = FakeVault({("api-cert", "a"): current_secret, ("api-cert", "f"): future_secret})
    connector = holding(current.thumbprint or "", until=80)
    wanted = planned(OVERLAP, [current, future], connector)
    change = packaged(vault, wanted, connector)
    assert isinstance(change, package.CertificateChange)
    assert [i.version.version for i in change.installs] == ["f"]
    assert vault.reads == [("api-cert", "f")]
    assert "pre-staged until" in change.describe(connector, pki.utcnow())


def test_a_broken_pre_stage_is_left_out_with_a_note(ca: pki.Issued) -> None:
    """A future version that fails validation does not block the current one; the change says so."""
    current, current_secret = cert_version(ca, "a", created=-9)
    future, _ = cert_version(ca, "f", nbf=5, exp=120, created=-1)
    vault = FakeVault(
        {
            ("api-cert", "a"): current_secret,
            ("api-cert", "f"): SecretValue("not pem", "application/x-pem-file"),
        }
    )
    wanted = planned(OVERLAP, [current, future], holding("OTHER", until=10))
    change = packaged(vault, wanted, holding("OTHER", until=10))
    assert isinstance(change, package.CertificateChange)
    assert [i.version.version for i in change.installs] == ["a"]
    assert len(change.notes) == 1
    assert change.notes[0].startswith("pre-staging refused: ")


def test_a_shorter_certificate_is_refused_unless_forced(ca: pki.Issued) -> None:
    """A certificate expiring before the active one is refused; --force installs it."""
    info, secret = cert_version(ca, "a", exp=10)
    vault = FakeVault({("api-cert", "a"): secret})
    connector = holding("OTHER", until=60)
    wanted = planned(CERT, [info], connector)
    with pytest.raises(CredentialError, match="before the certificate the connector uses now"):
        packaged(vault, wanted, connector)
    forced = packaged(vault, wanted, connector, force=True)
    assert isinstance(forced, package.CertificateChange)
    assert len(forced.installs) == 1


def test_an_empty_password_is_refused() -> None:
    """A basic-auth secret version whose value is blank is refused, naming the version."""
    info = version("v1", created=-1, thumbprint=None)
    vault = FakeVault({("api-password", "v1"): SecretValue("  \n", None)})
    choice = plan.choose(BASIC, [info], REQUEST, NONE, NOW)
    wanted = plan.make(BASIC, choice, [info], NONE, basic_connector(), REQUEST, NOW)
    with pytest.raises(CredentialError) as raised:
        packaged(vault, wanted, basic_connector(), now=NOW)
    assert str(raised.value) == f"secret 'api-password' in {VAULT} version v1 is empty"


def test_a_password_change_never_shows_the_password() -> None:
    """The basic-auth change describes the switch, and its repr hides the password."""
    info = version("v1", created=-1, thumbprint=None)
    vault = FakeVault({("api-password", "v1"): SecretValue("s3cret-value", None)})
    choice = plan.choose(BASIC, [info], REQUEST, NONE, NOW)
    wanted = plan.make(BASIC, choice, [info], NONE, basic_connector(), REQUEST, NOW)
    change = packaged(vault, wanted, basic_connector(), now=NOW)
    assert "s3cret-value" not in repr(change)
    assert change.describe(basic_connector(), NOW, done=True) == (
        "replaced basic auth as 'api-user' with version v1 for 'api-user'"
    )


# -- progress: how a run becomes an outcome ------------------------------------------------


@pytest.mark.parametrize(
    ("error", "outcome", "unverified"),
    [
        (CredentialError("bad"), Outcome.REFUSED, False),
        (GraphError("no", status=403), Outcome.FAILED, False),
        (GraphError("lost", may_have_landed=True), Outcome.FAILED, True),
        (VerificationError("not shown"), Outcome.FAILED, True),
        (KeyVaultError("kv"), Outcome.FAILED, False),
        (OSError("disk"), Outcome.FAILED, False),
        (ValueError("odd"), Outcome.FAILED, False),
    ],
)
def test_a_failure_becomes_an_outcome(error: Exception, outcome: Outcome, unverified: bool) -> None:
    """Validation refuses; everything else fails; a write of unknown fate is unverified."""
    result = Progress(CERT).failed(error)
    assert (result.outcome, result.unverified) == (outcome, unverified)


def test_a_failure_after_a_write_is_unverified() -> None:
    """Once Graph accepted a write, any later Graph failure says a write may have landed."""
    run = Progress(CERT)
    run.wrote = True
    result = run.failed(GraphError("second upload failed", status=500, request_id="r1"))
    assert result.unverified
    assert result.request_id == "r1"
    assert result.graph_status == 500
    assert result.reason == "second upload failed (a write may have landed; the next run checks)"


def test_an_unexpected_error_names_its_type() -> None:
    """A bug in rotator still ends as this connector's failure, named by its exception type."""
    assert Progress(CERT).failed(KeyError("x")).reason == "unexpected KeyError: 'x'"


def test_basic_outcomes_carry_no_certificate_fields() -> None:
    """A basic-auth outcome shows the version and expiry, never a thumbprint or notAfter."""
    run = Progress(BASIC)
    run.at(version("v1", created=-1))
    result = run.outcome(Outcome.ROTATED, "done")
    assert result.key_vault_version == "v1"
    assert result.expires_on == NOW + 90 * DAY
    assert result.thumbprint is None
    assert result.not_after is None


# -- verify --------------------------------------------------------------------------------


def test_verify_mismatch_accepts_exactly_what_was_written(ca: pki.Issued) -> None:
    """A replace is confirmed by the thumbprint alone with its notAfter; anything else says why."""
    info, secret = cert_version(ca, "a")
    vault = FakeVault({("api-cert", "a"): secret})
    now = pki.utcnow()
    wanted = planned(CERT, [info], holding("OTHER", until=10))
    change = packaged(vault, wanted, holding("OTHER", until=10), now=now)
    assert isinstance(change, package.CertificateChange)
    install = change.installs[0]
    good = ConnectorState(
        "c1",
        "API",
        "certificate",
        certificates=(
            GraphCertificate(install.thumbprint, install.not_before, install.not_after, True),
        ),
    )
    assert verify.mismatch(change, good, now) is None
    both = ConnectorState(
        "c1",
        "API",
        "certificate",
        certificates=(*good.certificates, *holding("OTHER").certificates),
    )
    assert "expected" in (verify.mismatch(change, both, now) or "")


def test_verify_gives_up_with_what_graph_showed_last() -> None:
    """Verification polls until its deadline, then says how many reads and what was wrong."""

    class StaleGraph:
        reads = 0

        def get_connector(
            self, connector_id: str, *, within: float | None = None
        ) -> ConnectorState:
            StaleGraph.reads += 1
            return basic_connector("someone-else")

    info = version("v1", created=-1, thumbprint=None)
    choice = plan.choose(BASIC, [info], REQUEST, NONE, NOW)
    wanted = plan.make(BASIC, choice, [info], NONE, basic_connector(), REQUEST, NOW)
    change = package.PasswordChange(wanted, "api-user", "pw")
    sleeps: list[float] = []
    with pytest.raises(VerificationError) as raised:
        verify.confirm(
            StaleGraph(),  # type: ignore[arg-type]  # a fake with only get_connector
            "b1",
            change,
            timeout=0.0,
            clock=lambda: NOW,
            sleep=sleeps.append,
        )
    assert StaleGraph.reads == 1
    assert sleeps == []
    assert str(raised.value) == (
        "connector b1: the write was accepted but not confirmed after 1 read(s): Graph shows "
        "username 'someone-else', expected 'api-user'; the next run checks again"
    )


# -- render --------------------------------------------------------------------------------


def test_render_report_has_a_block_per_connector_and_a_summary() -> None:
    """The rotate report prints each connector's outcome, its version and a counted summary."""
    run = Progress(BASIC)
    run.at(version("v1", created=-1))
    report = RotationReport(
        (run.outcome(Outcome.ROTATED, "replaced"),), "cli", NOW, NOW + DAY / 1000
    )
    text = render_report(report)
    assert text.splitlines()[0] == "rotated     b1  (basic)"
    assert "            key vault  api-password/v1" in text
    assert text.splitlines()[-1] == "1 connector(s): 1 rotated in 86.40 s"


def test_render_status_marks_out_of_sync_connectors() -> None:
    """Status shows BEHIND for a connector out of sync, with its newest version."""
    status = TargetStatus(
        "c1", CERT.kind, "api-cert", False, graph="certificate X", target_version="v9"
    )
    lines = render_status(StatusReport((status,))).splitlines()
    assert lines[0] == "BEHIND      c1  (certificate: api-cert)"
    assert lines[2] == "            newest     v9"


def test_render_history_is_newest_first() -> None:
    """History prints the newest entry first, with who asked and the reason under it."""
    old = HistoryEntry("2026-11-01T00:00:00Z", "timer", "rotated", "v1")
    new = HistoryEntry(
        "2026-11-02T00:00:00Z", "http", "failed", "v2", reason="boom", requested_by="ops"
    )
    text = render_history("c1", ConnectorRecord("c1", history=(old, new)))
    lines = text.splitlines()
    assert lines[0] == "c1"
    assert lines[1].startswith("  2026-11-02T00:00:00Z  failed")
    assert lines[1].endswith("v2 by ops")
    assert lines[2] == "             boom"
    assert lines[3].startswith("  2026-11-01T00:00:00Z  rotated")
