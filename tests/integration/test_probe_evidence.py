"""The probe's verdict on evidence, over real sockets: the emulator's API side answering as nginx,
a B2C API or a gateway would (its faults), and tiny local TLS servers that trickle, flood or stay
silent. A verdict of ``accepted`` needs a 2xx or a control request answered differently."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rotator.emulator import Emulator, pki
from rotator.model import Outcome, ProbeConfig, RotationRequest, Verdict
from rotator.steps import probe
from rotator.steps.pkcs12 import CertificateBundle
from rotator.steps.probe_verdict import Reach

from .support import graph_writes, make_rotator, requests, seed_certificate
from .test_probe import api_calls, basic_connector, cert_connector, rotate_one

pytestmark = pytest.mark.usefixtures("azure_env")

NGINX_PAGE = (
    "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n"
    "<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n"
    "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
)
VALIDATION_ERROR = json.dumps(
    {"version": "1.0.0", "action": "ValidationError", "userMessage": "no", "status": 400}
)
CONTINUE = json.dumps({"version": "1.0.0", "action": "Continue"})
BASIC = {"basic": {"username": "api-user", "passwordSecret": "api-password"}}


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Evidence CA")


def cert_target(connector: str, **probe_keys: object) -> dict[str, object]:
    return {"id": connector, "certificate": "api-cert", "probe": dict(probe_keys)}


def test_nginx_certificate_error_page_is_a_rejection(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """nginx's 400 "The SSL certificate error" page (after a completed handshake) is rejected."""
    connector, _, _ = cert_connector(emu, ca)
    emu.faults.add(service="api", status=400, body=NGINX_PAGE, content_type="text/html", times=1)
    outcome = rotate_one(emu, tmp_path, cert_target(connector))
    assert outcome.outcome is Outcome.REFUSED, outcome.reason
    assert outcome.to_json()["probe"]["evidence"] == "nginx-certificate-error"
    assert "nginx's certificate-error page" in (outcome.reason or "")
    assert "<title>" not in json.dumps(outcome.to_json())
    assert graph_writes(emu) == []


def test_nginx_certificate_error_page_rejects_a_password_too(emu: Emulator, tmp_path: Path) -> None:
    """A basic-auth probe that meets nginx's certificate-error page is rejected as well."""
    connector, _ = basic_connector(emu)
    emu.faults.add(service="api", status=400, body=NGINX_PAGE, content_type="text/html")
    outcome = rotate_one(emu, tmp_path, {"id": connector, **BASIC, "probe": {}})
    assert outcome.outcome is Outcome.REFUSED
    assert outcome.to_json()["probe"]["evidence"] == "nginx-certificate-error"
    assert graph_writes(emu) == []


