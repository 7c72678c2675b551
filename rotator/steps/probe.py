"""Probe: before any write to Graph, call the connector's API the way B2C will, with the new
credential, and go ahead only if the API accepts it.

A certificate is presented as the TLS client certificate (its key is loaded from an anonymous
in-memory file, ``os.memfd_create``, and never reaches a filesystem); a password goes in an
``Authorization: Basic`` header. The verdict is read from the status alone: the API's answer body
is never read into a log or a report. The URL comes from Graph, which another administrator can
change, so the host is resolved once, every address it resolves to must be public (unless
``ROTATOR_PROBE_ALLOW_PRIVATE``), the connection goes to that checked address (no second lookup),
the server's certificate is verified, and redirects are never followed.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from rotator.config.probe import probe_url
from rotator.errors import ApiRejectedError, ConfigurationError, ProbeError
from rotator.events import emit
from rotator.model import ConnectorState, ProbeConfig, ProbeResult, RotationRequest, Verdict
from rotator.steps import pkcs12
from rotator.steps.context import Steps
from rotator.steps.package import Change, Install, PasswordChange
from rotator.steps.progress import Progress
from rotator.text import truncate

log = logging.getLogger("rotator")

CONNECT_TIMEOUT = 10.0
MAX_BACKOFF = 15.0
MAX_ADDRESSES = 3  # addresses of one name tried, 10 s each at most
RUN_BUDGET = 300.0  # the probes of one connector stay within the Function's 10-minute run
# TLS alerts a server sends when it refuses the client certificate (OpenSSL's reason names).
_CLIENT_CERT_ALERTS = (
    "ALERT_BAD_CERTIFICATE",
    "ALERT_UNKNOWN_CA",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_CERTIFICATE_REQUIRED",
    "ALERT_CERTIFICATE_EXPIRED",
    "ALERT_CERTIFICATE_REVOKED",
    "ALERT_UNSUPPORTED_CERTIFICATE",
    "ALERT_ACCESS_DENIED",
)  # not HANDSHAKE_FAILURE: a cipher or protocol mismatch sends it too (then: unknown)


@dataclass(frozen=True)
class Credential:
    """What the probe presents: a certificate bundle, or a username and password."""

    bundle: pkcs12.CertificateBundle | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    header: str | None = None  # an API key: sent as ``password`` in this header, not as basic

    def describe(self, version: str) -> str:
        """E.g. ``certificate 72C1…`` or ``password (version 3f…) for 'api'``."""
        if self.bundle is not None:
            return f"certificate {self.bundle.thumbprint}"
        if self.header is not None:
            return f"API key (version {version}) in header {self.header!r}"
        return f"password (version {version}) for {self.username!r}"


@dataclass(frozen=True)
class Network:
    """Where the probe may go and how it trusts servers (from the settings)."""

    ca_bundle: str | None = None
    allow_private: bool = False
    read_timeout: float = 30.0


def shown(url: str) -> str:
    """The URL as reports show it: scheme, host, port and path (a query may hold a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def address_class(address: str) -> str | None:
    """Why the probe may not call ``address`` (loopback, link-local, private...), or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "unique-local"
    if ip.is_private or ip.is_reserved or not ip.is_global:  # 100.64.0.0/10 among them
        return "private"
    return None


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to try, in the resolver's order; every one must be allowed (a name that
    also resolves to a private address is refused whole).

    Raises:
        ProbeError: the name does not resolve, or resolves to an address the probe may not call.
    """
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _Unanswered(f"the name {host!r} does not resolve ({exc})") from exc
    addresses = [str(answer[4][0]) for answer in answers]
    if not allow_private:
        for address in addresses:
            if kind := address_class(address):
                where = host if host == address else f"{host} at {address}"
                raise ProbeError(
                    f"the probe refuses to call {where}: a {kind} address (the "
                    "connector's targetUrl must be a public API; ROTATOR_PROBE_ALLOW_PRIVATE=true "
                    "allows it, for tests only)"
                )
    return list(dict.fromkeys(addresses))[:MAX_ADDRESSES]


class _Unanswered(ProbeError):
    """No answer at all: a name that does not resolve, a refused or timed-out connection."""


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the URL's host for SNI, certificate check and ``Host``."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[str],
        *,
        context: ssl.SSLContext,
        timeout: float,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses

    def connect(self) -> None:
        """Connect to the first checked address that answers (never a new lookup)."""
        failure: OSError | None = None
        for address in self._addresses:
            try:
                sock = socket.create_connection((address, self.port), self.timeout)
            except OSError as exc:
                failure = exc
                continue
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
            return
        raise failure or OSError("no address to connect to")


def client_context(network: Network, bundle: pkcs12.CertificateBundle | None) -> ssl.SSLContext:
    """TLS that verifies the API's certificate and, for a certificate, presents ``bundle``.

    Raises:
        ProbeError: this platform has no ``os.memfd_create`` (the key would need a file).
    """
    context = ssl.create_default_context(cafile=network.ca_bundle)
    if bundle is not None:
        _load_client_certificate(context, bundle)
    return context


def _load_client_certificate(context: ssl.SSLContext, bundle: pkcs12.CertificateBundle) -> None:
    """Load key + chain through an anonymous in-memory file, closed (and zeroed) right after."""
    if not hasattr(os, "memfd_create"):
        raise ProbeError(
            "the certificate probe needs Linux (os.memfd_create), so that the private key never "
            "reaches a file; set the connector's probe to false on this platform"
        )
    pem = bytearray(
        bundle.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for cert in (bundle.leaf, *bundle.chain):
        pem += cert.public_bytes(serialization.Encoding.PEM)
    fd = os.memfd_create("rotator-probe", os.MFD_CLOEXEC)
    try:
        view = memoryview(pem)
        while view:
            view = view[os.write(fd, view) :]
        view.release()
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
        pem[:] = bytes(len(pem))


def attempt(
    config: ProbeConfig, url: str, credential: Credential, network: Network
) -> tuple[Verdict, int | None, str]:
    """One call of the API: the verdict, the HTTP status (if any) and what happened, in words.

    Raises:
        ProbeError: the address may not be called, or the certificate cannot be loaded safely.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        addresses = resolve(host, port, allow_private=network.allow_private)
    except _Unanswered as exc:
        return Verdict.UNKNOWN, None, str(exc)
    context = client_context(network, credential.bundle)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(dict(config.headers))
    if credential.header is not None:
        headers[credential.header] = credential.password or ""
    elif credential.bundle is None:
        token = f"{credential.username}:{credential.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    body = config.body.encode() if config.method != "GET" else None
    connection = _PinnedHTTPSConnection(
        host, port, addresses, context=context, timeout=CONNECT_TIMEOUT
    )
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(network.read_timeout)
        connection.request(config.method, path, body=body, headers=headers)
        status = connection.getresponse().status  # the body is never read
    except ssl.SSLCertVerificationError as exc:
        detail = f"the API's own TLS certificate is not trusted ({exc.verify_message}); set ROTATOR_CA_BUNDLE to its CA (or a proxy's)"
        return Verdict.UNKNOWN, None, detail
    except ssl.SSLError as exc:
        alert = str(exc.reason or exc)
        if credential.bundle is not None and alert.endswith(_CLIENT_CERT_ALERTS):
            return (
                Verdict.REJECTED,
                None,
                f"TLS: the handshake refused the client certificate ({alert})",
            )
        return Verdict.UNKNOWN, None, f"TLS failed ({alert})"
    except (OSError, http.client.HTTPException, UnicodeError) as exc:
        return Verdict.UNKNOWN, None, f"no answer ({type(exc).__name__}: {truncate(str(exc))})"
    finally:
        headers.pop(credential.header or "Authorization", None)
        with contextlib.suppress(OSError):
            connection.close()
    if 300 <= status < 400:
        return Verdict.UNKNOWN, status, f"HTTP {status}: a redirect, not followed"
    if status in config.reject_status:
        return Verdict.REJECTED, status, f"HTTP {status}"
    return Verdict.ACCEPTED, status, f"HTTP {status}"


def run_probe(
    config: ProbeConfig,
    url: str,
    credential: Credential,
    network: Network,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ProbeResult:
    """Probe until the API accepts, or until ``waitSeconds`` of rejections (backing off from 1 s
    to 15 s); an unknown verdict is not retried (waiting does not make a server answer).

    Raises:
        ProbeError: the address may not be called, or the certificate cannot be loaded safely.
    """
    started = time.monotonic()
    delay, attempts = 1.0, 0
    while True:
        attempts += 1
        verdict, status, detail = attempt(config, url, credential, network)
        elapsed = time.monotonic() - started
        wait = min(config.wait_seconds, RUN_BUDGET)
        if verdict is not Verdict.REJECTED or elapsed + delay > wait:
            return ProbeResult(shown(url), verdict, status, attempts, elapsed, detail)
        sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)


def skipped(url: str | None) -> ProbeResult:
    """The probe an operator skipped (``--skip-probe``, an emergency)."""
    return ProbeResult(
        shown(url) if url else None, Verdict.SKIPPED, detail="skipped by --skip-probe"
    )


def approve(
    steps: Steps,
    change: Change,
    connector: ConnectorState,
    request: RotationRequest,
    run: Progress,
) -> Change:
    """The step between package and apply: what of ``change`` the connector's API accepts.

    A pre-staged (future) certificate the API does not accept is left out, with a note; the
    certificate for now, or a password, must be accepted, else nothing is written.

    Raises:
        ApiRejectedError: the API rejects the credential (after ``waitSeconds`` of retries).
        ProbeError: no verdict and the probe is ``required``, or the URL may not be called.
    """
    target = run.target
    config = target.probe
    if config is None:
        return change
    url = config.url or connector.target_url
    if request.skip_probe:
        run.probe = skipped(url)
        _log(target.connector_id, run.probe, logging.WARNING)
        return change
    url = checked_url(url, target.connector_id)
    network = Network(
        str(steps.settings.ca_bundle) if steps.settings.ca_bundle else None,
        steps.settings.probe_allow_private,
        steps.settings.http_timeout,
    )
    if isinstance(change, PasswordChange):
        credential = Credential(username=change.username, password=change.password)
        run.probe = run_probe(config, url, credential, network, sleep=steps.sleep)
        _log(target.connector_id, run.probe)
        notes = _judge(run.probe, config, credential, change.last.version)
        judged: Change = replace(change, notes=(*change.notes, *notes))
        run.packaged(judged)  # the note of a tolerated "unknown" reaches the outcome
        return judged
    kept: list[Install] = []
    notes = list(change.notes)
    results: dict[int, ProbeResult] = {}
    for install in change.installs:
        credential = Credential(bundle=install.bundle)
        result = run_probe(config, url, credential, network, sleep=steps.sleep)
        _log(target.connector_id, result)
        run.probe = results[id(install)] = result
        pre_stage = install.version is change.plan.pending
        try:
            notes += _judge(result, config, credential, install.version.version)
        except (ApiRejectedError, ProbeError) as exc:
            if not pre_stage:
                raise
            note = (
                "pre-staged certificate not uploaded (B2C would switch to it by itself at its "
                f"notBefore, {install.not_before:%Y-%m-%d %H:%M} UTC): {exc}"
            )
            if len(change.installs) == 1:  # nothing else to write: the run is refused
                raise type(exc)(note) from None
            notes.append(note)
            continue
        kept.append(install)
    narrowed = replace(change, installs=tuple(kept), notes=tuple(notes))
    run.packaged(narrowed)
    run.probe = results[id(kept[-1])]  # the outcome reports the newest certificate written
    return narrowed


def _judge(
    result: ProbeResult, config: ProbeConfig, credential: Credential, version: str
) -> list[str]:
    """Notes for an accepted (or tolerated) verdict; raise for one that must stop the write."""
    what = credential.describe(version)
    tries = f", {result.attempts} attempts in {result.seconds:.0f} s" if result.attempts > 1 else ""
    if result.verdict is Verdict.ACCEPTED:
        return []
    if result.verdict is Verdict.REJECTED:
        trust = "trust" if credential.bundle is not None else "accept"
        raise ApiRejectedError(
            f"the API at {result.url} rejects the new {what} ({result.detail}{tries}); switching "
            f"the connector now would break its user flow; make the API {trust} it first"
        )
    message = f"cannot tell whether the API at {result.url} accepts the new {what}: {result.detail}"
    if config.required:
        raise ProbeError(f"{message}; nothing was written (probe.required is true)")
    return [f"{message}; went on without its word (probe.required is false)"]


def checked_url(url: str | None, connector_id: str) -> str:
    """The URL to probe: the probe's own, else the connector's ``targetUrl`` from Graph, checked.

    Raises:
        ProbeError: there is none, or it is not an https URL the probe may call.
    """
    if not url:
        raise ProbeError(
            f"connector {connector_id}: Graph shows no targetUrl and the probe has no url; "
            "set probe.url in ROTATOR_CONFIG"
        )
    try:
        return probe_url(url, where=f"connector {connector_id}: the probe's URL")
    except ConfigurationError as exc:
        raise ProbeError(str(exc)) from None


def _log(connector_id: str, result: ProbeResult, level: int | None = None) -> None:
    if level is None:
        level = logging.INFO if result.verdict is Verdict.ACCEPTED else logging.WARNING
    emit(log, level, "rotation.probe", connectorId=connector_id, **result.to_json())
