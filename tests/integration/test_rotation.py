"""End-to-end rotations: the real SDK clients and httpx against the emulator over HTTPS."""

from __future__ import annotations

from pathlib import Path

import pytest

from rotator.emulator import Emulator, pki
from rotator.model import Outcome, RotationRequest

from .support import graph_writes, make_rotator, requests, seed_certificate, seed_secret

pytestmark = pytest.mark.usefixtures("azure_env")


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Integration CA")


def cert_connector(emu: Emulator, ca: pki.Issued) -> tuple[str, list[str], list[pki.Issued]]:
    """A connector holding an old certificate, and a vault whose newest usable version is index 1."""
    seeded = seed_certificate(
        emu,
        "api-cert",
        ca,
        [
            {"age": 300, "valid": (-300, 30)},  # 0: on the connector today
            {"age": 2, "valid": (-2, 365)},  # 1: newest usable
            {"age": 1, "valid": (-1, 400), "enabled": False},  # 2: disabled
            {"age": 0, "valid": (10, 400)},  # 3: not yet valid
        ],
    )
    connector = emu.graph.add_connector("Cert API", "https://api.test/cert")
    emu.graph.install_certificate(connector, seeded.leaves[0], chain=[ca.certificate])
    return connector, seeded.versions, seeded.leaves


