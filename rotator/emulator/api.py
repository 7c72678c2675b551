"""The API side of the emulated connectors: the customer's REST API that B2C calls.

One HTTPS endpoint per name, ``{api_url}/{name}`` (a connector's ``targetUrl``). Like an API on
App Service with client certificates, it asks for a client certificate during the handshake and
checks it in the application: the certificate must chain to an issuer it trusts (checked at TLS,
as nginx's ``ssl_client_certificate`` does: an unknown issuer aborts the handshake) and, when the
endpoint lists thumbprints, be one of them (else HTTP 403). Basic credentials are compared with
the accepted set (else HTTP 401). A credential trusted ``delay`` seconds ago is accepted only
once that delay has passed (an API picking up its new trust list). The answer is B2C's
``{"version": "1.0.0", "action": "Continue"}``.
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

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from rotator.emulator.server import Request, Response, json_body

CONTINUE = json_body({"version": "1.0.0", "action": "Continue"})


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
        self._clock = time.time
        self._server_context: Callable[[], ssl.SSLContext] | None = None
        self._context: ssl.SSLContext | None = None  # rebuilt when the trusted issuers change

    def serve_with(self, server_context: Callable[[], ssl.SSLContext]) -> None:
        """How to make a TLS server context with the endpoint's own certificate."""
        with self._lock:
            self._server_context, self._context = server_context, None

    def trust_issuer(self, certificate: x509.Certificate) -> None:
        """Let client certificates issued by ``certificate`` through the TLS handshake."""
        der = certificate.public_bytes(serialization.Encoding.DER)
        with self._lock:
            self._issuers[hashlib.sha1(der).hexdigest()] = certificate.public_bytes(  # noqa: S324
                serialization.Encoding.PEM
            )
            self._context = None

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
        """Forget every endpoint and trusted issuer."""
        with self._lock:
            self._endpoints.clear()
            self._issuers.clear()
            self._context = None

    def tls_context(self) -> ssl.SSLContext:
        """The server context for the next connection: asks for a client certificate when an
        issuer is trusted, and verifies it against the issuers trusted now."""
        with self._lock:
            if self._context is None:
                if self._server_context is None:
                    raise RuntimeError("the API endpoint has no server certificate yet")
                context = self._server_context()
                issuers = b"".join(self._issuers.values())
                if issuers:
                    context.verify_mode = ssl.CERT_OPTIONAL
                    context.load_verify_locations(cadata=issuers.decode("ascii"))
                self._context = context
            return self._context

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
    """Answers the connectors' API calls (``/{name}``) as :class:`ApiStore` decides."""

    name = "api"

    def __init__(self, store: ApiStore) -> None:
        """Serve ``store``."""
        self.store = store

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
