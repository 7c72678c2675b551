"""The probe: before any write to Graph, the connector's own API (the emulator's API side, over
real mutual TLS) must accept the new credential; otherwise nothing is written."""

from __future__ import annotations

import json
import logging
import os
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.emulator import Emulator, pki
from rotator.model import Outcome, RotationRequest, TargetOutcome, Verdict

from .support import graph_writes, make_rotator, requests, seed_certificate, seed_secret

pytestmark = pytest.mark.usefixtures("azure_env")


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Probe CA")


def cert_connector(
    emu: Emulator, ca: pki.Issued, name: str = "cert-api"
) -> tuple[str, list[pki.Issued], list[str]]:
    """A connector on an old certificate whose targetUrl is the emulator's API endpoint ``name``;
    Key Vault's newest usable version is index 1; the API trusts the CA at TLS and the old leaf."""
    seeded = seed_certificate(
        emu, "api-cert", ca, [{"age": 300, "valid": (-300, 30)}, {"age": 1, "valid": (-1, 365)}]
    )
    connector = emu.graph.add_connector("Cert API", emu.api_url_for(name))
    emu.graph.install_certificate(connector, seeded.leaves[0], chain=[ca.certificate])
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate(name, seeded.leaves[0].thumbprint)
    return connector, seeded.leaves, seeded.versions


def basic_connector(emu: Emulator, name: str = "basic-api") -> tuple[str, str]:
    """A basic-auth connector on an old password; Key Vault holds a new one (returned)."""
    seed_secret(emu, "api-password", [{"value": "old-pass", "age": 9}, {"value": "new-pass"}])
    connector = emu.graph.add_connector(
        "Basic API", emu.api_url_for(name), username="api-user", password="old-pass"
    )
    emu.api.accept_basic(name, "api-user", "old-pass")
    return connector, "new-pass"


def rotate_one(
    emu: Emulator,
    tmp_path: Path,
    connector: dict[str, Any],
    request: RotationRequest | None = None,
    **env: str,
) -> TargetOutcome:
    emu.clear_journal()
    with make_rotator(emu, tmp_path, connector, **env) as rotator:
        (outcome,) = rotator.rotate(request or RotationRequest()).outcomes
    return outcome


def api_calls(emu: Emulator) -> int:
    return len(requests(emu, service="api"))


def test_a_certificate_the_api_accepts_is_installed(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The API accepts the new certificate over mutual TLS: one probe, then the write."""
    connector, leaves, _ = cert_connector(emu, ca)
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint)
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.probe is not None
    assert outcome.probe.verdict is Verdict.ACCEPTED
    assert outcome.probe.status == 200
    assert outcome.probe.attempts == 1
    assert outcome.probe.url == emu.api_url_for("cert-api")
    assert api_calls(emu) == 1
    assert len(graph_writes(emu)) == 1
    journal = emu.journal()
    assert [e.service for e in journal].index("api") < [e.method for e in journal].index("PATCH")


def test_a_certificate_the_api_rejects_is_refused_and_nothing_is_written(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """HTTP 403 from the API: refused with the fix, the connector keeps its old certificate."""
    connector, leaves, _ = cert_connector(emu, ca)
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    assert outcome.outcome is Outcome.REFUSED
    assert outcome.reason == (
        f"the API at {emu.api_url_for('cert-api')} rejects the new certificate "
        f"{leaves[1].thumbprint} (HTTP 403); switching the connector now would break its user "
        "flow; make the API trust it first"
    )
    assert outcome.probe is not None
    assert outcome.probe.verdict is Verdict.REJECTED
    assert outcome.thumbprint == leaves[1].thumbprint
    assert graph_writes(emu) == []
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[0].thumbprint
    ]


def test_a_certificate_refused_in_the_tls_handshake_is_refused(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """An API whose TLS layer does not know the new issuer aborts the handshake: refused."""
    other = pki.make_ca("Other CA")
    seeded = seed_certificate(emu, "api-cert", other, [{"age": 1}])
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("tls-api"))
    emu.api.trust_issuer(ca.certificate)  # the API knows only the old issuer
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    assert outcome.outcome is Outcome.REFUSED
    assert "TLS: the handshake refused the client certificate" in (outcome.reason or "")
    assert seeded.leaves[0].thumbprint in (outcome.reason or "")
    assert outcome.probe is not None
    assert outcome.probe.status is None
    assert graph_writes(emu) == []


def test_a_certificate_refused_at_tls_says_to_trust_its_issuer(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Refused in the handshake even though its thumbprint is trusted: the fix names the CA that
    issued it, since trusting the certificate alone does not get it through."""
    other = pki.make_ca("Other CA")
    seeded = seed_certificate(emu, "api-cert", other, [{"age": 1}])
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("tls-api"))
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate("tls-api", seeded.leaves[0].thumbprint)
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    assert outcome.outcome is Outcome.REFUSED
    assert (outcome.reason or "").endswith(
        "the API's TLS server refused it: make the API trust the CA that issued it "
        "(CN=Other CA), not only the certificate, first"
    )