def test_a_validation_error_is_accepted_when_the_control_is_refused(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """B2C's 400 ValidationError to the new certificate, a TLS refusal to a throwaway one:
    accepted (control-differs), written; the control's answer is in the outcome."""
    connector, _, _ = cert_connector(emu, ca)
    emu.faults.add(service="api", status=400, body=VALIDATION_ERROR, times=1)
    outcome = rotate_one(emu, tmp_path, cert_target(connector))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    shown = outcome.to_json()["probe"]
    assert (shown["verdict"], shown["evidence"], shown["status"]) == (
        "accepted",
        "control-differs",
        400,
    )
    assert shown["control"] == {"answer": "tls-alert", "status": None}
    assert len(graph_writes(emu)) == 1


def test_the_same_answer_to_the_control_proves_nothing(emu: Emulator, tmp_path: Path) -> None:
    """An API that answers 400 to every password: unknown (control-same), nothing written."""
    connector, _ = basic_connector(emu)
    emu.faults.add(service="api", status=400, body=VALIDATION_ERROR)
    outcome = rotate_one(emu, tmp_path, {"id": connector, **BASIC, "probe": {}})
    assert outcome.outcome is Outcome.FAILED
    shown = outcome.to_json()["probe"]
    assert (shown["verdict"], shown["evidence"]) == ("unknown", "control-same")
    assert shown["control"] == {"answer": "status", "status": 400}
    assert api_calls(emu) == 2
    assert graph_writes(emu) == []


def test_a_password_answered_differently_from_the_control_is_accepted(
    emu: Emulator, tmp_path: Path
) -> None:
    """405 to the new password (a static file behind auth_basic), 401 to a random one: accepted."""
    connector, new = basic_connector(emu)
    emu.faults.add(service="api", status=405, times=1)
    outcome = rotate_one(emu, tmp_path, {"id": connector, **BASIC, "probe": {}})
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    shown = outcome.to_json()["probe"]
    assert shown["evidence"] == "control-differs"
    assert shown["control"] == {"answer": "status", "status": 401}
    assert emu.graph.password_matches(connector, new)


def test_an_api_that_checks_no_credential_is_accepted_and_said(
    emu: Emulator, tmp_path: Path
) -> None:
    """2xx to the new password and to a random one: accepted, evidence no-client-auth, and the
    outcome says the API checks no credential."""
    connector, _ = basic_connector(emu)
    emu.faults.add(service="api", status=200, body=CONTINUE)
    outcome = rotate_one(emu, tmp_path, {"id": connector, **BASIC, "probe": {}})
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.to_json()["probe"]["evidence"] == "no-client-auth"
    assert "it checks no credential" in (outcome.reason or "")


@pytest.mark.parametrize("status", [404, 407, 429, 500, 502, 503])
def test_a_status_that_says_nothing_is_unknown_without_a_control(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, status: int
) -> None:
    """A gateway's 404/407/429/5xx says nothing about the credential: unknown, no control sent,
    nothing written, even with probe.required false (the API answered)."""
    connector, _, _ = cert_connector(emu, ca)
    emu.faults.add(service="api", status=status)
    outcome = rotate_one(emu, tmp_path, cert_target(connector, required=False))
    assert outcome.outcome is Outcome.FAILED
    assert "the API answered, so probe.required: false does not apply" in (outcome.reason or "")
    shown = outcome.to_json()["probe"]
    assert (shown["verdict"], shown["evidence"], shown["status"]) == ("unknown", "status", status)
    assert "control" not in shown
    assert api_calls(emu) == 1
    assert graph_writes(emu) == []


def test_a_connection_closed_after_the_handshake_rejects_a_certificate(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The server closes the connection after the handshake, before any status (uvicorn's way of
    refusing a certificate): rejected, closed-after-handshake."""
    connector, _, _ = cert_connector(emu, ca)
    emu.faults.add(service="api", drop=True)
    outcome = rotate_one(emu, tmp_path, cert_target(connector, required=False))
    assert outcome.outcome is Outcome.REFUSED, outcome.reason
    assert outcome.to_json()["probe"]["evidence"] == "closed-after-handshake"
    assert graph_writes(emu) == []


def test_a_closed_connection_never_lets_a_password_through(emu: Emulator, tmp_path: Path) -> None:
    """A closed connection after the handshake says nothing about a password: unknown, and
    probe.required false does not write (the server answered the handshake)."""
    connector, _ = basic_connector(emu)
    emu.faults.add(service="api", drop=True)
    outcome = rotate_one(emu, tmp_path, {"id": connector, **BASIC, "probe": {"required": False}})
    assert outcome.outcome is Outcome.FAILED
    assert outcome.to_json()["probe"]["evidence"] == "closed-after-handshake"
    assert graph_writes(emu) == []


def test_a_tls_refusal_is_read_as_rejected_20_times_in_20(emu: Emulator, ca: pki.Issued) -> None:
    """The emulator (TLS 1.3) refuses a certificate of an unknown CA after the handshake: the
    probe reads the alert every time, never an unknown."""
    emu.api.trust_issuer(ca.certificate)
    other = pki.make_ca("Unknown CA")
    leaf = pki.make_leaf("api.contoso.test", issuer=other)
    bundle = _bundle(leaf, other)
    network = probe.Network(str(emu.ca_path), True, 10)
    kinds = [
        probe.attempt(
            ProbeConfig(), emu.api_url_for("x"), probe.Credential(bundle=bundle), network
        ).reach
        for _ in range(20)
    ]
    assert kinds == [Reach.TLS_ALERT] * 20


@pytest.mark.parametrize(
    ("front", "refusal"),
    [("nginx", "nginx-certificate-error"), ("close", "closed-after-handshake")],
)
def test_the_emulated_fronts_refuse_and_accept_on_evidence(
    emu: Emulator, ca: pki.Issued, tmp_path: Path, front: str, refusal: str
) -> None:
    """Behind the emulator's nginx and close fronts: a certificate of an unknown CA is rejected on
    the front's own evidence; a trusted one is accepted on its 2xx, with the control refused
    (the fronts let only known issuers through the handshake: a self-signed control meets an
    alert there, where real nginx and uvicorn refuse it as they refuse the stranger)."""
    other = pki.make_ca("Stranger CA")
    seeded = seed_certificate(emu, "api-cert", other, [{"age": 1}])
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("front-api", front))
    emu.api.trust_issuer(ca.certificate)
    emu.api.know_issuer(other.certificate)
    refused = rotate_one(emu, tmp_path, cert_target(connector))
    assert refused.outcome is Outcome.REFUSED, refused.reason
    assert refused.to_json()["probe"]["evidence"] == refusal
    emu.api.trust_issuer(other.certificate)
    emu.api.trust_certificate("front-api", seeded.leaves[0].thumbprint)
    accepted = rotate_one(emu, tmp_path, cert_target(connector))
    assert accepted.outcome is Outcome.ROTATED, accepted.reason
    shown = accepted.to_json()["probe"]
    assert shown["evidence"] == "status"
    assert shown["control"]["answer"] in (refusal, "tls-alert")


# -- tiny local TLS servers --------------------------------------------------------------------


class TinyServer:
    """A TLS server on loopback whose every connection is handed to ``handle`` after the
    handshake (``handshake=False``: before it, on the raw socket)."""

    def __init__(
        self,
        tmp_path: Path,
        ca: pki.Issued,
        handle: Callable[[socket.socket], None],
        *,
        handshake: bool = True,
    ) -> None:
        issued = pki.make_server_certificate(ca, ("127.0.0.1", "localhost"))
        chain = tmp_path / "server.pem"
        chain.write_bytes(
            issued.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + issued.certificate.public_bytes(serialization.Encoding.PEM)
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(chain)
        self.handle, self.handshake = handle, handshake
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}/api"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            if self.handshake:
                conn = self.context.wrap_socket(conn, server_side=True)
                conn.recv(65536)  # the request
            self.handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def tiny(tmp_path: Path, ca: pki.Issued) -> Iterator[Callable[..., TinyServer]]:
    started: list[TinyServer] = []

    def start(handle: Callable[[socket.socket], None], **kwargs: bool) -> TinyServer:
        server = TinyServer(tmp_path, ca, handle, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def ca_file(tmp_path: Path, ca: pki.Issued) -> str:
    path = tmp_path / "ca.pem"
    path.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


def password() -> probe.Credential:
    return probe.Credential(username="api-user", password="new-pass")


def test_a_trickling_server_gives_unknown_within_the_deadline(
    tiny: Callable[..., TinyServer], tmp_path: Path, ca: pki.Issued
) -> None:
    """A status line, then one header byte a second: unknown once ROTATOR_HTTP_TIMEOUT (2 s)
    has passed, not after the server is done."""

    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(60):
            conn.sendall(b"X")
            time.sleep(1)

    server = tiny(trickle)
    network = probe.Network(ca_file(tmp_path, ca), True, 2.0)
    started = time.monotonic()
    result = probe.run_probe(ProbeConfig(), server.url, password(), network)
    assert time.monotonic() - started < 3.5
    assert (result.verdict, result.evidence) == (Verdict.UNKNOWN, "no-answer")
    assert "no complete answer in time" in (result.detail or "")


def test_a_response_head_over_64_kib_ends_the_attempt(
    tiny: Callable[..., TinyServer], tmp_path: Path, ca: pki.Issued
) -> None:
    """A head that grows past 64 KiB ends the attempt at once: unknown, no-answer."""

    def flood(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70_000)
        time.sleep(5)

    server = tiny(flood)
    network = probe.Network(ca_file(tmp_path, ca), True, 4.0)
    started = time.monotonic()
    result = probe.run_probe(ProbeConfig(), server.url, password(), network)
    assert time.monotonic() - started < 2
    assert (result.verdict, result.evidence) == (Verdict.UNKNOWN, "no-answer")
    assert result.detail == "the answer's head is over 64 KiB"


def test_a_server_that_never_speaks_is_unreachable(
    tiny: Callable[..., TinyServer], tmp_path: Path, ca: pki.Issued
) -> None:
    """TCP accepted, not one byte back: a TLS timeout before any byte is 'unreachable' (the one
    case probe.required false tolerates)."""
    server = tiny(lambda conn: time.sleep(5), handshake=False)
    network = probe.Network(ca_file(tmp_path, ca), True, 1.0)
    result = probe.run_probe(ProbeConfig(), server.url, password(), network)
    assert (result.verdict, result.evidence) == (Verdict.UNKNOWN, "unreachable")


def test_a_server_that_sends_one_byte_has_been_reached(
    tiny: Callable[..., TinyServer], tmp_path: Path, ca: pki.Issued
) -> None:
    """One byte and then silence: the API was reached (no-answer), so required false will not
    write."""

    def one_byte(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"\x16")
        time.sleep(5)

    server = tiny(one_byte, handshake=False)
    network = probe.Network(ca_file(tmp_path, ca), True, 1.0)
    result = probe.run_probe(ProbeConfig(), server.url, password(), network)
    assert (result.verdict, result.evidence) == (Verdict.UNKNOWN, "no-answer")


def test_the_probe_ca_bundle_adds_the_apis_ca(
    tiny: Callable[..., TinyServer], tmp_path: Path, ca: pki.Issued
) -> None:
    """ROTATOR_PROBE_CA_BUNDLE is trusted besides ROTATOR_CA_BUNDLE; without it the API's
    certificate is not trusted and the detail names the setting to use."""

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    server = tiny(answer)
    other = tmp_path / "other"
    other.mkdir()
    unrelated = ca_file(other, pki.make_ca("Graph's CA"))
    without = probe.run_probe(
        ProbeConfig(), server.url, password(), probe.Network(unrelated, True, 5)
    )
    assert (without.verdict, without.evidence) == (Verdict.UNKNOWN, "no-answer")
    assert "set ROTATOR_PROBE_CA_BUNDLE to a PEM file" in (without.detail or "")
    extra = probe.Network(unrelated, True, 5, ca_file(tmp_path, ca))
    with_extra = probe.run_probe(ProbeConfig(), server.url, password(), extra)
    assert (with_extra.verdict, with_extra.status) == (Verdict.REJECTED, 401)
    alone = probe.Network(ca_file(tmp_path, ca), True, 5)
    assert probe.run_probe(ProbeConfig(), server.url, password(), alone).status == 401


def test_probe_ca_bundle_reaches_the_probe_from_the_settings(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A rotation with ROTATOR_PROBE_CA_BUNDLE set probes with it (the emulator's API still
    answers; Graph and Key Vault keep ROTATOR_CA_BUNDLE)."""
    connector, leaves, _ = cert_connector(emu, ca)
    emu.api.trust_certificate("cert-api", leaves[1].thumbprint)
    extra = ca_file(tmp_path, pki.make_ca("API CA"))
    outcome = rotate_one(emu, tmp_path, cert_target(connector), ROTATOR_PROBE_CA_BUNDLE=extra)
    assert outcome.outcome is Outcome.ROTATED, outcome.reason


# -- overlap: a certificate not valid yet is deferred ------------------------------------------


def test_overlap_defers_a_certificate_not_valid_yet_then_probes_it(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Overlap + probe: a certificate valid only in 3 s is neither probed nor uploaded (deferred,
    deferredUntil, a successful run, shown by status); the first run after its start date
    probes it and uploads it only once the API accepts it."""
    seeded = seed_certificate(
        emu, "api-cert", ca, [{"age": 9, "valid": (-9, 300)}, {"age": 1, "valid": (3 / 86400, 400)}]
    )
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("overlap-api"))
    emu.graph.install_certificate(connector, seeded.leaves[0], chain=[ca.certificate])
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate("overlap-api", seeded.leaves[0].thumbprint)
    target = {"id": connector, "certificate": "api-cert", "mode": "overlap", "probe": {}}
    emu.clear_journal()
    with make_rotator(emu, tmp_path, target) as rotator:
        report = rotator.rotate(RotationRequest())
        status = rotator.status().targets[0]
    (outcome,) = report.outcomes
    not_before = seeded.leaves[1].certificate.not_valid_before_utc
    assert outcome.outcome is Outcome.DEFERRED, outcome.reason
    assert report.ok
    assert report.counts["deferred"] == 1
    assert outcome.to_json()["deferredUntil"] == not_before.isoformat().replace("+00:00", "Z")
    assert "is not valid until" in (outcome.reason or "")
    assert api_calls(emu) == 0
    assert graph_writes(emu) == []
    assert status.in_sync is True
    assert status.to_json()["deferredUntil"] == outcome.to_json()["deferredUntil"]
    time.sleep(max(0.0, (not_before - pki.utcnow()).total_seconds()) + 1)
    refused = rotate_one(emu, tmp_path, target)
    assert refused.outcome is Outcome.REFUSED, refused.reason
    assert graph_writes(emu) == []
    emu.api.trust_certificate("overlap-api", seeded.leaves[1].thumbprint)
    rotated = rotate_one(emu, tmp_path, target)
    assert rotated.outcome is Outcome.ROTATED, rotated.reason
    assert seeded.leaves[1].thumbprint in held(emu, connector)


def test_overlap_uploads_the_current_certificate_and_defers_the_future_one(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """A connector missing its current certificate gets it (probed); the future one is only
    named in the outcome with its date."""
    seeded = seed_certificate(
        emu, "api-cert", ca, [{"age": 9, "valid": (-9, 300)}, {"age": 1, "valid": (5, 400)}]
    )
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("overlap-api"))
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate("overlap-api", seeded.leaves[0].thumbprint)
    target = {"id": connector, "certificate": "api-cert", "mode": "overlap", "probe": {}}
    outcome = rotate_one(emu, tmp_path, target)
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert "deferredUntil" in outcome.to_json()
    assert held(emu, connector) == [seeded.leaves[0].thumbprint]
    assert next(e.status for e in requests(emu, service="api")) == 200


def test_a_deferred_run_exits_0_on_the_command_line(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """`rotator rotate` with only a deferred connector exits 0 and says `deferred`."""
    from .support import deferred_target, environment
    from .test_cli import run

    env = environment(emu, tmp_path, deferred_target(emu, ca))
    result = run(env, "rotate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("deferred")
    status = run(env, "status")
    assert "deferred   a certificate waits for" in status.stdout


def test_overlap_without_a_probe_still_pre_stages(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """No probe: the future certificate is uploaded beside the current one, as before."""
    seeded = seed_certificate(
        emu, "api-cert", ca, [{"age": 9, "valid": (-9, 300)}, {"age": 1, "valid": (5, 400)}]
    )
    connector = emu.graph.add_connector("Cert API", emu.api_url_for("overlap-api"))
    emu.graph.install_certificate(connector, seeded.leaves[0], chain=[ca.certificate])
    target = {"id": connector, "certificate": "api-cert", "mode": "overlap"}
    outcome = rotate_one(emu, tmp_path, target)
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert "deferredUntil" not in outcome.to_json()
    assert seeded.leaves[1].thumbprint in held(emu, connector)


def _bundle(leaf: pki.Issued, issuer: pki.Issued) -> CertificateBundle:
    assert isinstance(leaf.key, rsa.RSAPrivateKey)
    return CertificateBundle(leaf.certificate, leaf.key, (issuer.certificate,))


def held(emu: Emulator, connector: str) -> list[str]:
    return [c.thumbprint for c in emu.graph.connector(connector).certificates]
