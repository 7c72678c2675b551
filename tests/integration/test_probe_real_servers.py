"""The probe against the servers that really front B2C APIs (issue 18): per server and credential,
a whole rotation (Key Vault and Graph from the emulator, the API a real nginx, Apache, uvicorn,
hypercorn or gunicorn on loopback) and its verdict, the evidence that decided it, and whether
Graph was written.

These assert the verdict-on-evidence probe of issue 18 item 1 (``probe.evidence``, the control
request, ``deferred``); they carry the ``real_servers`` marker, so
``.venv/bin/pytest -m real_servers`` runs them alone.
What each server does on the wire is asserted, in every run, by test_real_servers_wire.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki
from rotator.model import RotationRequest, TargetOutcome

from .real_servers import BASIC_PASSWORD, BASIC_USER, RealServers, url_of
from .support import graph_writes, make_rotator, seed_secret

pytestmark = [pytest.mark.real_servers, pytest.mark.usefixtures("azure_env")]

DAY = dt.timedelta(days=1)
ACCEPTED = ("accepted", "status", True)
REFUSED_STATUS = ("rejected", "status", False)
REFUSED_NGINX = ("rejected", "nginx-certificate-error", False)
REFUSED_ALERT = ("rejected", "tls-alert", False)
REFUSED_CLOSED = ("rejected", "closed-after-handshake", False)

# server → (verdict, evidence, Graph written) for the trusted, untrusted and not-pinned client
CERTIFICATE_MATRIX: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "nginx-on": (ACCEPTED, REFUSED_NGINX, ACCEPTED),
    "nginx-optional-if": (ACCEPTED, REFUSED_NGINX, ACCEPTED),
    "nginx-no-ca-map": (ACCEPTED, REFUSED_STATUS, REFUSED_STATUS),
    "nginx-error-page": (ACCEPTED, REFUSED_STATUS, ACCEPTED),
    "nginx-arr": (ACCEPTED, REFUSED_STATUS, REFUSED_STATUS),
    "nginx-no-client-auth": (("accepted", "no-client-auth", True),) * 3,
    "nginx-validation-error": (("unknown", "control-same", False),) * 3,
    "nginx-outage": (("unknown", "status", False),) * 3,
    "apache-tls13": (ACCEPTED, REFUSED_ALERT, ACCEPTED),
    "apache-tls12": (ACCEPTED, REFUSED_ALERT, ACCEPTED),
    "uvicorn": (ACCEPTED, REFUSED_CLOSED, ACCEPTED),
    "hypercorn": (ACCEPTED, REFUSED_CLOSED, ACCEPTED),
    "gunicorn": (ACCEPTED, REFUSED_ALERT, ACCEPTED),
}
CERTIFICATE_CASES = [
    pytest.param(server, credential, *expected, id=f"{server}-{credential}")
    for server, row in CERTIFICATE_MATRIX.items()
    for credential, expected in zip(("trusted", "untrusted", "not-pinned"), row, strict=True)
]
OUTCOME_OF_VERDICT = {"accepted": "rotated", "rejected": "refused", "unknown": "failed"}


def ca_bundle(emu: Emulator, servers: RealServers, tmp_path: Path) -> str:
    """A CA file trusting the emulator (Graph, Key Vault) and the real servers (the probe)."""
    path = tmp_path / "ca-bundle.pem"
    path.write_bytes(emu.ca_pem + (servers.workdir / "server-ca.pem").read_bytes())
    return str(path)


def certificate_rotation(
    emu: Emulator,
    servers: RealServers,
    tmp_path: Path,
    server: str,
    credential: str,
    *,
    mode: str = "replace",
    probe: dict[str, Any] | None = None,
) -> tuple[str, TargetOutcome]:
    """Rotate a connector on an old certificate to client ``credential`` (Key Vault's newest
    version), probing real server ``server``; returns the connector id and the outcome."""
    url = url_of(servers, server)
    certs = servers.certificates
    issuer = certs.other_ca if credential == "untrusted" else certs.client_ca
    now = pki.utcnow()
    old = pki.make_leaf(
        "old client", issuer=certs.client_ca, not_before=now - 300 * DAY, not_after=now + 30 * DAY
    )
    emu.vault.import_certificate(
        "api-cert", old, chain=[certs.client_ca.certificate], created=now - 300 * DAY
    )
    emu.vault.import_certificate(
        "api-cert", certs.clients[credential], chain=[issuer.certificate], created=now - DAY
    )
    connector = emu.graph.add_connector("Real API", url)
    emu.graph.install_certificate(connector, old, chain=[certs.client_ca.certificate])
    target = {"id": connector, "certificate": "api-cert", "mode": mode, "probe": probe or {}}
    emu.clear_journal()
    with make_rotator(
        emu, tmp_path, target, ROTATOR_CA_BUNDLE=ca_bundle(emu, servers, tmp_path)
    ) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    return connector, outcome


@pytest.mark.parametrize(
    ("server", "credential", "verdict", "evidence", "written"), CERTIFICATE_CASES
)
def test_the_probe_tells_the_truth_about_a_client_certificate(
    emu: Emulator,
    real_servers: RealServers,
    tmp_path: Path,
    server: str,
    credential: str,
    verdict: str,
    evidence: str,
    written: bool,
) -> None:
    """Each server and client certificate gives the verdict and evidence of the matrix, and Graph
    is written only after an accepted one: no false accept on nginx's 400 pages, a 503, or
    B2C's 400 answered to every caller."""
    connector, outcome = certificate_rotation(emu, real_servers, tmp_path, server, credential)
    probe = outcome.to_json().get("probe") or {}
    assert (probe.get("verdict"), probe.get("evidence")) == (verdict, evidence), outcome.reason
    assert outcome.outcome.value == OUTCOME_OF_VERDICT[verdict], outcome.reason
    assert bool(graph_writes(emu)) is written
    installed = [c.thumbprint for c in emu.graph.connector(connector).certificates]
    new = real_servers.certificates.clients[credential].thumbprint
    assert (new in installed) is written
    if evidence.startswith("control-") or evidence == "no-client-auth":
        assert "control" in probe