def test_certificate_rotation_installs_the_newest_usable_version(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The connector ends with exactly the newest usable certificate, 3DES, chain included."""
    connector, versions, leaves = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        report = rotator.rotate(RotationRequest())
    (outcome,) = report.outcomes
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.key_vault_version == versions[1]
    assert outcome.thumbprint == leaves[1].thumbprint
    assert outcome.not_after == leaves[1].certificate.not_valid_after_utc
    snapshot = emu.graph.connector(connector)
    assert [c.thumbprint for c in snapshot.certificates] == [leaves[1].thumbprint]
    assert snapshot.certificates[0].is_active
    assert snapshot.certificates[0].encryption == "3des"
    assert list(snapshot.certificates[0].chain_thumbprints) == [ca.thumbprint]
    assert [e.status for e in graph_writes(emu)] == [204]


def test_second_run_is_up_to_date_and_reads_no_private_key(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """When the connector holds the newest version, no secret is read and nothing is written."""
    connector, versions, _ = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(RotationRequest())
        emu.clear_journal()
        report = rotator.rotate(RotationRequest())
    assert [o.outcome for o in report.outcomes] == [Outcome.UP_TO_DATE]
    assert report.outcomes[0].key_vault_version == versions[1]
    assert requests(emu, service="vault", path="/secrets/") == []
    assert graph_writes(emu) == []


def test_basic_rotation_applies_the_newest_password(emu: Emulator, tmp_path: Path) -> None:
    """The newest enabled secret version becomes the connector's password, recorded in state."""
    seeded = seed_secret(
        emu,
        "api-password",
        [
            {"value": "first-password", "age": 30},
            {"value": "newest-password", "age": 3},
            {"value": "disabled-password", "age": 1, "enabled": False},
        ],
    )
    connector = emu.graph.add_connector(
        "Basic API", "https://api.test/b", username="svc", password="old"
    )
    target = {"id": connector, "basic": {"username": "svc", "passwordSecret": "api-password"}}
    with make_rotator(emu, tmp_path, target) as rotator:
        report = rotator.rotate(RotationRequest())
        assert report.outcomes[0].outcome is Outcome.ROTATED, report.outcomes[0].reason
        assert report.outcomes[0].key_vault_version == seeded.versions[1]
        assert emu.graph.password_matches(connector, "newest-password")
        emu.clear_journal()
        again = rotator.rotate(RotationRequest())
    assert again.outcomes[0].outcome is Outcome.UP_TO_DATE
    assert requests(emu, service="vault", path=f"/secrets/api-password/{seeded.versions[1]}") == []
    assert graph_writes(emu) == []


def test_basic_connector_switches_to_a_certificate(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A connector on basic auth is moved to certificate auth by a certificate target."""
    seeded = seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test", username="u", password="p")
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        report = rotator.rotate(RotationRequest())
    assert report.outcomes[0].outcome is Outcome.ROTATED
    assert emu.graph.connector(connector).auth_type == "certificate"
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        seeded.leaves[0].thumbprint
    ]


def test_pem_certificates_are_supported(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """A certificate kept as application/x-pem-file rotates like a PFX one."""
    seeded = seed_certificate(
        emu, "pem-cert", ca, [{"age": 1}], content_type="application/x-pem-file"
    )
    connector = emu.graph.add_connector("API", "https://api.test")
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "pem-cert"}) as rotator:
        report = rotator.rotate(RotationRequest())
    assert report.outcomes[0].outcome is Outcome.ROTATED, report.outcomes[0].reason
    assert emu.graph.connector(connector).certificates[0].thumbprint == seeded.leaves[0].thumbprint


def test_dry_run_validates_but_writes_nothing(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A dry run reads and packages the credential, says what it would do, and sends no write."""
    connector, _, leaves = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        report = rotator.rotate(RotationRequest(dry_run=True))
    outcome = report.outcomes[0]
    assert outcome.outcome is Outcome.DRY_RUN
    assert outcome.reason is not None
    assert leaves[1].thumbprint in outcome.reason
    assert report.ok
    assert graph_writes(emu) == []
    assert len(requests(emu, service="vault", path="/secrets/api-cert/")) == 1
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[0].thumbprint
    ]


def test_pinned_version_rolls_back(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """--version installs an older usable version although a newer one exists (with --force
    when it expires sooner than the one installed)."""
    connector, versions, leaves = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(RotationRequest())
        report = rotator.rotate(
            RotationRequest(
                connector_ids=(connector,), version=versions[0], force=True, reason="roll back"
            )
        )
    assert report.outcomes[0].outcome is Outcome.ROTATED, report.outcomes[0].reason
    assert report.outcomes[0].key_vault_version == versions[0]
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[0].thumbprint
    ]


def test_shorter_certificate_is_refused_without_force(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Pinning a version that expires before the installed one is refused unless forced."""
    connector, versions, _ = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(RotationRequest())
        emu.clear_journal()
        report = rotator.rotate(RotationRequest(connector_ids=(connector,), version=versions[0]))
    assert report.outcomes[0].outcome is Outcome.REFUSED
    assert "--force" in (report.outcomes[0].reason or "")
    assert graph_writes(emu) == []


def test_force_rotates_even_when_up_to_date(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """--force writes again although the connector already holds the newest version."""
    connector, _, _ = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(RotationRequest())
        emu.clear_journal()
        report = rotator.rotate(RotationRequest(force=True, reason="suspected leak"))
    assert report.outcomes[0].outcome is Outcome.ROTATED
    assert len(graph_writes(emu)) == 1


def test_one_failing_connector_does_not_stop_the_others(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """An unknown connector fails on its own; the next one is still rotated and the run is not ok."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    good = emu.graph.add_connector("API", "https://api.test")
    with make_rotator(
        emu,
        tmp_path,
        {"id": "00000000-0000-0000-0000-000000000000", "certificate": "api-cert"},
        {"id": good, "certificate": "api-cert"},
    ) as rotator:
        report = rotator.rotate(RotationRequest())
    assert [o.outcome for o in report.outcomes] == [Outcome.FAILED, Outcome.ROTATED]
    assert not report.ok
    assert report.outcomes[0].graph_status == 404
    assert report.outcomes[0].request_id


def test_graph_read_lag_is_waited_out(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """Verification polls: a GET that still shows the old state for a while is not a failure."""
    connector, _, _ = cert_connector(emu, ca)
    emu.graph.stale_reads = 2
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        report = rotator.rotate(RotationRequest())
    assert report.outcomes[0].outcome is Outcome.ROTATED, report.outcomes[0].reason
    assert len(requests(emu, service="graph", method="GET")) >= 4


def test_unconfirmed_write_is_reported_failed_with_what_graph_showed(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """If Graph never shows the new certificate, the rotation is failed, not rotated."""
    connector, _, leaves = cert_connector(emu, ca)
    emu.graph.stale_reads = 1000
    with make_rotator(
        emu, tmp_path, {"id": connector, "certificate": "api-cert"}, ROTATOR_VERIFY_TIMEOUT="1"
    ) as rotator:
        report = rotator.rotate(RotationRequest())
    outcome = report.outcomes[0]
    assert outcome.outcome is Outcome.FAILED
    assert "not confirmed" in (outcome.reason or "")
    assert leaves[0].thumbprint in (outcome.reason or "")


def test_aes_pkcs12_is_refused_by_graph_like_b2c(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """With the aes256 profile B2C answers 'password incorrect'; the error explains the real cause."""
    connector, _, leaves = cert_connector(emu, ca)
    with make_rotator(
        emu, tmp_path, {"id": connector, "certificate": "api-cert"}, ROTATOR_PKCS12_PROFILE="aes256"
    ) as rotator:
        report = rotator.rotate(RotationRequest())
    outcome = report.outcomes[0]
    assert outcome.outcome is Outcome.FAILED
    assert outcome.graph_status == 400
    assert "3DES" in (outcome.reason or "")
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[0].thumbprint
    ]


def test_status_shows_sync_and_expiry(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """status reports behind before a rotation and in sync after, with days to expiry."""
    connector, versions, leaves = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        before = rotator.status()
        rotator.rotate(RotationRequest())
        after = rotator.status()
    assert before.targets[0].in_sync is False
    assert before.targets[0].newest_version == versions[1]
    assert before.targets[0].days_to_expiry in (29, 30)
    assert after.targets[0].in_sync is True
    assert after.targets[0].graph_thumbprints == (leaves[1].thumbprint,)
    assert after.targets[0].days_to_expiry in (364, 365)
    assert graph_writes(emu) == [e for e in graph_writes(emu) if e.method == "PATCH"]


def test_history_records_rotations_with_reason(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The state store keeps who rotated what and why (and no secret)."""
    from rotator.state.local import LocalStateStore

    connector, versions, leaves = cert_connector(emu, ca)
    with make_rotator(emu, tmp_path, {"id": connector, "certificate": "api-cert"}) as rotator:
        rotator.rotate(RotationRequest(reason="quarterly", requested_by="alice", trigger="cli"))
    record = LocalStateStore(tmp_path).read(connector)
    assert record.applied is not None
    assert record.applied.version == versions[1]
    assert record.applied.thumbprint == leaves[1].thumbprint
    (entry,) = record.history
    assert (entry.outcome, entry.reason, entry.requested_by) == ("rotated", "quarterly", "alice")
