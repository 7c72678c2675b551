"""The API side of the emulated connectors: the customer's REST API that B2C calls.

One HTTPS endpoint per name, ``{api_url}/{name}`` (a connector's ``targetUrl``). The application
behind every endpoint checks a client certificate's thumbprint against the endpoint's list (else
HTTP 403) and basic credentials against the accepted set (else HTTP 401). A credential trusted
``delay`` seconds ago is accepted only once that delay has passed (an API picking up its new trust
list). The answer is B2C's ``{"version": "1.0.0", "action": "Continue"}``.

What refuses a certificate whose issuer is not trusted, or that is expired or not valid yet,
depends on the server in front of the application, its **front** (one port each, the same
endpoints behind; measured against the real servers, see tests/integration/real_servers.py):

- ``application`` (``api_url``): the TLS handshake fails with an alert (``unknown_ca``,
  ``certificate_expired``), as Apache httpd and gunicorn do;
- ``nginx``: ``ssl_verify_client on``: the handshake completes and the answer is HTTP 400 with
  nginx's page "400 The SSL certificate error", or "400 No required SSL certificate was sent"
  when there is none;
- ``close``: uvicorn or hypercorn requiring client certificates: the connection is closed right
  after the handshake, before any answer and without an alert (also with no certificate).

The nginx and close fronts complete the handshake only for a certificate whose issuer the API
trusts or knows (``know_issuer``; Python's ``ssl`` cannot accept any certificate and judge it
later), and judge only a leaf issued directly by a trusted issuer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from rotator.emulator.server import Request, Response, json_body

CONTINUE = json_body({"version": "1.0.0", "action": "Continue"})
_NO_CHECK_TIME = (
    0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME: dates are judged after the handshake
)


class Front(StrEnum):
    """The server in front of the API's application: how it refuses a client certificate."""

    APPLICATION = "application"  # a TLS alert in the handshake (Apache, gunicorn)
    NGINX = "nginx"  # handshake completes, HTTP 400 with nginx's page
    CLOSE = "close"  # handshake completes, then the connection is closed (uvicorn, hypercorn)


def nginx_page(title: str) -> bytes:
    """nginx's own error page, byte for byte as nginx 1.22 sends it (no version shown)."""
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>400 Bad Request</h1></center>\r\n<center>{title[4:]}</center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


NGINX_CERTIFICATE_ERROR = nginx_page("400 The SSL certificate error")
NGINX_NO_CERTIFICATE = nginx_page("400 No required SSL certificate was sent")


@dataclass
class _Endpoint:
    """What one API endpoint accepts, each credential with the time it becomes accepted."""

    thumbprints: dict[str, float] = field(default_factory=dict)  # upper-case SHA-1 → from
    basic: dict[str, float] = field(default_factory=dict)  # sha256(user:password) → from
    calls: int = 0