@pytest.mark.parametrize(
    ("server", "password", "verdict", "evidence", "written"),
    [
        ("nginx-basic-api", BASIC_PASSWORD, *ACCEPTED),
        ("nginx-basic-api", "wrong-password", *REFUSED_STATUS),
        ("nginx-basic-static", BASIC_PASSWORD, "accepted", "control-differs", True),
        ("nginx-basic-static", "wrong-password", *REFUSED_STATUS),
    ],
)
def test_the_probe_tells_the_truth_about_a_password(
    emu: Emulator,
    real_servers: RealServers,
    tmp_path: Path,
    server: str,
    password: str,
    verdict: str,
    evidence: str,
    written: bool,
) -> None:
    """nginx auth_basic: a wrong password is refused on its 401; the right one is accepted on a
    200, or on a 405 (a static file takes no POST) because the control password got a 401."""
    url = url_of(real_servers, server)
    seed_secret(emu, "api-password", [{"value": "old-pass", "age": 9}, {"value": password}])
    connector = emu.graph.add_connector("Real API", url, username=BASIC_USER, password="old-pass")
    target = {
        "id": connector,
        "basic": {"username": BASIC_USER, "passwordSecret": "api-password"},
        "probe": {},
    }
    emu.clear_journal()
    with make_rotator(
        emu, tmp_path, target, ROTATOR_CA_BUNDLE=ca_bundle(emu, real_servers, tmp_path)
    ) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    probe = outcome.to_json().get("probe") or {}
    assert (probe.get("verdict"), probe.get("evidence")) == (verdict, evidence), outcome.reason
    assert outcome.outcome.value == OUTCOME_OF_VERDICT[verdict], outcome.reason
    assert emu.graph.password_matches(connector, password) is written
    assert bool(graph_writes(emu)) is written


