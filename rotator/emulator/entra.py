"""The Entra ID (Azure AD) token endpoint for apps: OpenID discovery and client credentials (v2.0).

What MSAL, behind azure-identity's ``CertificateCredential`` and ``ClientSecretCredential``, asks
for when instance discovery is off (rotator turns it off for a non-Microsoft authority host):

1. ``GET /{tenant}/v2.0/.well-known/openid-configuration`` → ``token_endpoint`` and ``issuer``;
2. ``POST /{tenant}/oauth2/v2.0/token`` (form) with ``grant_type=client_credentials``,
   ``scope=<resource>/.default``, ``client_id`` and either ``client_secret`` or
   ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` plus a
   ``client_assertion`` JWT signed with the app's certificate (RS256 with ``x5t`` from
   azure-identity, PS256 with ``x5t#S256`` from MSAL's own thumbprint-less form).

Refusals carry Entra's real error shape and codes: ``invalid_tenant`` / AADSTS90002 (unknown
tenant), ``unauthorized_client`` / AADSTS700016 (no such app), ``invalid_client`` /
AADSTS7000215 (wrong secret), AADSTS700027 (assertion signed by a key the app does not hold, a
removed one, one added through addKey that is not accepted yet, or an expired one), AADSTS50012 (wrong ``aud``), AADSTS700021 (``iss``/``sub`` not the client),
AADSTS700024 (outside ``nbf``/``exp``), AADSTS7000218 (no credential), ``invalid_scope`` /
AADSTS1002012 (scope without ``/.default``). Issued tokens are the emulator's ordinary JWTs with
``tid`` = the app's tenant, ``oid`` = its service principal and ``roles`` = the app roles granted
for Graph, so the emulated Graph and Key Vault judge them exactly like managed-identity tokens.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from rotator.emulator.identity import GRAPH_ROLE
from rotator.emulator.server import Request, Response, json_body
from rotator.emulator.tokens import TokenMinter

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW_SECONDS = 300
_HASH_ROUNDS = 1000
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DISCOVERY = re.compile(r"^/([^/]+)(/v2\.0)?/\.well-known/openid-configuration/?$")
_TOKEN = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")


@dataclass(frozen=True)
class IssuedToken:
    """One token the endpoint issued (never the token itself)."""

    tenant_id: str
    client_id: str
    scope: str
    credential: str  # "certificate" or "secret"
    thumbprint: str | None  # the certificate that signed the assertion (SHA-1, upper-case hex)
    at: float


@dataclass(frozen=True)
class KeyCredential:
    """One certificate key credential of an application, as the emulator keeps it (public only).

    ``accepted_from`` is when the token endpoint (and addKey/removeKey proofs) start to accept
    it: at once for keys registered out of band, ``added_at + new_key_delay`` for keys added
    through addKey.
    """

    key_id: str
    thumbprint: str  # SHA-1 of the DER certificate, upper-case hex
    display_name: str
    start: dt.datetime
    end: dt.datetime
    added_at: dt.datetime
    accepted_from: dt.datetime
    added_by_add_key: bool

    def usable(self, now: dt.datetime) -> bool:
        """True when the key is accepted already and its certificate is valid at ``now``."""
        return self.accepted_from <= now and self.start <= now < self.end


@dataclass
class _Key:
    credential: KeyCredential
    certificate: x509.Certificate = field(repr=False)


@dataclass
class _App:
    client_id: str
    tenant_id: str
    object_id: str  # the service principal (``oid`` of its tokens)
    application_id: str  # the application object (addKey's ``{id}`` and the proof's ``iss``)
    display_name: str
    roles: frozenset[str]
    keys: list[_Key] = field(default_factory=list)
    secret_salt: bytes | None = field(default=None, repr=False)
    secret_digest: bytes | None = field(default=None, repr=False)

    def key(self, x5t: str) -> _Key | None:
        """The key whose base64url SHA-1 (or SHA-256) thumbprint is ``x5t``, or None."""
        for key in self.keys:
            if x5t in (
                _b64url(key.certificate.fingerprint(hashes.SHA1())),  # noqa: S303 - x5t is SHA-1
                _b64url(key.certificate.fingerprint(hashes.SHA256())),
            ):
                return key
        return None


def _key(
    certificate: x509.Certificate,
    *,
    display_name: str,
    added_at: dt.datetime,
    accepted_from: dt.datetime,
    added_by_add_key: bool,
) -> _Key:
    credential = KeyCredential(
        key_id=str(uuid.uuid4()),
        thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
        display_name=display_name,
        start=certificate.not_valid_before_utc,
        end=certificate.not_valid_after_utc,
        added_at=added_at,
        accepted_from=accepted_from,
        added_by_add_key=added_by_add_key,
    )
    return _Key(credential, certificate)


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), salt, _HASH_ROUNDS)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class EntraDirectory:
    """The emulated directory: which tenants exist and the apps registered in them.

    The managed identity's own tenant always exists; registering an app creates its tenant.
    A secret is kept only as a salted hash; a certificate only as its public part.
    ``new_key_delay`` (seconds) is how long a key added through addKey waits before Entra
    accepts it, as real Entra may take minutes.
    """

    def __init__(self, home_tenant_id: str) -> None:
        """Start with the home tenant and no app."""
        self._lock = threading.Lock()
        self._home = home_tenant_id
        self._apps: dict[tuple[str, str], _App] = {}
        self._issued: list[IssuedToken] = []
        self.new_key_delay = 0.0

    def register_app(
        self,
        client_id: str,
        *,
        tenant_id: str,
        certificate: x509.Certificate | None = None,
        secret: str | None = None,
        roles: Iterable[str] = frozenset({GRAPH_ROLE}),
        certificates: Iterable[x509.Certificate] = (),
        display_name: str = "rotator",
    ) -> str:
        """Register (or replace) an app in ``tenant_id`` and return its service principal id.

        ``certificate`` and ``certificates`` become its key credentials, accepted at once (as
        if uploaded in the portal); :meth:`object_id` is the application's object id.
        ``roles`` are the Graph application permissions granted with admin consent; they go
        into tokens for Graph only.

        Raises:
            ValueError: ``client_id`` or ``tenant_id`` is not a GUID, the app has no credential,
                or a certificate is given twice.
        """
        if not _GUID.match(client_id) or not _GUID.match(tenant_id):
            raise ValueError("client_id and tenant_id must be GUIDs")
        all_certificates = [*([certificate] if certificate is not None else []), *certificates]
        if not all_certificates and secret is None:
            raise ValueError("register a certificate, a secret or both")
        now = dt.datetime.now(dt.UTC)
        keys = [
            _key(
                cert,
                display_name=cert.subject.rfc4514_string(),
                added_at=now,
                accepted_from=now,
                added_by_add_key=False,
            )
            for cert in all_certificates
        ]
        if len({k.credential.thumbprint for k in keys}) != len(keys):
            raise ValueError("the same certificate is given twice")
        app = _App(
            client_id=client_id.lower(),
            tenant_id=tenant_id.lower(),
            object_id=str(uuid.uuid4()),
            application_id=str(uuid.uuid4()),
            display_name=display_name,
            roles=frozenset(roles),
            keys=keys,
        )
        if secret is not None:
            app.secret_salt = secrets.token_bytes(16)
            app.secret_digest = _hash(secret, app.secret_salt)
        with self._lock:
            self._apps[(app.tenant_id, app.client_id)] = app
        return app.object_id

    def clear(self) -> None:
        """Forget every app and every issued token (the home tenant stays); no key delay."""
        with self._lock:
            self._apps.clear()
            self._issued.clear()
            self.new_key_delay = 0.0

    def issued(self) -> list[IssuedToken]:
        """Every token issued so far, oldest first."""
        with self._lock:
            return list(self._issued)

    def tenant_exists(self, tenant_id: str) -> bool:
        """True for the home tenant and any tenant an app is registered in."""
        wanted = tenant_id.lower()
        with self._lock:
            return wanted == self._home.lower() or any(t == wanted for t, _ in self._apps)

    def app(self, tenant_id: str, client_id: str) -> _App | None:
        """The app ``client_id`` registered in ``tenant_id``, or None."""
        with self._lock:
            return self._apps.get((tenant_id.lower(), client_id.lower()))

    def record(self, token: IssuedToken) -> None:
        """Remember one issued token."""
        with self._lock:
            self._issued.append(token)

    def _registered(self, tenant_id: str, client_id: str) -> _App:
        app = self._apps.get((tenant_id.lower(), client_id.lower()))
        if app is None:
            raise KeyError(f"no app {client_id!r} in tenant {tenant_id!r}")
        return app

    def object_id(self, tenant_id: str, client_id: str) -> str:
        """The application's object id (the ``{id}`` of addKey, the ``iss`` of its proofs).

        Raises:
            KeyError: no such app.
        """
        with self._lock:
            return self._registered(tenant_id, client_id).application_id

    def key_credentials(self, tenant_id: str, client_id: str) -> list[KeyCredential]:
        """The app's certificate key credentials, oldest first.

        Raises:
            KeyError: no such app.
        """
        with self._lock:
            return [key.credential for key in self._registered(tenant_id, client_id).keys]

    def application(self, object_id: str) -> _App | None:
        """The app whose application object id is ``object_id``, or None."""
        wanted = object_id.lower()
        with self._lock:
            return next((a for a in self._apps.values() if a.application_id == wanted), None)

    def add_key(
        self, app: _App, certificate: x509.Certificate, display_name: str, now: dt.datetime
    ) -> KeyCredential | None:
        """Add a certificate through addKey (accepted after ``new_key_delay``); None when the
        app already holds it."""
        key = _key(
            certificate,
            display_name=display_name,
            added_at=now,
            accepted_from=now + dt.timedelta(seconds=self.new_key_delay),
            added_by_add_key=True,
        )
        with self._lock:
            if any(k.credential.thumbprint == key.credential.thumbprint for k in app.keys):
                return None
            app.keys.append(key)
        return key.credential

    def accept_new_keys(self) -> int:
        """Entra catches up now: every key added through addKey that still waits out
        ``new_key_delay`` is accepted from this moment (a test's stand-in for waiting the delay
        out). Returns how many keys were waiting."""
        now = dt.datetime.now(dt.UTC)
        waiting = 0
        with self._lock:
            for app in self._apps.values():
                for key in app.keys:
                    if key.credential.accepted_from > now:
                        key.credential = replace(key.credential, accepted_from=now)
                        waiting += 1
        return waiting

    def remove_key(self, app: _App, key_id: str) -> bool:
        """Remove the key ``key_id`` (removeKey); False when the app has no such key."""
        with self._lock:
            kept = [k for k in app.keys if k.credential.key_id != key_id.lower()]
            removed = len(kept) != len(app.keys)
            app.keys = kept
        return removed


class _Refusal(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description


def _invalid_signature(reason: str, thumbprint: str, client_id: str, extra: str = "") -> _Refusal:
    return _Refusal(
        401,
        "invalid_client",
        700027,
        f"AADSTS700027: Client assertion contains an invalid signature. [Reason - {reason}, "
        f"Thumbprint of key used by client: '{thumbprint}'{extra}, Please visit the Azure "
        "Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
        f"'{client_id}'.]",
    )


class EntraService:
    """Answers OpenID discovery and the v2.0 token endpoint in Entra's error shape."""

    name = "entra"

    def __init__(
        self,
        directory: EntraDirectory,
        tokens: TokenMinter,
        *,
        base_url: Callable[[], str],
        graph_audiences: Callable[[], frozenset[str]],
    ) -> None:
        """Issue with ``tokens``; ``graph_audiences`` tells which resources get the app roles."""
        self.directory = directory
        self.tokens = tokens
        self._base_url = base_url
        self._graph_audiences = graph_audiences

    # -- plumbing ---------------------------------------------------------------------------

    def _json(self, status: int, body: Any, *, authorized: bool = False) -> Response:
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Cache-Control", "no-store, no-cache"),
            ("Pragma", "no-cache"),
            ("x-ms-request-id", str(uuid.uuid4())),
        ]
        return Response(status, json_body(body), headers, authorized)

    def _refuse(self, request: Request, refusal: _Refusal) -> Response:
        trace_id = str(uuid.uuid4())
        correlation_id = request.header("client-request-id") or str(uuid.uuid4())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": refusal.error,
            "error_description": (
                f"{refusal.description}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
            ),
            "error_codes": [refusal.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self._base_url()}/error?code={refusal.code}",
        }
        return self._json(refusal.status, body)

    def authorized(self, request: Request) -> bool:
        """The token endpoint authenticates apps by their credential, not a bearer: never."""
        return False

    def tenant_of(self, request: Request) -> str | None:
        """The tenant in the path (``/{tenant}/oauth2/v2.0/token``, discovery) when it is a GUID."""
        for pattern in (_TOKEN, _DISCOVERY):
            if (match := pattern.match(request.path)) and _GUID.match(match.group(1)):
                return match.group(1).lower()
        return None

    def fault(self, request: Request, status: int) -> Response:
        """An injected (or crash) answer in Entra's error shape."""
        if status == 429:
            refusal = _Refusal(
                429,
                "temporarily_unavailable",
                50196,
                "AADSTS50196: The server terminated an "
                "operation because it encountered a client request loop.",
            )
        elif status >= 500:
            refusal = _Refusal(
                status,
                "temporarily_unavailable",
                90033,
                "AADSTS90033: A transient error has occurred. Please try again.",
            )
        else:
            refusal = _Refusal(
                status, "invalid_request", 900144, f"AADSTS900144: Injected status {status}."
            )
        return self._refuse(request, refusal)

    # -- routing ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer discovery or a token request."""
        try:
            return self._route(request)
        except _Refusal as refusal:
            return self._refuse(request, refusal)

    def _route(self, request: Request) -> Response:
        for pattern, method, answer in (
            (_DISCOVERY, "GET", self._discovery),
            (_TOKEN, "POST", self._token),
        ):
            if match := pattern.match(request.path):
                if request.method != method:
                    raise _Refusal(
                        405,
                        "invalid_request",
                        900561,
                        f"AADSTS900561: The endpoint only accepts {method} requests.",
                    )
                return answer(request, match.group(1))
        raise _Refusal(
            404,
            "invalid_request",
            900023,
            "AADSTS900023: Specified tenant identifier or endpoint is neither a valid DSTS nor "
            "a valid path.",
        )

    def _tenant(self, tenant: str) -> str:
        if not _GUID.match(tenant) or not self.directory.tenant_exists(tenant):
            raise _Refusal(
                400,
                "invalid_tenant" if _GUID.match(tenant) else "invalid_request",
                90002,
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the "
                "correct tenant ID and are signing into the correct cloud. Check with your "
                "subscription administrator, this may happen if there are no active "
                "subscriptions for the tenant.",
            )
        return tenant.lower()

    def _discovery(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant(tenant)
        base = self._base_url()
        body = {
            "token_endpoint": f"{base}/{tenant_id}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tenant_id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant_id}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant_id}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant_id}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
            "kerberos_endpoint": f"{base}/{tenant_id}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulator.local",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return self._json(200, body)

    def _token(self, request: Request, tenant: str) -> Response:
        tenant_id = self._tenant(tenant)
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise _Refusal(
                400,
                "unsupported_grant_type",
                70003,
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id", "").strip()
        app = self.directory.app(tenant_id, client_id)
        if app is None:
            raise _Refusal(
                400,
                "unauthorized_client",
                700016,
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                f"directory '{tenant_id}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You may have sent your authentication request to the wrong tenant.",
            )
        resource = self._resource(form.get("scope", ""))
        endpoint = f"{self._base_url()}/{tenant_id}/oauth2/v2.0/token"
        if "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise _Refusal(
                    400,
                    "invalid_request",
                    50027,
                    "AADSTS50027: JWT token is invalid or malformed. The client_assertion_type "
                    f"must be '{JWT_BEARER}'.",
                )
            thumbprint = self._check_assertion(app, form["client_assertion"], endpoint)
            credential = "certificate"
        elif "client_secret" in form:
            self._check_secret(app, form["client_secret"])
            thumbprint, credential = None, "secret"
        else:
            raise _Refusal(
                401,
                "invalid_client",
                7000218,
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        roles = app.roles if resource in self._graph_audiences() else frozenset()
        token, expires_on = self.tokens.mint(
            audience=resource,
            roles=roles,
            client_id=app.client_id,
            tenant_id=app.tenant_id,
            object_id=app.object_id,
            display_name=app.display_name,
        )
        self.directory.record(
            IssuedToken(
                tenant_id=app.tenant_id,
                client_id=app.client_id,
                scope=form.get("scope", ""),
                credential=credential,
                thumbprint=thumbprint,
                at=time.time(),
            )
        )
        lifetime = expires_on - int(time.time())
        body = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }
        return self._json(200, body, authorized=True)

    @staticmethod
    def _resource(scope: str) -> str:
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise _Refusal(
                400,
                "invalid_scope",
                1002012,
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        return scopes[0][: -len("/.default")].rstrip("/")

    @staticmethod
    def _check_secret(app: _App, secret: str) -> None:
        if (
            app.secret_salt is None
            or app.secret_digest is None
            or not hmac.compare_digest(_hash(secret, app.secret_salt), app.secret_digest)
        ):
            raise _Refusal(
                401,
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID, for a secret "
                f"added to app '{app.client_id}'.",
            )

    def _check_assertion(self, app: _App, assertion: str, endpoint: str) -> str:
        """Verify the client assertion; return the SHA-1 thumbprint of the key that signed it."""
        try:
            head_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            payload = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _Refusal(
                401, "invalid_client", 50027, "AADSTS50027: JWT token is invalid or malformed."
            ) from None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise _Refusal(
                401, "invalid_client", 50027, "AADSTS50027: JWT token is invalid or malformed."
            )
        presented = self._presented_thumbprint(header)
        now = dt.datetime.now(dt.UTC)
        key = app.key(presented)
        if key is None or now < key.credential.accepted_from:
            # a removed key, or one added through addKey that Entra does not accept yet
            raise _invalid_signature("The key was not found.", _hex(presented), app.client_id)
        cert = key.certificate
        thumbprint = key.credential.thumbprint
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            # Entra's answer for an expired registered key: AADSTS700027 "Client assertion
            # contains an invalid signature. [Reason - The key used is expired., Thumbprint of
            # key used by client: '…', Found key 'Start=…, End=…']", quoted in Microsoft's Azure
            # Stack HCI troubleshooting page "troubleshoot-hci-registration" (AADSTS700027).
            found = (
                f", Found key 'Start={cert.not_valid_before_utc:%m/%d/%Y %H:%M:%S}, "
                f"End={cert.not_valid_after_utc:%m/%d/%Y %H:%M:%S}'"
            )
            raise _invalid_signature("The key used is expired.", thumbprint, app.client_id, found)
        self._check_signature(cert, header, head_b64, payload_b64, signature, app, thumbprint)
        self._check_claims(payload, app, endpoint)
        return thumbprint

    @staticmethod
    def _presented_thumbprint(header: dict[str, Any]) -> str:
        value = header.get("x5t#S256") or header.get("x5t")
        if not isinstance(value, str) or not value:
            raise _Refusal(
                401,
                "invalid_client",
                50027,
                "AADSTS50027: JWT token is invalid or malformed. No certificate thumbprint "
                "specified in token header.",
            )
        return value.rstrip("=")  # MSAL pads its base64url thumbprints, RFC 7515 does not

    @staticmethod
    def _check_signature(
        cert: x509.Certificate,
        header: dict[str, Any],
        head_b64: str,
        payload_b64: str,
        signature: bytes,
        app: _App,
        thumbprint: str,
    ) -> None:
        public_key = cert.public_key()
        algorithm = header.get("alg")
        signed = f"{head_b64}.{payload_b64}".encode("ascii")
        if not isinstance(public_key, rsa.RSAPublicKey) or algorithm not in ("RS256", "PS256"):
            raise _invalid_signature(
                f"The key does not support the algorithm {algorithm}.", thumbprint, app.client_id
            )
        scheme: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if algorithm == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        )
        try:
            public_key.verify(signature, signed, scheme, hashes.SHA256())
        except InvalidSignature:
            raise _invalid_signature(
                "Key was found, but use of the key to verify the signature failed.",
                thumbprint,
                app.client_id,
            ) from None

    @staticmethod
    def _check_claims(payload: dict[str, Any], app: _App, endpoint: str) -> None:
        audiences = {endpoint, endpoint.replace("://127.0.0.1", "://localhost")}
        audiences |= {a.replace("://localhost", "://127.0.0.1") for a in audiences}
        if payload.get("aud") not in audiences:
            raise _Refusal(
                401,
                "invalid_client",
                50012,
                "AADSTS50012: Client assertion audience claim does not match Realm issuer.",
            )
        if str(payload.get("iss", "")).lower() != app.client_id or (
            str(payload.get("sub", "")).lower() != app.client_id
        ):
            raise _Refusal(
                401,
                "invalid_client",
                700021,
                "AADSTS700021: Client assertion application identifier doesn't match "
                "'client_id' parameter.",
            )
        now = time.time()
        exp, nbf = payload.get("exp"), payload.get("nbf", payload.get("iat"))
        if (
            not isinstance(exp, int | float)
            or exp < now - CLOCK_SKEW_SECONDS
            or (isinstance(nbf, int | float) and nbf > now + CLOCK_SKEW_SECONDS)
        ):
            raise _Refusal(
                401,
                "invalid_client",
                700024,
                "AADSTS700024: Client assertion is not within its valid time range.",
            )


def _hex(b64url_thumbprint: str) -> str:
    try:
        return _b64url_decode(b64url_thumbprint).hex().upper()
    except (ValueError, binascii.Error):
        return b64url_thumbprint