class ApiStore:
    """The endpoints, the issuers the TLS layer trusts, and the calls each endpoint received."""

    def __init__(self) -> None:
        """No endpoint, no trusted issuer; :meth:`serve_with` gives the server's own TLS."""
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._issuers: dict[str, bytes] = {}  # thumbprint → PEM
        self._known: dict[str, bytes] = {}  # issuers the nginx and close fronts let through
        self._trusted: list[x509.Certificate] = []
        self._clock = time.time
        self._server_context: Callable[[], ssl.SSLContext] | None = None
        self._contexts: dict[Front, ssl.SSLContext] = {}  # rebuilt when the issuers change

    def serve_with(self, server_context: Callable[[], ssl.SSLContext]) -> None:
        """How to make a TLS server context with the endpoint's own certificate."""
        with self._lock:
            self._server_context = server_context
            self._contexts.clear()

    def trust_issuer(self, certificate: x509.Certificate) -> None:
        """Accept client certificates issued by ``certificate`` (at TLS, or behind the nginx and
        close fronts just after it)."""
        der = certificate.public_bytes(serialization.Encoding.DER)
        with self._lock:
            key = hashlib.sha1(der).hexdigest()  # noqa: S324
            if key in self._issuers:
                return  # trusted already: the TLS contexts stay
            self._issuers[key] = certificate.public_bytes(serialization.Encoding.PEM)
            self._trusted.append(certificate)
            self._contexts.clear()

    def know_issuer(self, certificate: x509.Certificate) -> None:
        """Let certificates issued by ``certificate`` (not trusted) through the handshake of the
        nginx and close fronts, which then refuse them as those servers do."""
        der = certificate.public_bytes(serialization.Encoding.DER)
        with self._lock:
            self._known[hashlib.sha1(der).hexdigest()] = certificate.public_bytes(  # noqa: S324
                serialization.Encoding.PEM
            )
            self._contexts.clear()

    def trust_certificate(self, name: str, thumbprint: str, *, delay: float = 0.0) -> None:
        """Endpoint ``name`` accepts the client certificate ``thumbprint`` after ``delay`` s."""
        with self._lock:
            endpoint = self._endpoints.setdefault(name, _Endpoint())
            endpoint.thumbprints[thumbprint.upper()] = self._clock() + delay

    def accept_basic(self, name: str, username: str, password: str, *, delay: float = 0.0) -> None:
        """Endpoint ``name`` accepts these basic credentials after ``delay`` seconds."""
        with self._lock:
            endpoint = self._endpoints.setdefault(name, _Endpoint())
            endpoint.basic[_basic_key(username, password)] = self._clock() + delay

    def forget(self, name: str) -> None:
        """Endpoint ``name`` accepts nothing any more."""
        with self._lock:
            self._endpoints.pop(name, None)

    def calls(self, name: str) -> int:
        """How many requests endpoint ``name`` answered."""
        with self._lock:
            endpoint = self._endpoints.get(name)
            return endpoint.calls if endpoint else 0

    def clear(self) -> None:
        """Forget every endpoint and trusted or known issuer."""
        with self._lock:
            self._endpoints.clear()
            self._issuers.clear()
            self._known.clear()
            self._trusted.clear()
            self._contexts.clear()

    def tls_context(self, front: Front = Front.APPLICATION) -> ssl.SSLContext:
        """The server context for the next connection of ``front``: the application front asks
        for a client certificate when an issuer is trusted and verifies it against the issuers
        trusted now; the nginx and close fronts always ask, and let through any certificate of a
        trusted or known issuer, whatever its dates (judged after the handshake)."""
        with self._lock:
            context = self._contexts.get(front)
            if context is None:
                if self._server_context is None:
                    raise RuntimeError("the API endpoint has no server certificate yet")
                context = self._server_context()
                issuers = b"".join(self._issuers.values())
                if front is not Front.APPLICATION:
                    issuers += b"".join(self._known.values())
                    context.verify_mode = ssl.CERT_OPTIONAL
                    context.verify_flags |= _NO_CHECK_TIME
                if issuers:
                    context.verify_mode = ssl.CERT_OPTIONAL
                    context.load_verify_locations(cadata=issuers.decode("ascii"))
                self._contexts[front] = context
            return context

    def certificate_error(self, der: bytes) -> str | None:
        """Why a server in front of the API refuses the client certificate ``der`` (its issuer
        is not trusted, it expired, it is not valid yet), or None."""
        certificate = x509.load_der_x509_certificate(der)
        now = self._clock()
        if certificate.not_valid_after_utc.timestamp() < now:
            return "expired"
        if certificate.not_valid_before_utc.timestamp() > now:
            return "not yet valid"
        with self._lock:
            trusted = list(self._trusted)
        for issuer in trusted:
            try:
                certificate.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return None
        return "issuer not trusted"

    def decide(self, name: str, request: Request) -> int:
        """The status endpoint ``name`` answers ``request`` with (200, 401 or 403)."""
        now = self._clock()
        with self._lock:
            endpoint = self._endpoints.setdefault(name, _Endpoint())
            endpoint.calls += 1
            if request.client_certificate is not None:
                thumbprint = hashlib.sha1(request.client_certificate).hexdigest().upper()  # noqa: S324
                since = endpoint.thumbprints.get(thumbprint)
                return 200 if since is not None and since <= now else 403
            supplied = _basic_from(request.header("authorization"))
            if supplied is None:
                return 401
            since = next(
                (t for key, t in endpoint.basic.items() if hmac.compare_digest(key, supplied)),
                None,
            )
            return 200 if since is not None and since <= now else 401


class ApiService:
    """Answers the connectors' API calls (``/{name}``) as :class:`ApiStore` decides, behind
    ``front``."""

    name = "api"

    def __init__(self, store: ApiStore, front: Front = Front.APPLICATION) -> None:
        """Serve ``store`` behind ``front``."""
        self.store = store
        self.front = front

    def admit(self, client_certificate: bytes | None) -> bool:
        """Whether a connection goes on after its handshake (the close front ends it when the
        certificate is missing or refused, before reading any request)."""
        if self.front is not Front.CLOSE:
            return True
        return (
            client_certificate is not None
            and self.store.certificate_error(client_certificate) is None
        )

    def authorized(self, request: Request) -> bool:
        """A request is 'authorized' in the journal when it presented any credential."""
        return request.client_certificate is not None or bool(request.header("authorization"))

    def tenant_of(self, request: Request) -> str | None:
        """B2C calls the connectors' API as itself: no tenant to tell."""
        return None

    def fault(self, request: Request, status: int) -> Response:
        """An injected answer: the status with an empty JSON object."""
        return Response(status, b"{}", [("Content-Type", "application/json")])

    def handle(self, request: Request) -> Response:
        """Judge the credential of a call to ``/{name}``."""
        name = request.path.strip("/")
        if not name or "/" in name:
            return Response(404, b"{}", [("Content-Type", "application/json")])
        if self.front is Front.NGINX:
            der = request.client_certificate
            if der is None or self.store.certificate_error(der) is not None:
                page = NGINX_NO_CERTIFICATE if der is None else NGINX_CERTIFICATE_ERROR
                return Response(400, page, [("Content-Type", "text/html"), ("Connection", "close")])
        status = self.store.decide(name, request)
        body = CONTINUE if status == 200 else json_body({"error": "not authorized"})
        response = Response(status, body, [("Content-Type", "application/json")])
        response.authorized = status == 200
        return response


def _basic_key(username: str, password: str) -> str:
    return hashlib.sha256(f"{username}:{password}".encode()).hexdigest()


def _basic_from(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return _basic_key(username, password) if sep else None
