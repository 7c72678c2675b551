"""Probe: before any write to Graph, call the connector's API the way B2C will, with the new
credential, and go ahead only if the API accepts it.

A certificate is presented as the TLS client certificate (its key is loaded from an anonymous
in-memory file, ``os.memfd_create``, and never reaches a filesystem); a password goes in an
``Authorization: Basic`` header. The verdict rests on evidence (``probe_verdict``): a 2xx, a
refusal, or a control request with a throwaway credential answered differently; the answer's body
is never read into a log or a report (of a 400, 4 KiB are read to spot nginx's certificate page).
The URL comes from Graph, which another administrator can change, so the host is resolved once,
every address it resolves to must be public (unless ``ROTATOR_PROBE_ALLOW_PRIVATE``), the
connection goes to that checked address (no second lookup), the server's certificate is
verified, and redirects are never followed.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from rotator.config.probe import probe_url
from rotator.errors import ApiRejectedError, ConfigurationError, ProbeError
from rotator.events import emit
from rotator.model import ConnectorState, ProbeConfig, ProbeResult, RotationRequest, Verdict
from rotator.steps import pkcs12
from rotator.steps.context import Steps
from rotator.steps.package import Change, PasswordChange
from rotator.steps.probe_verdict import (
    Answer,
    Evidence,
    Reach,
    judge,
    make_it_trusted,
    wants_control,
)
from rotator.steps.probe_wire import exchange, tls_context
from rotator.steps.progress import Progress
from rotator.text import printable, truncate

if TYPE_CHECKING:
    from rotator.config.settings import Settings

log = logging.getLogger("rotator")

MAX_BACKOFF = 15.0
MAX_ADDRESSES = 3  # addresses of one name tried, 10 s each at most
RUN_BUDGET = 300.0  # the probes of one connector stay within the Function's 10-minute run


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

    def issuer(self) -> str | None:
        """The name of the certificate's issuer (escaped, cut short), or None for a password."""
        if self.bundle is None:
            return None
        return truncate(printable(self.bundle.leaf.issuer.rfc4514_string()), 120)


@dataclass(frozen=True)
class Network:
    """Where the probe may go and how it trusts servers (from the settings)."""

    ca_bundle: str | None = None  # ROTATOR_CA_BUNDLE: replaces the system's trust
    allow_private: bool = False
    read_timeout: float = 30.0  # one attempt: connect, TLS and the response head
    probe_ca_bundle: str | None = None  # ROTATOR_PROBE_CA_BUNDLE: trusted in addition


def shown(url: str) -> str:
    """The URL as reports show it: scheme, host, port and path (a query may hold a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def address_class(address: str) -> str | None:
    """Why the probe may not call ``address`` (loopback, link-local, private...), or None. An
    IPv4 address inside IPv6 is judged as IPv4 first: IPv4-mapped and well-known NAT64 reach that
    host alone; 6to4, Teredo's client, IPv4-compatible and local-use NAT64 are IPv6 too."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and int(ip) > 1:  # :: and ::1 are IPv6's own
        last = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.ipv4_mapped is not None or ip in ipaddress.ip_network("64:ff9b::/96"):
            return address_class(str(ip.ipv4_mapped or last))
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if ip in ipaddress.ip_network("64:ff9b:1::/48") or int(ip) >> 32 == 0:
            embedded = last  # local-use NAT64 (its /96 form), IPv4-compatible ::a.b.c.d
        if embedded is not None and (kind := address_class(str(embedded))):
            return kind  # else judged as IPv6: ::/8 (local-use NAT64 among it) is reserved
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


def client_context(network: Network, bundle: pkcs12.CertificateBundle | None) -> ssl.SSLContext:
    """TLS that verifies the API's certificate and, for a certificate, presents ``bundle``.

    Raises:
        ProbeError: this platform has no ``os.memfd_create`` (the key would need a file).
    """
    return tls_context(network.ca_bundle, network.probe_ca_bundle, bundle)


