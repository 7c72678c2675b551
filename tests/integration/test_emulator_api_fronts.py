"""The emulator's API side behind each front (application, nginx, close) refuses a client
certificate on the wire as the real servers it models do (test_real_servers_wire.py holds what
they did), so the fast tests and the demo meet what production APIs do."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from rotator.emulator import Emulator
from rotator.emulator.api import Front
from rotator.model import RotationRequest, Verdict

from .real_servers import Certificates, client_context, wire_outcome
from .support import graph_writes, make_rotator
from .test_real_servers_wire import CERTIFICATES, EXPECTED, token

pytestmark = pytest.mark.usefixtures("azure_env")

# What the emulator's fronts do, by the real server each models. The emulator's application
# behind every front pins thumbprints (403 for the not-pinned client), and its application front
# lets a call without a certificate reach it (401), where gunicorn requires one.


def modelled(server: str, changes: dict[str | None, str]) -> tuple[str, ...]:
    """The real ``server``'s row of EXPECTED with ``changes`` (credential → outcome)."""
    row = list(EXPECTED[server])
    for credential, outcome in changes.items():
        row[CERTIFICATES.index(credential)] = outcome
    return tuple(row)


FRONTS = {
    Front.NGINX: modelled("nginx-on", {"not-pinned": "HTTP 403"}),
    Front.CLOSE: modelled("uvicorn", {"not-pinned": "HTTP 403"}),
    Front.APPLICATION: modelled("gunicorn", {"not-pinned": "HTTP 403", None: "HTTP 401"}),
}


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    """The same kinds of client certificate the real servers were measured with."""
    return Certificates.make()


def serve(emu: Emulator, certificates: Certificates, name: str) -> None:
    """Endpoint ``name`` trusts the client CA and pins the trusted, expired and future clients;
    the other CA is known (its certificates pass the nginx and close fronts' handshake)."""
    emu.api.trust_issuer(certificates.client_ca.certificate)
    emu.api.know_issuer(certificates.other_ca.certificate)
    for thumbprint in certificates.pinned:
        emu.api.trust_certificate(name, thumbprint)


@pytest.mark.parametrize(
    ("front", "credential", "expected"),
    [
        pytest.param(front, credential, expected, id=f"{front}-{credential or 'none'}")
        for front, row in FRONTS.items()
        for credential, expected in zip(CERTIFICATES, row, strict=True)
    ],
)
def test_an_emulated_front_refuses_a_certificate_as_the_real_server_does(
    emu: Emulator,
    certificates: Certificates,
    tmp_path: Path,
    front: Front,
    credential: str | None,
    expected: str,
) -> None:
    """nginx front: 400 with nginx's pages; close front: the connection closed after the
    handshake, no alert; application front: a TLS alert, as Apache and gunicorn."""
    serve(emu, certificates, "fronted")
    client = certificates.clients[credential] if credential else None
    context = client_context(emu.ca_path, client, tmp_path, credential or "none")
    read_first = not expected.startswith(("HTTP", "nginx"))
    seen = wire_outcome(emu.api_url_for("fronted", front), context, read_first=read_first)
    assert token(seen) == expected, seen


def test_the_nginx_front_sends_nginx_s_own_page(
    emu: Emulator, certificates: Certificates, tmp_path: Path
) -> None:
    """The 400 page is nginx's, title and all, so a probe reading it meets what nginx sends."""
    serve(emu, certificates, "fronted")
    context = client_context(emu.ca_path, certificates.clients["untrusted"], tmp_path)
    seen = wire_outcome(emu.api_url_for("fronted", "nginx"), context)
    assert seen == 'HTTP 400 "400 The SSL certificate error"'


def test_a_trusted_certificate_behind_the_nginx_front_is_installed(
    emu: Emulator, certificates: Certificates, tmp_path: Path
) -> None:
    """A certificate the API trusts passes nginx and the application: probed, accepted,
    written."""
    serve(emu, certificates, "fronted")
    emu.vault.import_certificate(
        "api-cert",
        certificates.clients["trusted"],
        chain=[certificates.client_ca.certificate],
    )
    connector = emu.graph.add_connector("Fronted API", emu.api_url_for("fronted", "nginx"))
    target = {"id": connector, "certificate": "api-cert", "probe": {}}
    with make_rotator(emu, tmp_path, target) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    assert outcome.probe is not None
    assert outcome.probe.verdict is Verdict.ACCEPTED, outcome.reason
    assert len(graph_writes(emu)) == 1


def test_a_certificate_closed_after_the_handshake_is_never_written(
    emu: Emulator, certificates: Certificates, tmp_path: Path
) -> None:
    """Behind the close front a certificate of an untrusted issuer gets no answer at all:
    whatever the verdict says about it, nothing reaches Graph."""
    serve(emu, certificates, "fronted")
    emu.vault.import_certificate(
        "api-cert",
        certificates.clients["untrusted"],
        chain=[certificates.other_ca.certificate],
    )
    connector = emu.graph.add_connector("Fronted API", emu.api_url_for("fronted", "close"))
    target = {"id": connector, "certificate": "api-cert", "probe": {}}
    with make_rotator(emu, tmp_path, target) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    assert outcome.probe is not None
    assert outcome.probe.verdict is not Verdict.ACCEPTED
    assert outcome.probe.status is None
    assert graph_writes(emu) == []


def test_the_control_surface_makes_an_issuer_known_to_the_fronts(
    emu: Emulator, certificates: Certificates, tmp_path: Path
) -> None:
    """POST /api/known-issuers lets a certificate of an untrusted issuer through the nginx
    front's handshake (then its 400 page), while the application front still refuses it at
    TLS."""
    emu.api.trust_issuer(certificates.client_ca.certificate)
    der = certificates.other_ca.certificate.public_bytes(serialization.Encoding.DER)
    verify = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(base_url=emu.control_url, verify=verify) as control:
        answer = control.post("/api/known-issuers", json={"cer": base64.b64encode(der).decode()})
    assert answer.status_code == 204
    context = client_context(emu.ca_path, certificates.clients["untrusted"], tmp_path)
    nginx = wire_outcome(emu.api_url_for("fronted", "nginx"), context)
    application = wire_outcome(emu.api_url_for("fronted"), context, read_first=True)
    assert token(nginx) == "nginx 400 certificate error"
    assert token(application) == "alert UNKNOWN_CA"