@pytest.mark.parametrize(
    ("server", "credential", "verdict"),
    [
        ("nginx-on", "untrusted", "rejected"),
        ("uvicorn", "untrusted", "rejected"),
        ("nginx-outage", "trusted", "unknown"),
        ("nginx-validation-error", "trusted", "unknown"),
    ],
)
def test_probe_not_required_never_writes_after_the_api_answered(
    emu: Emulator,
    real_servers: RealServers,
    tmp_path: Path,
    server: str,
    credential: str,
    verdict: str,
) -> None:
    """``required: false`` goes on only when the API could not be reached: a refusal, a closed
    handshake or an answer that proves nothing still writes nothing."""
    _, outcome = certificate_rotation(
        emu, real_servers, tmp_path, server, credential, probe={"required": False}
    )
    probe = outcome.to_json().get("probe") or {}
    assert probe.get("verdict") == verdict, outcome.reason
    assert outcome.outcome.value in ("refused", "failed"), outcome.reason
    assert graph_writes(emu) == []


@pytest.mark.parametrize("server", ["nginx-on", "nginx-no-ca-map", "apache-tls13", "uvicorn"])
def test_a_not_yet_valid_certificate_is_deferred_not_probed(
    emu: Emulator, real_servers: RealServers, tmp_path: Path, server: str
) -> None:
    """Overlap mode, a certificate whose notBefore is tomorrow: every server would judge it as of
    now, so it is neither probed nor uploaded; the outcome is ``deferred`` until its start."""
    _, outcome = certificate_rotation(
        emu, real_servers, tmp_path, server, "not-yet-valid", mode="overlap"
    )
    data = outcome.to_json()
    assert data["outcome"] == "deferred", outcome.reason
    not_before = real_servers.certificates.clients["not-yet-valid"].certificate.not_valid_before_utc
    assert str(data.get("deferredUntil", "")).startswith(f"{not_before:%Y-%m-%dT%H:%M}")
    assert graph_writes(emu) == []
    probe = data.get("probe")
    assert probe is None or not probe.get("attempts"), probe  # the API was never called


def test_an_expired_certificate_never_reaches_the_probe(
    emu: Emulator, real_servers: RealServers, tmp_path: Path
) -> None:
    """An expired version in Key Vault is not a candidate: no probe, nothing written."""
    _, outcome = certificate_rotation(emu, real_servers, tmp_path, "nginx-on", "expired")
    assert outcome.probe is None
    assert graph_writes(emu) == []


@pytest.mark.parametrize(
    ("server", "evidence"),
    [
        ("apache-tls13", "tls-alert"),
        ("gunicorn", "tls-alert"),
        ("uvicorn", "closed-after-handshake"),
    ],
)
def test_a_refusal_after_the_handshake_is_read_as_rejected_every_time(
    emu: Emulator, real_servers: RealServers, tmp_path: Path, server: str, evidence: str
) -> None:
    """A server refusing after the TLS 1.3 handshake (an alert, or a close without one) is read
    as rejected in 20 probes of 20 (``--dry-run`` rotations: nothing is written whatever they
    say)."""
    url = url_of(real_servers, server)
    certs = real_servers.certificates
    emu.vault.import_certificate(
        "api-cert", certs.clients["untrusted"], chain=[certs.other_ca.certificate]
    )
    connector = emu.graph.add_connector("Real API", url)
    target = {"id": connector, "certificate": "api-cert", "probe": {}}
    seen = []
    with make_rotator(
        emu, tmp_path, target, ROTATOR_CA_BUNDLE=ca_bundle(emu, real_servers, tmp_path)
    ) as rotator:
        for _ in range(20):
            (outcome,) = rotator.rotate(RotationRequest(dry_run=True)).outcomes
            probe = outcome.to_json().get("probe") or {}
            seen.append((probe.get("verdict"), probe.get("evidence")))
    assert seen == [("rejected", evidence)] * 20
    assert graph_writes(emu) == []