def attempt(
    config: ProbeConfig,
    url: str,
    credential: Credential,
    network: Network,
    *,
    deadline: float | None = None,
) -> Answer:
    """One call of the API, connect to response head before ``deadline`` (monotonic; default
    ``ROTATOR_HTTP_TIMEOUT`` from now): what it answered, never its body.

    Raises:
        ProbeError: the address may not be called, or the certificate cannot be loaded safely.
    """
    if deadline is None:
        deadline = time.monotonic() + network.read_timeout
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        addresses = resolve(host, port, allow_private=network.allow_private)
    except _Unanswered as exc:
        return Answer(Reach.UNREACHABLE, detail=str(exc))
    context = client_context(network, credential.bundle)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(dict(config.headers))
    if credential.header is not None:
        headers[credential.header] = credential.password or ""
    elif credential.bundle is None:
        token = f"{credential.username}:{credential.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = config.body.encode() if config.method != "GET" else b""
    authority = f"[{host}]" if ":" in host else host
    lines = [
        f"{config.method} {path} HTTP/1.1",
        f"Host: {authority}" + (f":{port}" if port != 443 else ""),
        "Accept-Encoding: identity",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
        *([f"Content-Length: {len(body)}"] if config.method != "GET" else []),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    headers.pop(credential.header or "Authorization", None)
    return exchange(addresses, host, port, context, request, deadline)


def run_probe(
    config: ProbeConfig,
    url: str,
    credential: Credential,
    network: Network,
    *,
    sleep: Callable[[float], None] = time.sleep,
    budget: float = RUN_BUDGET,
) -> ProbeResult:
    """Probe until the API accepts, or until ``waitSeconds`` of rejections (backing off from 1 s
    to 15 s); an unknown verdict is not retried (waiting does not make a server answer). Then,
    where it can tell more, one control request with a throwaway credential. Everything within
    ``budget`` seconds, each attempt within ``ROTATOR_HTTP_TIMEOUT``.

    Raises:
        ProbeError: the address may not be called, or the certificate cannot be loaded safely.
    """
    started = time.monotonic()
    end = started + budget
    certificate = credential.bundle is not None
    delay, attempts = 1.0, 0
    while True:
        attempts += 1
        deadline = min(time.monotonic() + network.read_timeout, end)
        answer = attempt(config, url, credential, network, deadline=deadline)
        first = judge(answer, None, config.reject_status, certificate=certificate)
        elapsed = time.monotonic() - started
        if first.verdict is not Verdict.REJECTED or elapsed + delay > min(
            config.wait_seconds, budget
        ):
            break
        sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)
    control = None
    if wants_control(answer, config.reject_status):
        deadline = min(time.monotonic() + network.read_timeout, end)
        if deadline > time.monotonic():
            control = attempt(config, url, throwaway(credential), network, deadline=deadline)
    decision = judge(answer, control, config.reject_status, certificate=certificate)
    return ProbeResult(
        shown(url),
        decision.verdict,
        answer.status,
        attempts,
        time.monotonic() - started,
        _detail(answer, control, decision.evidence),
        decision.evidence.value,
        control.to_json() if control is not None else None,
    )


def throwaway(credential: Credential) -> Credential:
    """The control credential: a self-signed certificate from a fresh key, or the same username
    with a random password; no API trusts either."""
    if credential.bundle is None:
        return Credential(
            credential.bundle, credential.username, secrets.token_urlsafe(24), credential.header
        )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rotator probe control")])
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Credential(bundle=pkcs12.CertificateBundle(leaf, key))


def _detail(answer: Answer, control: Answer | None, evidence: Evidence) -> str:
    """The answer in words, with what the control's answer showed."""
    if control is None:
        return answer.detail
    said = control.detail or control.kind
    if evidence is Evidence.NO_CLIENT_AUTH:
        return f"{answer.detail}, and a 2xx to a throwaway credential too: it checks no credential"
    if evidence is Evidence.CONTROL_SAME:
        return f"{answer.detail}, the same as to a throwaway credential: it says nothing"
    return f"{answer.detail}; a throwaway credential got: {said}"


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

    Every certificate, or the password, must be accepted, else nothing is written (overlap
    mode defers a certificate not valid yet: ``plan.ConnectorPlan.deferred``).

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
    network = network_of(steps.settings)
    if isinstance(change, PasswordChange):
        probes = [(Credential(username=change.username, password=change.password), change.last)]
    else:  # with a probe, no certificate that is not valid yet (plan.ConnectorPlan.deferred)
        probes = [(Credential(bundle=i.bundle), i.version) for i in change.installs]
    notes = list(change.notes)
    for credential, version in probes:
        run.probe = run_probe(config, url, credential, network, sleep=steps.sleep)
        _log(target.connector_id, run.probe)
        notes += _judge(run.probe, config, credential, version.version)
    judged: Change = replace(change, notes=tuple(notes))
    run.packaged(judged)  # the note of a tolerated "unknown" reaches the outcome
    return judged


def _judge(
    result: ProbeResult, config: ProbeConfig, credential: Credential, version: str
) -> list[str]:
    """Notes for an accepted (or tolerated) verdict; raise for one that must stop the write."""
    what = credential.describe(version)
    tries = f", {result.attempts} attempts in {result.seconds:.0f} s" if result.attempts > 1 else ""
    if result.verdict is Verdict.ACCEPTED:
        if result.evidence == Evidence.NO_CLIENT_AUTH:
            return [
                f"the API at {result.url} let a throwaway credential through too: it checks no credential"
            ]
        return []
    if result.verdict is Verdict.REJECTED:
        raise ApiRejectedError(
            f"the API at {result.url} rejects the new {what} ({result.detail}{tries}); switching "
            "the connector now would break its user flow; "
            + make_it_trusted(result.evidence, issuer=credential.issuer())
        )
    message = f"cannot tell whether the API at {result.url} accepts the new {what}: {result.detail}"
    if config.required:
        raise ProbeError(f"{message}; nothing was written (probe.required is true)")
    if result.evidence != Evidence.UNREACHABLE:
        raise ProbeError(
            f"{message}; nothing was written (the API answered, so probe.required: false "
            "does not apply)"
        )
    return [f"{message}; went on without its word (probe.required is false)"]


def network_of(settings: Settings) -> Network:
    """Where the probe may go and whom it trusts, from the settings."""
    return Network(
        str(settings.ca_bundle) if settings.ca_bundle else None,
        settings.probe_allow_private,
        settings.http_timeout,
        str(settings.probe_ca_bundle) if settings.probe_ca_bundle else None,
    )


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