def test_a_generated_certificate_is_accepted_once_its_thumbprint_is_trusted(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The control surface's /generate and /api/endpoints/{name}/certificates are all a user
    needs: the API's TLS layer trusts the CA of generated certificates."""
    connector, _leaves, _ = cert_connector(emu, ca)
    verify = ssl.create_default_context(cafile=str(emu.ca_path))
    generated = httpx.post(
        f"{emu.control_url}/vault/certificates/api-cert/generate", json={}, verify=verify
    ).json()
    trusted = httpx.post(
        f"{emu.control_url}/api/endpoints/cert-api/certificates",
        json={"thumbprint": generated["thumbprint"]},
        verify=verify,
    )
    assert trusted.status_code == 204
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.thumbprint == generated["thumbprint"]


def test_a_password_the_api_accepts_is_installed(emu: Emulator, tmp_path: Path) -> None:
    """Basic auth: the probe sends the new password; accepted, then it is written."""
    connector, new = basic_connector(emu)
    emu.api.accept_basic("basic-api", "api-user", new)
    target = {"id": connector, "basic": {"username": "api-user", "passwordSecret": "api-password"}}
    outcome = rotate_one(emu, tmp_path, {**target, "probe": {}})
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.probe is not None
    assert outcome.probe.verdict is Verdict.ACCEPTED
    assert emu.graph.password_matches(connector, new)
    assert len(graph_writes(emu)) == 1


def test_a_password_the_api_rejects_is_refused(emu: Emulator, tmp_path: Path) -> None:
    """Basic auth rejected with 401: refused, the password never reaches Graph or the reason."""
    connector, new = basic_connector(emu)
    target = {"id": connector, "basic": {"username": "api-user", "passwordSecret": "api-password"}}
    outcome = rotate_one(emu, tmp_path, {**target, "probe": {}})
    assert outcome.outcome is Outcome.REFUSED
    assert "rejects the new password (version " in (outcome.reason or "")
    assert "for 'api-user' (HTTP 401)" in (outcome.reason or "")
    assert "make the API accept it first" in (outcome.reason or "")
    assert new not in json.dumps(outcome.to_json())
    assert graph_writes(emu) == []
    assert emu.graph.password_matches(connector, "old-pass")


def test_the_probe_waits_for_an_api_that_picks_up_the_credential_late(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """An API that trusts the new certificate only after 2 s is probed again until it does."""
    connector, leaves, _ = cert_connector(emu, ca)
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint, delay=2)
    target = {"id": connector, "certificate": "api-cert", "probe": {"waitSeconds": 20}}
    outcome = rotate_one(emu, tmp_path, target)
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.probe is not None
    assert outcome.probe.attempts >= 2
    assert outcome.probe.seconds >= 2
    assert [e.status for e in requests(emu, service="api")][-1] == 200
    assert len(graph_writes(emu)) == 1


def test_an_unreachable_api_fails_a_required_probe(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """No answer (connection refused) and probe.required: failed, nothing written."""
    connector, leaves, _ = cert_connector(emu, ca)
    probe = {"url": "https://127.0.0.1:1/validate"}
    outcome = rotate_one(
        emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": probe}
    )
    assert outcome.outcome is Outcome.FAILED
    assert (outcome.reason or "").startswith(
        f"cannot tell whether the API at https://127.0.0.1:1/validate accepts the new certificate "
        f"{leaves[1].thumbprint}: no answer (ConnectionRefusedError"
    )
    assert outcome.probe is not None
    assert outcome.probe.verdict is Verdict.UNKNOWN
    assert graph_writes(emu) == []


def test_an_unreachable_api_is_tolerated_when_not_required(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """probe.required false: a WARNING, and the rotation goes on, saying it had no answer."""
    connector, _, _ = cert_connector(emu, ca)
    probe = {"url": "https://127.0.0.1:1/validate", "required": False}
    with caplog.at_level(logging.WARNING, logger="rotator"):
        outcome = rotate_one(
            emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": probe}
        )
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert "went on without its word (probe.required is false)" in (outcome.reason or "")
    assert len(graph_writes(emu)) == 1
    events = [r for r in caplog.records if r.getMessage().startswith("rotation.probe")]
    assert [r.levelno for r in events] == [logging.WARNING]


def test_a_tolerated_unknown_is_said_for_a_password_too(emu: Emulator, tmp_path: Path) -> None:
    """Basic auth, no answer, probe.required false: rotated, and the reason says it went on
    without the API's word."""
    connector, new = basic_connector(emu)
    target = {"id": connector, "basic": {"username": "api-user", "passwordSecret": "api-password"}}
    probe = {"url": "https://127.0.0.1:1/validate", "required": False}
    outcome = rotate_one(emu, tmp_path, {**target, "probe": probe})
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert "went on without its word (probe.required is false)" in (outcome.reason or "")
    assert emu.graph.password_matches(connector, new)


def test_a_private_address_is_refused_without_the_test_switch(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Without ROTATOR_PROBE_ALLOW_PRIVATE the loopback API is never called: failed, named."""
    connector, _, _ = cert_connector(emu, ca)
    outcome = rotate_one(
        emu,
        tmp_path,
        {"id": connector, "certificate": "api-cert", "probe": {}},
        ROTATOR_PROBE_ALLOW_PRIVATE="false",
    )
    assert outcome.outcome is Outcome.FAILED
    assert "the probe refuses to call 127.0.0.1: a loopback address" in (outcome.reason or "")
    assert api_calls(emu) == 0
    assert graph_writes(emu) == []


def test_a_redirect_is_not_followed(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """An API answering 302 gives no verdict: a required probe fails, the redirect is not taken."""
    connector, _, _ = cert_connector(emu, ca)
    emu.faults.add(service="api", status=302)
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    assert outcome.outcome is Outcome.FAILED
    assert "HTTP 302: a redirect, not followed" in (outcome.reason or "")
    assert api_calls(emu) == 1
    assert graph_writes(emu) == []


def test_skip_probe_switches_without_asking_the_api(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """An emergency (--force --reason --skip-probe) writes without calling the API, and says so."""
    connector, _, _ = cert_connector(emu, ca)
    request = RotationRequest(force=True, reason="key leaked", skip_probe=True)
    outcome = rotate_one(
        emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}}, request
    )
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.probe is not None
    assert outcome.probe.verdict is Verdict.SKIPPED
    assert outcome.to_json()["probe"]["verdict"] == "skipped"
    assert api_calls(emu) == 0
    assert len(graph_writes(emu)) == 1


def test_a_dry_run_probes_and_writes_nothing(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """A dry run makes the real probe request and ends as a real run would: refused while the
    API rejects the certificate, a dry run once it accepts it; nothing is ever written."""
    connector, leaves, _ = cert_connector(emu, ca)
    target = {"id": connector, "certificate": "api-cert", "probe": {}}
    refused = rotate_one(emu, tmp_path, target, RotationRequest(dry_run=True))
    assert refused.outcome is Outcome.REFUSED
    assert refused.to_json()["probe"]["verdict"] == "rejected"
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint)
    accepted = rotate_one(emu, tmp_path, target, RotationRequest(dry_run=True))
    assert accepted.outcome is Outcome.DRY_RUN
    assert accepted.to_json()["probe"]["verdict"] == "accepted"
    assert api_calls(emu) == 1
    assert graph_writes(emu) == []


def test_a_connector_without_a_probe_is_not_probed(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """No "probe" in the configuration: no call to the API and no probe field in the outcome."""
    connector, _, _ = cert_connector(emu, ca)
    outcome = rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    assert outcome.outcome is Outcome.ROTATED
    assert "probe" not in outcome.to_json()
    assert api_calls(emu) == 0


def test_the_probe_leaves_no_key_file(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """No file is opened for writing while the probe runs, and no memfd stays open after it."""
    connector, leaves, _ = cert_connector(emu, ca)
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint)
    written: list[str] = []
    watching = {"on": False}
    prober = threading.get_ident()  # the emulator's own threads (its TLS files) are not watched

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if (
            watching["on"]
            and event == "open"
            and len(args) >= 2
            and threading.get_ident() == prober
        ):
            path, mode = args[0], args[1]
            if (isinstance(mode, str) and any(m in mode for m in "wax+")) or (
                isinstance(mode, int) and mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            ):
                written.append(str(path))

    sys.addaudithook(audit)
    with make_rotator(
        emu, tmp_path / "state", {"id": connector, "certificate": "api-cert", "probe": {}}
    ) as rotator:
        from rotator.steps import probe

        bundle = _bundle(leaves[1], ca)
        network = probe.Network(str(emu.ca_path), True, 10)
        config = rotator.settings.targets[0].probe
        assert config is not None
        watching["on"] = True
        try:
            verdict = probe.attempt(
                config,
                emu.api_url_for("cert-api"),
                probe.Credential(bundle=bundle),
                network,
            )
        finally:
            watching["on"] = False
    assert verdict.status == 200
    assert written == []
    open_memfds = [
        os.readlink(f"/proc/self/fd/{fd}")
        for fd in os.listdir("/proc/self/fd")
        if _readlink(f"/proc/self/fd/{fd}").startswith("/memfd:rotator-probe")
    ]
    assert open_memfds == []


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _bundle(leaf: pki.Issued, ca: pki.Issued) -> Any:
    from rotator.steps.pkcs12 import CertificateBundle

    assert isinstance(leaf.key, rsa.RSAPrivateKey)
    return CertificateBundle(leaf.certificate, leaf.key, (ca.certificate,))


@pytest.fixture
def probe_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="rotator"):
        yield caplog


def test_every_probe_is_logged_with_its_data(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, probe_log: pytest.LogCaptureFixture
) -> None:
    """rotation.probe carries the connector, URL, verdict, status, attempts and seconds."""
    connector, leaves, _ = cert_connector(emu, ca)
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint)
    rotate_one(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    (record,) = [r for r in probe_log.records if r.getMessage().startswith("rotation.probe")]
    data = record.__dict__["rotator"]
    assert data["event"] == "rotation.probe"
    assert data["connectorId"] == connector
    assert data["verdict"] == "accepted"
    assert data["status"] == 200
    assert data["attempts"] == 1
    assert data["url"] == emu.api_url_for("cert-api")


def test_check_says_whether_the_api_accepts_what_a_rotation_would_install(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """`rotator check` probes once: a rejecting API makes the plan `refuse`, with the fix."""
    from .support import environment
    from .test_check import check, finding

    connector, leaves, _ = cert_connector(emu, ca)
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    code, report = check(env)
    (target,) = report["targets"]
    assert code == 1
    assert target["plan"] == "refuse"
    rejected = finding(target, "api.probe")
    assert rejected["ok"] is False
    assert rejected["detail"].startswith(f"the API rejects the certificate {leaves[1].thumbprint}")
    assert "make the API trust the new credential" in rejected["fix"]
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint)
    code, report = check(env)
    assert code == 0, report
    assert finding(report["targets"][0], "api.probe")["ok"] is True
    assert graph_writes(emu) == []


def test_skip_probe_on_the_command_line_needs_force(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """`rotate --skip-probe` without --force is a usage error (exit 2), and nothing is called."""
    from .support import environment
    from .test_cli import run

    connector, _, _ = cert_connector(emu, ca)
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert", "probe": {}})
    emu.clear_journal()
    result = run(env, "rotate", "--skip-probe")
    assert result.returncode == 2
    assert "--skip-probe needs --force and --reason" in result.stderr
    assert emu.journal() == []
