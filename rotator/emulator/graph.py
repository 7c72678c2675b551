"""Microsoft Graph ``identity/apiConnectors`` (beta and v1.0): the connector store and its REST face.

Passwords are never kept: a basic-auth password is held as a salted PBKDF2 hash (for
:meth:`GraphStore.password_matches`), and an uploaded PFX is reduced to its public certificates.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from cryptography import x509

from rotator.emulator import pfx, pki
from rotator.emulator.applications import ApplicationProblem, ApplicationsApi, Caller
from rotator.emulator.entra import EntraDirectory
from rotator.emulator.identity import GRAPH_ROLE
from rotator.emulator.keysets import KeySetStore
from rotator.emulator.keysets_api import KeySetProblem, KeySetsApi
from rotator.emulator.lag import use_stale_read
from rotator.emulator.server import Request, Response, json_body
from rotator.emulator.tokens import InvalidToken, TokenMinter, bearer_token

AuthType = Literal["basic", "certificate"]
MASKED_PASSWORD = "******"  # noqa: S105 (the mask Graph shows, not a password)
BASIC_TYPE = "#microsoft.graph.basicAuthentication"
PKCS12_TYPE = "#microsoft.graph.pkcs12Certificate"
CLIENT_CERT_TYPE = "#microsoft.graph.clientCertificateAuthentication"
API_VERSIONS = ("beta", "v1.0")
UPLOAD_ACTIONS = ("uploadclientcertificate", "microsoft.graph.uploadclientcertificate")
JSON_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
_HASH_ROUNDS = 1000


@dataclass(frozen=True)
class CertificateEntry:
    """One certificate a connector holds, as Graph would describe it (plus emulator details)."""

    thumbprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    is_active: bool
    chain_thumbprints: tuple[str, ...]
    encryption: str
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class ConnectorSnapshot:
    """What the emulated Graph holds for one connector right now (no password in it)."""

    id: str
    display_name: str
    target_url: str
    auth_type: AuthType
    username: str | None
    certificates: tuple[CertificateEntry, ...]
    writes: int


@dataclass
class _StoredCertificate:
    thumbprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    chain_thumbprints: tuple[str, ...]
    encryption: str
    uploaded_at: dt.datetime


@dataclass
class _Basic:
    username: str
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)


@dataclass
class _Connector:
    id: str
    display_name: str
    target_url: str
    basic: _Basic | None
    certificates: list[_StoredCertificate]
    writes: int = 0
    tenant_id: str = ""  # the directory that owns it: only tokens of that tenant see it

    @property
    def auth_type(self) -> AuthType:
        return "basic" if self.basic is not None else "certificate"


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _HASH_ROUNDS)


def _basic(username: str, password: str) -> _Basic:
    salt = secrets.token_bytes(16)
    return _Basic(username=username, salt=salt, digest=_hash_password(password, salt))


def _stored(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], encryption: str, now: dt.datetime
) -> _StoredCertificate:
    return _StoredCertificate(
        thumbprint=pki.sha1_thumbprint(leaf),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        chain_thumbprints=tuple(pki.sha1_thumbprint(cert) for cert in chain),
        encryption=encryption,
        uploaded_at=now,
    )


def active_index(certificates: Sequence[_StoredCertificate], now: dt.datetime) -> int | None:
    """Index of the certificate B2C uses: the newest upload not expired whose notBefore passed."""
    for index in range(len(certificates) - 1, -1, -1):
        cert = certificates[index]
        if cert.not_before <= now < cert.not_after:
            return index
    return None


def _snapshot(connector: _Connector, now: dt.datetime) -> ConnectorSnapshot:
    active = active_index(connector.certificates, now)
    return ConnectorSnapshot(
        id=connector.id,
        display_name=connector.display_name,
        target_url=connector.target_url,
        auth_type=connector.auth_type,
        username=connector.basic.username if connector.basic else None,
        certificates=tuple(
            CertificateEntry(
                thumbprint=cert.thumbprint,
                not_before=cert.not_before,
                not_after=cert.not_after,
                is_active=index == active,
                chain_thumbprints=cert.chain_thumbprints,
                encryption=cert.encryption,
                uploaded_at=cert.uploaded_at,
            )
            for index, cert in enumerate(connector.certificates)
        ),
        writes=connector.writes,
    )


class GraphStore:
    """The emulated tenant's API connectors; ``stale_reads`` simulates Graph's read lag."""

    def __init__(self, default_tenant: str = "") -> None:
        """Start with no connector and no read lag; connectors belong to ``default_tenant``
        unless created in another one."""
        self.default_tenant = default_tenant
        self._lock = threading.RLock()
        self._connectors: dict[str, _Connector] = {}
        self._stale: dict[str, tuple[_Connector, int]] = {}
        self.stale_reads = 0

    def clear(self) -> None:
        """Remove every connector and turn the read lag off."""
        with self._lock:
            self._connectors.clear()
            self._stale.clear()
            self.stale_reads = 0

    def add_connector(
        self,
        display_name: str = "Test API connector",
        target_url: str = "https://api.example/validate",
        *,
        username: str | None = None,
        password: str | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """Create a basic-auth connector and return its id.

        Without ``username`` the username is ``placeholder``; without ``password`` it is random.
        ``tenant_id`` is the directory that owns it (default: the managed identity's); Graph
        shows it only to tokens of that tenant, like a B2C tenant's connectors.
        """
        connector = _Connector(
            id=str(uuid.uuid4()),
            display_name=display_name,
            target_url=target_url,
            basic=_basic(username or "placeholder", password or secrets.token_urlsafe(24)),
            certificates=[],
            tenant_id=(tenant_id or self.default_tenant).lower(),
        )
        with self._lock:
            self._connectors[connector.id] = connector
        return connector.id

    def _get(self, connector_id: str) -> _Connector:
        connector = self._connectors.get(connector_id.lower())
        if connector is None:
            raise KeyError(f"no API connector {connector_id!r} in the emulator")
        return connector

    def install_certificate(
        self,
        connector_id: str,
        issued: pki.Issued,
        *,
        chain: Sequence[x509.Certificate] = (),
        replace: bool = False,
    ) -> None:
        """Seed the connector as holding ``issued`` (appended, or alone with ``replace=True``).

        Only the public certificate is kept. Does not count as a write.

        Raises:
            KeyError: no such connector.
        """
        self.install_certificate_der(connector_id, issued.certificate, chain=chain, replace=replace)

    def install_certificate_der(
        self,
        connector_id: str,
        certificate: x509.Certificate,
        *,
        chain: Sequence[x509.Certificate] = (),
        replace: bool = False,
    ) -> None:
        """Like :meth:`install_certificate` from a bare certificate (used by the control surface).

        Raises:
            KeyError: no such connector.
        """
        stored = _stored(certificate, chain, "3des", pki.utcnow())
        with self._lock:
            connector = self._get(connector_id)
            if replace or connector.basic is not None:
                connector.certificates = []
            connector.basic = None
            connector.certificates.append(stored)

    def connector(self, connector_id: str) -> ConnectorSnapshot:
        """The current state of one connector (ignores the read lag).

        Raises:
            KeyError: no such connector.
        """
        with self._lock:
            return _snapshot(self._get(connector_id), pki.utcnow())

    def connectors(self) -> list[ConnectorSnapshot]:
        """The current state of every connector."""
        now = pki.utcnow()
        with self._lock:
            return [_snapshot(c, now) for c in self._connectors.values()]

    def password_matches(self, connector_id: str, candidate: str) -> bool:
        """True when the connector uses basic auth with exactly this password.

        Raises:
            KeyError: no such connector.
        """
        with self._lock:
            basic = self._get(connector_id).basic
        if basic is None:
            return False
        return hmac.compare_digest(basic.digest, _hash_password(candidate, basic.salt))

    # -- used by the service ----------------------------------------------------------------

    def exists(self, connector_id: str) -> bool:
        """True when the connector exists (no read lag)."""
        with self._lock:
            return connector_id.lower() in self._connectors

    def tenant_of(self, connector_id: str) -> str | None:
        """The tenant that owns the connector, or None when there is no such connector."""
        with self._lock:
            connector = self._connectors.get(connector_id.lower())
            return connector.tenant_id if connector else None

    def read(self, connector_id: str) -> _Connector | None:
        """A copy of the connector as a lagging Graph read would show it (uses up one stale read)."""
        key = connector_id.lower()
        with self._lock:
            stale = use_stale_read(self._stale, key)
            if stale is not None:
                return copy.deepcopy(stale)
            connector = self._connectors.get(key)
            return copy.deepcopy(connector) if connector else None

    def read_all(self) -> list[_Connector]:
        """Copies of every connector (a lagging one shows its pre-write state)."""
        with self._lock:
            return [
                copy.deepcopy(self._stale[key][0] if key in self._stale else connector)
                for key, connector in self._connectors.items()
            ]

    def create(
        self,
        display_name: str,
        target_url: str,
        auth: _Basic | _StoredCertificate,
        tenant_id: str = "",
    ) -> _Connector:
        """Create a connector from a POST (in the caller's tenant)."""
        connector = _Connector(
            id=str(uuid.uuid4()),
            display_name=display_name,
            target_url=target_url,
            basic=auth if isinstance(auth, _Basic) else None,
            certificates=[auth] if isinstance(auth, _StoredCertificate) else [],
            tenant_id=(tenant_id or self.default_tenant).lower(),
        )
        with self._lock:
            self._connectors[connector.id] = connector
            return copy.deepcopy(connector)

    def _before_write(self, connector: _Connector) -> None:
        if self.stale_reads <= 0:
            return
        previous = self._stale.get(connector.id)
        state = previous[0] if previous else copy.deepcopy(connector)
        self._stale[connector.id] = (state, self.stale_reads)

    def patch(
        self,
        connector_id: str,
        *,
        display_name: str | None,
        target_url: str | None,
        auth: _Basic | _StoredCertificate | None,
    ) -> bool:
        """Apply a PATCH; False when the connector does not exist."""
        with self._lock:
            connector = self._connectors.get(connector_id.lower())
            if connector is None:
                return False
            self._before_write(connector)
            if display_name is not None:
                connector.display_name = display_name
            if target_url is not None:
                connector.target_url = target_url
            if isinstance(auth, _Basic):
                connector.basic = auth
                connector.certificates = []
            elif isinstance(auth, _StoredCertificate):
                connector.basic = None
                connector.certificates = [auth]
            connector.writes += 1
            return True

    def upload(self, connector_id: str, cert: _StoredCertificate) -> _Connector | None:
        """Append a certificate (uploadClientCertificate); None when the connector is unknown."""
        with self._lock:
            connector = self._connectors.get(connector_id.lower())
            if connector is None:
                return None
            self._before_write(connector)
            if connector.basic is not None:
                connector.basic = None
                connector.certificates = []
            connector.certificates.append(cert)
            connector.writes += 1
            return copy.deepcopy(connector)

    def delete(self, connector_id: str) -> bool:
        """Delete a connector; False when it does not exist."""
        with self._lock:
            self._stale.pop(connector_id.lower(), None)
            return self._connectors.pop(connector_id.lower(), None) is not None


class _Problem(Exception):
    """A Graph error answer raised from deep inside request handling."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _type_name(value: Any) -> str:
    return str(value or "").lstrip("#").casefold()


class GraphService:
    """Answers the Graph API-connector calls; errors use Graph's ``{"error":{…}}`` shape."""

    name = "graph"

    def __init__(
        self,
        store: GraphStore,
        tokens: TokenMinter,
        *,
        base_url: Callable[[], str],
        audiences: Callable[[], frozenset[str]],
        directory: EntraDirectory | None = None,
        keysets: KeySetStore | None = None,
    ) -> None:
        """Serve ``store``; accept tokens whose ``aud`` is in ``audiences()``; with a
        ``directory``, also its applications (``/applications/{id}``, addKey, removeKey); with
        ``keysets``, B2C's policy keys (``/beta/trustFramework/keySets``)."""
        self.store = store
        self.tokens = tokens
        self._base_url = base_url
        self._audiences = audiences
        self._applications = ApplicationsApi(directory) if directory is not None else None
        self._keysets = KeySetsApi(keysets) if keysets is not None else None
        self._caller_tenant = threading.local()  # the verified token's tenant, per request
        self._caller_app = threading.local()  # and its app (client) id

    def _tenant(self) -> str:
        return str(getattr(self._caller_tenant, "value", "") or self.store.default_tenant).lower()

    # -- plumbing ---------------------------------------------------------------------------

    def _base(self, request: Request) -> str:
        host = request.header("host") or ""
        if re.fullmatch(r"(localhost|127\.0\.0\.1)(:\d+)?", host):
            return f"https://{host}"
        return self._base_url()

    @staticmethod
    def _ids(request: Request) -> tuple[str, str]:
        request_id = str(uuid.uuid4())
        client_request_id = request.header("client-request-id") or request_id
        return request_id, client_request_id

    def _headers(self, request: Request, request_id: str, client_id: str) -> list[tuple[str, str]]:
        return [
            ("Cache-Control", "no-cache"),
            ("Vary", "Accept-Encoding"),
            ("Strict-Transport-Security", "max-age=31536000"),
            ("request-id", request_id),
            ("client-request-id", client_id),
            (
                "x-ms-ags-diagnostic",
                '{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"0",'
                '"ScaleUnit":"000","RoleInstance":"emulator"}}',
            ),
            ("OData-Version", "4.0"),
        ]

    def _answer(
        self, request: Request, status: int, body: Any | None, *, authorized: bool = True
    ) -> Response:
        request_id, client_id = self._ids(request)
        headers = self._headers(request, request_id, client_id)
        if body is None:
            return Response(status, b"", headers, authorized)
        headers.append(("Content-Type", JSON_CONTENT_TYPE))
        return Response(status, json_body(body), headers, authorized)

    def _error(
        self,
        request: Request,
        status: int,
        code: str,
        message: str,
        *,
        authorized: bool = True,
        detail: str | None = None,
        correlation: bool = False,
    ) -> Response:
        request_id, client_id = self._ids(request)
        headers = self._headers(request, request_id, client_id)
        headers.append(("Content-Type", JSON_CONTENT_TYPE))
        if status == 401:
            headers.append(
                (
                    "WWW-Authenticate",
                    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                    'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
                )
            )
        body = {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    **({"correlationId": str(uuid.uuid4())} if correlation else {}),
                    "date": pki.utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": client_id,
                    **({"emulatorDetail": detail} if detail else {}),
                },
            }
        }
        return Response(status, json_body(body), headers, authorized)

    def _check_token(self, request: Request) -> tuple[_Problem | None, frozenset[str]]:
        token = bearer_token(request.header("authorization"))
        if token is None:
            return _Problem(
                401, "InvalidAuthenticationToken", "Access token is empty."
            ), frozenset()
        try:
            claims = self.tokens.verify(token)
        except InvalidToken as exc:
            message = (
                "Lifetime validation failed, the token is expired."
                if "expired" in str(exc)
                else "Access token validation failure."
            )
            return _Problem(401, "InvalidAuthenticationToken", message), frozenset()
        if claims.audience not in self._audiences():
            return (
                _Problem(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                ),
                frozenset(),
            )
        self._caller_tenant.value = claims.tenant_id.lower()
        self._caller_app.value = claims.app_id.lower()
        return None, claims.roles

    def authorized(self, request: Request) -> bool:
        """True when the request carries a valid Graph token."""
        return self._check_token(request)[0] is None

    def tenant_of(self, request: Request) -> str | None:
        """The ``tid`` of a valid Graph token, or None (no token, or one Graph refuses)."""
        if self._check_token(request)[0] is not None:
            return None
        return self._tenant()

    def fault(self, request: Request, status: int) -> Response:
        """An injected (or crash) answer in Graph's error shape."""
        codes = {
            400: ("BadRequest", "Bad request."),
            401: ("InvalidAuthenticationToken", "Access token validation failure."),
            403: (
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ),
            404: ("Request_ResourceNotFound", "Resource does not exist."),
            409: ("Conflict", "The request conflicts with the current state of the resource."),
            429: (
                "TooManyRequests",
                "Too many requests are being made. Please wait before making further requests.",
            ),
            500: ("InternalServerError", "An internal server error occurred."),
            502: ("BadGateway", "The gateway received an invalid response."),
            503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry."),
            504: ("GatewayTimeout", "The gateway timed out."),
        }
        code, message = codes.get(status, ("UnknownError", f"Injected status {status}."))
        return self._error(request, status, code, message, authorized=self.authorized(request))

    # -- routing ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one Graph request."""
        problem, roles = self._check_token(request)
        if problem is not None:
            return self._error(
                request, problem.status, problem.code, problem.message, authorized=False
            )
        try:
            return self._route(request, roles)
        except _Problem as exc:
            return self._error(request, exc.status, exc.code, exc.message)
        except ApplicationProblem as exc:
            return self._error(request, exc.status, exc.code, exc.message, detail=exc.detail)
        except KeySetProblem as exc:
            return self._error(request, exc.status, exc.code, exc.message, correlation=exc.b2c)

    def _route(self, request: Request, roles: frozenset[str]) -> Response:
        segments = [unquote(part) for part in request.path.split("/")[1:]]
        while segments and segments[-1] == "":
            segments.pop()
        if not segments:
            raise _Problem(400, "BadRequest", "Invalid version.")
        version = segments[0].lower()
        if version not in API_VERSIONS:
            raise _Problem(400, "BadRequest", f"Invalid version: {segments[0]}")
        rest = segments[1:]
        if rest and rest[0].lower() == "applications" and self._applications is not None:
            return self._application(request, version, self._applications, rest[1:])
        if rest and rest[0].lower() == "trustframework" and self._keysets and version == "beta":
            return self._keyset(request, self._keysets, rest[1:], roles)
        expected = ("identity", "apiconnectors")
        for index, word in enumerate(expected):
            if len(rest) <= index or rest[index].lower() != word:
                segment = rest[index] if len(rest) > index else segments[-1]
                raise _Problem(
                    400, "BadRequest", f"Resource not found for the segment '{segment}'."
                )
        if GRAPH_ROLE not in roles:
            raise _Problem(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        method = request.method
        if len(rest) == 2:
            if method == "GET":
                return self._list(request, version)
            if method == "POST":
                return self._create(request, version)
            raise self._not_allowed()
        connector_id = rest[2]
        if self.store.tenant_of(connector_id) not in (None, self._tenant()):
            raise self._not_found(connector_id)  # another directory's connector: invisible here
        if len(rest) == 3:
            if method == "GET":
                return self._get(request, version, connector_id)
            if method == "PATCH":
                return self._patch(request, connector_id)
            if method == "DELETE":
                return self._delete(request, connector_id)
            raise self._not_allowed()
        if len(rest) == 4 and rest[3].lower() in UPLOAD_ACTIONS:
            if method == "POST":
                return self._upload(request, version, connector_id)
            raise self._not_allowed()
        raise _Problem(400, "BadRequest", f"Resource not found for the segment '{rest[3]}'.")

    def _application(
        self, request: Request, version: str, api: ApplicationsApi, rest: list[str]
    ) -> Response:
        """``/applications/…``: an app reading itself or rolling its own keys (no permission)."""
        caller = Caller(
            tenant_id=self._tenant(), app_id=str(getattr(self._caller_app, "value", "")).lower()
        )
        status, body = api.handle(request.method, rest, caller, lambda: self._json_object(request))
        if body is not None:
            kind = "applications/$entity" if len(rest) == 1 else "microsoft.graph.keyCredential"
            body = {"@odata.context": f"{self._base(request)}/{version}/$metadata#{kind}", **body}
        return self._answer(request, status, body)

    def _keyset(
        self, request: Request, api: KeySetsApi, rest: list[str], roles: frozenset[str]
    ) -> Response:
        """``/beta/trustFramework/…``: B2C's policy keys (see :mod:`rotator.emulator.keysets_api`)."""
        answer = api.handle(
            request.method,
            rest,
            tenant=self._tenant(),
            roles=roles,
            body=lambda: self._json_object(request),
            context=f"{self._base(request)}/beta/$metadata",
        )
        response = self._answer(request, answer.status, answer.body)
        if answer.location is not None:
            response.headers.append(("Location", answer.location))
        return response

    @staticmethod
    def _not_allowed() -> _Problem:
        return _Problem(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )

    @staticmethod
    def _not_found(connector_id: str) -> _Problem:
        return _Problem(
            404,
            "Request_ResourceNotFound",
            f"Resource '{connector_id}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )

    # -- rendering --------------------------------------------------------------------------

    def _entity(self, connector: _Connector, now: dt.datetime) -> dict[str, Any]:
        configuration: dict[str, Any]
        if connector.basic is not None:
            configuration = {
                "@odata.type": BASIC_TYPE,
                "username": connector.basic.username,
                "password": MASKED_PASSWORD,
            }
        else:
            active = active_index(connector.certificates, now)
            configuration = {
                "@odata.type": CLIENT_CERT_TYPE,
                "certificateList": [
                    {
                        "thumbprint": cert.thumbprint,
                        "notAfter": int(cert.not_after.timestamp()),
                        "notBefore": int(cert.not_before.timestamp()),
                        "isActive": index == active,
                    }
                    for index, cert in enumerate(connector.certificates)
                ],
            }
        return {
            "id": connector.id,
            "displayName": connector.display_name,
            "targetUrl": connector.target_url,
            "authenticationConfiguration": configuration,
        }

    def _entity_body(self, request: Request, version: str, connector: _Connector) -> dict[str, Any]:
        context = f"{self._base(request)}/{version}/$metadata#identity/apiConnectors/$entity"
        return {"@odata.context": context, **self._entity(connector, pki.utcnow())}

    # -- body parsing -----------------------------------------------------------------------

    @staticmethod
    def _json_object(request: Request) -> dict[str, Any]:
        content_type = (request.header("content-type") or "").lower()
        unreadable = _Problem(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format.",
        )
        if "json" not in content_type:
            raise unreadable
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise unreadable from exc
        if not isinstance(body, dict):
            raise unreadable
        return body

    @staticmethod
    def _check_properties(body: dict[str, Any], allowed: Sequence[str], type_name: str) -> None:
        for key in body:
            if key.startswith("@odata.") or key in allowed:
                continue
            raise _Problem(
                400,
                "BadRequest",
                f"The property '{key}' does not exist on type '{type_name}'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type.",
            )

    @staticmethod
    def _string(body: dict[str, Any], key: str, *, required: bool) -> str | None:
        value = body.get(key)
        if value is None:
            if required:
                raise _Problem(400, "Request_BadRequest", f"The property '{key}' is required.")
            return None
        if not isinstance(value, str):
            raise _Problem(
                400,
                "BadRequest",
                f"Cannot convert the literal for property '{key}' to the expected type "
                "'Edm.String'.",
            )
        return value

    def _certificate(self, value: dict[str, Any]) -> _StoredCertificate:
        encoded = value.get("pkcs12Value")
        password = value.get("password")
        if not isinstance(encoded, str) or not encoded:
            raise _Problem(400, "Request_BadRequest", "The property 'pkcs12Value' is required.")
        if not isinstance(password, str):
            raise _Problem(
                400,
                "Request_BadRequest",
                "The property 'password' is required; send an empty string when the file has "
                "no password.",
            )
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _Problem(
                400,
                pfx.BADLY_FORMATTED,
                "The uploaded key is badly formatted. Reason: the value is not valid base64.",
            ) from exc
        now = pki.utcnow()
        try:
            accepted = pfx.accept(data, password, now=now)
        except pfx.PfxRejected as exc:
            raise _Problem(400, exc.code, exc.message) from exc
        return _stored(accepted.leaf, accepted.chain, accepted.encryption, now)

    def _authentication(self, value: Any) -> _Basic | _StoredCertificate:
        if not isinstance(value, dict):
            raise _Problem(
                400, "BadRequest", "The property 'authenticationConfiguration' must be an object."
            )
        kind = _type_name(value.get("@odata.type"))
        if kind == _type_name(BASIC_TYPE):
            self._check_properties(
                value, ("username", "password"), "microsoft.graph.basicAuthentication"
            )
            username = value.get("username")
            password = value.get("password")
            if not isinstance(username, str) or not username:
                raise _Problem(400, "Request_BadRequest", "The property 'username' is required.")
            if not isinstance(password, str) or not password:
                raise _Problem(400, "Request_BadRequest", "The property 'password' is required.")
            return _basic(username, password)
        if kind == _type_name(PKCS12_TYPE):
            self._check_properties(
                value, ("pkcs12Value", "password"), "microsoft.graph.pkcs12Certificate"
            )
            return self._certificate(value)
        if not kind:
            raise _Problem(
                400,
                "BadRequest",
                "The '@odata.type' of authenticationConfiguration is required: the type "
                "'microsoft.graph.apiAuthenticationConfigurationBase' is abstract.",
            )
        raise _Problem(
            400,
            "Request_BadRequest",
            "Only Basic authentication and PKCS 12 client certificate are supported.",
        )

    # -- operations -------------------------------------------------------------------------

    def _list(self, request: Request, version: str) -> Response:
        now = pki.utcnow()
        body = {
            "@odata.context": f"{self._base(request)}/{version}/$metadata#identity/apiConnectors",
            "value": [
                self._entity(c, now) for c in self.store.read_all() if c.tenant_id == self._tenant()
            ],
        }
        return self._answer(request, 200, body)

    def _get(self, request: Request, version: str, connector_id: str) -> Response:
        connector = self.store.read(connector_id)
        if connector is None:
            raise self._not_found(connector_id)
        return self._answer(request, 200, self._entity_body(request, version, connector))

    def _create(self, request: Request, version: str) -> Response:
        body = self._json_object(request)
        allowed = ("displayName", "targetUrl", "authenticationConfiguration")
        self._check_properties(body, allowed, "microsoft.graph.identityApiConnector")
        display_name = self._string(body, "displayName", required=True) or ""
        target_url = self._string(body, "targetUrl", required=True) or ""
        if "authenticationConfiguration" not in body:
            raise _Problem(
                400, "Request_BadRequest", "The property 'authenticationConfiguration' is required."
            )
        auth = self._authentication(body["authenticationConfiguration"])
        connector = self.store.create(display_name, target_url, auth, self._tenant())
        response = self._answer(request, 201, self._entity_body(request, version, connector))
        location = f"{self._base(request)}/{version}/identity/apiConnectors/{connector.id}"
        response.headers.append(("Location", location))
        return response

    def _patch(self, request: Request, connector_id: str) -> Response:
        body = self._json_object(request)
        allowed = ("id", "displayName", "targetUrl", "authenticationConfiguration")
        self._check_properties(body, allowed, "microsoft.graph.identityApiConnector")
        display_name = self._string(body, "displayName", required=False)
        target_url = self._string(body, "targetUrl", required=False)
        if not self.store.exists(connector_id):
            raise self._not_found(connector_id)
        auth = None
        if "authenticationConfiguration" in body:
            auth = self._authentication(body["authenticationConfiguration"])
        if not self.store.patch(
            connector_id, display_name=display_name, target_url=target_url, auth=auth
        ):
            raise self._not_found(connector_id)
        return self._answer(request, 204, None)

    def _delete(self, request: Request, connector_id: str) -> Response:
        if not self.store.delete(connector_id):
            raise self._not_found(connector_id)
        return self._answer(request, 204, None)

    def _upload(self, request: Request, version: str, connector_id: str) -> Response:
        body = self._json_object(request)
        self._check_properties(body, ("pkcs12Value", "password"), "uploadClientCertificate")
        if not self.store.exists(connector_id):
            raise self._not_found(connector_id)
        cert = self._certificate(body)
        connector = self.store.upload(connector_id, cert)
        if connector is None:
            raise self._not_found(connector_id)
        return self._answer(request, 200, self._entity_body(request, version, connector))
