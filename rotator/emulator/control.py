"""The emulator's HTTPS control surface: seed data, inject faults, read the journal (JSON).

Served at ``Emulator.control_url`` with the same CA as the services; bound to 127.0.0.1; not
journaled and never faulted. Bodies and answers are JSON; times are ISO 8601 strings (a
timezone-less one is UTC) or Unix seconds. No answer ever holds a password, a private key or a
PFX: seeded values go in, only ids and public facts come out.

========  =========================================  ============================================
method    path                                       body → answer
========  =========================================  ============================================
GET       /health                                    → 200 ``{"status":"ok"}``
POST      /reset                                     → 204 (vault, graph, faults, journal,
                                                     identity overrides; CA and ports stay)
POST      /vault/secrets/{name}                      ``{"value", "contentType"?, "enabled"?,
                                                     "notBefore"?, "expiresOn"?, "created"?,
                                                     "tags"?}`` → 201 ``{"name","version"}``
POST      /vault/certificates/{name}                 ``{"cer": base64 DER, "secretValue": text
                                                     (base64 PFX or PEM, may be corrupt),
                                                     "contentType"?, "enabled"?, "notBefore"?,
                                                     "expiresOn"?, "created"?, "exportable"?,
                                                     "tags"?}`` → 201 ``{"name","version"}``
                                                     (no ``contentType``: PEM when secretValue
                                                     starts with ``-----BEGIN``, else PKCS#12)
POST      /vault/certificates/{name}/pem             ``{"certificate": PEM (leaf first, then its
                                                     chain), "key": PEM private key,
                                                     "contentType"?, "enabled"?, "created"?}``
                                                     → 201 ``{"name","version","thumbprint"}``
                                                     (imported as ``az keyvault certificate
                                                     import`` does: no base64 by hand)
POST      /vault/certificates/{name}/generate        ``{"subject"?, "notBefore"?, "notAfter"?,
                                                     "keySize"?, "contentType"?, "enabled"?,
                                                     "created"?}`` → 201 ``{"name","version",
                                                     "thumbprint","certificate","issuer"}`` (RSA,
                                                     issued by the emulator's seeding CA, which
                                                     the connectors' API trusts at TLS from
                                                     then on; PEM, public parts only)
PATCH     /vault/{secrets|certificates}/{name}/{v}   ``{"enabled": bool}`` → 204
POST      /vault/deny                                ``{"kind": "secrets"|"certificates",
                                                     "name"?}`` → 204 (403 ForbiddenByRbac)
POST      /vault/allow                               same body → 204 (undoes one deny)
GET       /graph/connectors                          → 200 ``{"value": [snapshot…]}``
POST      /graph/connectors                          ``{"displayName"?, "targetUrl"?,
                                                     "username"?, "password"?}`` → 201 ``{"id"}``
                                                     (without them: basic auth as "placeholder")
GET       /graph/connectors/{id}                     → 200 snapshot: ``id, displayName,
                                                     targetUrl, authType, username, writes,
                                                     certificates: [{thumbprint, notBefore,
                                                     notAfter, isActive, chainThumbprints,
                                                     encryption, uploadedAt}]``
POST      /graph/connectors/{id}/certificates        ``{"cer": base64 DER, "chain"?: [base64
                                                     DER], "replace"?: bool}`` → 204
POST      /graph/connectors/{id}/password-check      ``{"candidate"}`` → 200 ``{"matches"}``
PUT       /graph/stale-reads                         ``{"count": int}`` → 204 (connectors and
                                                     key sets)
GET       /graph/keysets                             → 200 ``{"value": [key set…]}``
POST      /graph/keysets                             ``{"id", "tenantId"?}`` → 201 ``{"id"}``
                                                     (``B2C_1A_`` is put in front, as B2C does;
                                                     409 when it exists)
GET       /graph/keysets/{id}                        → 200 ``{id, tenantId, writes, activeKid,
                                                     keys: [{kid, use, kty, nbf, exp, x5t,
                                                     status, isActive, uploadedAt}]}`` (never
                                                     ``k``)
POST      /graph/keysets/{id}/certificates           ``{"cer": base64 DER}`` → 201 ``{"kid"}``
                                                     (as uploadPkcs12 would derive it: nbf/exp
                                                     from the certificate)
POST      /graph/keysets/{id}/secrets                ``{"value", "use"?: "sig"|"enc" (enc),
                                                     "nbf"?, "exp"?: Unix seconds}`` → 201
                                                     ``{"kid"}``
POST      /graph/keysets/{id}/secret-check           ``{"candidate"}`` → 200 ``{"matches",
                                                     "kid"}`` (the newest key holding it)
DELETE    /graph/keysets/{id}                        → 204
GET       /graph/keyset-clock                        → 200 ``{"offsetSeconds", "now"}``
PUT       /graph/keyset-clock                        ``{"offsetSeconds": number}`` → 200 as GET
                                                     (the key sets' clock: which key is active,
                                                     what is expired)
GET       /identity                                  → 200 ``{"graphRoles","audienceOverride",
                                                     "displayName"}``
PUT       /identity                                  ``{"graphRoles"?: [..], "audienceOverride"?:
                                                     str|null, "displayName"?: str|null}`` → 200
                                                     as GET (displayName: app_displayname)
GET       /faults                                    → 200 ``{"value": [fault…]}``
POST      /faults                                    ``{"service", "method"?, "path"?, "status"?,
                                                     "retryAfter"?, "delay"?, "drop"?,
                                                     "times"?, "after"?, "every"?, "loseResponse"?,
                                                     "body"?: text answered instead (status
                                                     or 200; "{request}" in it echoes the
                                                     request's body), "handled"?: with
                                                     body, the service handles the request
                                                     first (a write lands), "contentType"?,
                                                     "tenant"?: only requests acting in that
                                                     tenant (Graph, Key Vault: the bearer
                                                     token's tid; Entra: the path's tenant)}``
                                                     → 201
DELETE    /faults                                    → 204
POST      /entra/apps                                ``{"clientId", "tenantId", "certificate"?: base64
                                                     DER, "certificates"?: [base64 DER],
                                                     "secret"?, "roles"?: [..], "displayName"?}``
                                                     → 201 ``{"servicePrincipalId", "objectId"}``
                                                     (an app registration for the client modes;
                                                     ``objectId``: the application's object id)
GET       /entra/apps/{tenantId}/{clientId}          → 200 ``{"objectId", "keyCredentials":
                                                     [{keyId, thumbprint, displayName, start,
                                                     end, addedAt, acceptedFrom,
                                                     addedByAddKey}]}``
GET       /entra/new-key-delay                       → 200 ``{"seconds"}``
PUT       /entra/new-key-delay                       ``{"seconds": number ≥ 0}`` → 200 as GET (a
                                                     key added through addKey is accepted for
                                                     tokens and proofs that long after)
POST      /api/issuers                               ``{"cer": base64 DER}`` → 204 (the connectors'
                                                     API lets client certificates of this issuer
                                                     through its TLS handshake)
POST      /api/known-issuers                         ``{"cer": base64 DER}`` → 204 (not trusted,
                                                     but let through the nginx and close fronts'
                                                     handshake, which then refuse it as nginx
                                                     and uvicorn do)
POST      /api/endpoints/{name}/certificates         ``{"thumbprint", "delaySeconds"?}`` → 204
                                                     (``{api_url}/{name}`` accepts it, after the
                                                     delay; others of a trusted issuer get 403)
POST      /api/endpoints/{name}/basic                ``{"username", "password", "delaySeconds"?}``
                                                     → 204 (others get 401)
GET       /api/endpoints/{name}                      → 200 ``{"calls"}``
DELETE    /api/endpoints/{name}                      → 204 (it accepts nothing any more)
GET       /journal                                   → 200 ``{"value": [{service, method, path,
                                                     query, status, authorized, started,
                                                     duration, tenant}…]}`` (``tenant``: null
                                                     where the service cannot tell)
DELETE    /journal                                   → 204
========  =========================================  ============================================

Errors: 400 / 404 / 405 with ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cryptography import x509

from rotator.emulator.graph import ConnectorSnapshot
from rotator.emulator.keysets import KeySetExists, KeySetSnapshot
from rotator.emulator.seeding import CertificateSeeder, content_type_for, import_options
from rotator.emulator.server import Request, Response, json_body

if TYPE_CHECKING:
    from rotator.emulator.app import Emulator


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _when(value: Any, key: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _BadRequest(400, "BadTime", f"{key} must be an ISO 8601 string or Unix seconds")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise _BadRequest(400, "BadTime", f"{key} is not an ISO 8601 time") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    raise _BadRequest(400, "BadTime", f"{key} must be an ISO 8601 string or Unix seconds")


def _der(value: Any, key: str) -> bytes:
    if not isinstance(value, str):
        raise _BadRequest(400, "BadValue", f"{key} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _BadRequest(400, "BadValue", f"{key} is not valid base64") from exc


def _certificate(value: Any, key: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(_der(value, key))
    except ValueError as exc:
        raise _BadRequest(400, "BadValue", f"{key} is not a DER certificate") from exc


def _tags(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _BadRequest(400, "BadValue", "tags must be an object of strings")
    return dict(value)


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _BadRequest(400, "BadValue", f"{key} must be a string")
    return value


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise _BadRequest(400, "BadValue", f"{key} must be true or false")
    return value


def _delay(body: dict[str, Any]) -> float:
    value = body.get("delaySeconds", 0)
    if type(value) not in (int, float) or not 0 <= value <= 3600:
        raise _BadRequest(400, "BadValue", "delaySeconds must be a number from 0 to 3600")
    return float(value)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def snapshot_json(snapshot: ConnectorSnapshot) -> dict[str, Any]:
    """A connector snapshot as JSON (it never holds a password)."""
    return {
        "id": snapshot.id,
        "displayName": snapshot.display_name,
        "targetUrl": snapshot.target_url,
        "authType": snapshot.auth_type,
        "username": snapshot.username,
        "writes": snapshot.writes,
        "certificates": [
            {
                "thumbprint": cert.thumbprint,
                "notBefore": _iso(cert.not_before),
                "notAfter": _iso(cert.not_after),
                "isActive": cert.is_active,
                "chainThumbprints": list(cert.chain_thumbprints),
                "encryption": cert.encryption,
                "uploadedAt": _iso(cert.uploaded_at),
            }
            for cert in snapshot.certificates
        ],
    }


def keyset_json(snapshot: KeySetSnapshot) -> dict[str, Any]:
    """A key-set snapshot as JSON (it never holds a secret)."""
    active = snapshot.active
    return {
        "id": snapshot.id,
        "tenantId": snapshot.tenant_id,
        "writes": snapshot.writes,
        "activeKid": active.kid if active else None,
        "keys": [
            {
                "kid": key.kid,
                "use": key.use,
                "kty": key.kty,
                "nbf": key.nbf,
                "exp": key.exp,
                "x5t": key.x5t,
                "status": key.status,
                "isActive": key.is_active,
                "uploadedAt": _iso(key.uploaded_at),
            }
            for key in snapshot.keys
        ],
    }


def _seconds(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadRequest(400, "BadValue", f"{key} must be whole Unix seconds")
    return value


Handler = Callable[[Request, list[str]], Response]


class ControlService:
    """Answers the control-surface requests by calling the emulator's Python API."""

    name = "control"

    def __init__(self, emulator: Emulator) -> None:
        """Control ``emulator``."""
        self.emulator = emulator
        self.seeder = CertificateSeeder(emulator.vault)

    @staticmethod
    def _json(status: int, body: Any) -> Response:
        return Response(status, json_body(body), [("Content-Type", "application/json")])

    @staticmethod
    def _empty(status: int = 204) -> Response:
        return Response(status, b"", [])

    def _error(self, status: int, code: str, message: str) -> Response:
        return self._json(status, {"error": {"code": code, "message": message}})

    def authorized(self, request: Request) -> bool:
        """The control surface has no authentication."""
        return False

    def tenant_of(self, request: Request) -> str | None:
        """The control surface acts in no tenant."""
        return None

    def fault(self, request: Request, status: int) -> Response:
        """An internal error (the control surface is never faulted on purpose)."""
        return self._error(status, "InternalError", "The control surface failed.")

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if not request.body:
            return {}
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _BadRequest(400, "BadJson", "the body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise _BadRequest(400, "BadJson", "the body must be a JSON object")
        return body

    def handle(self, request: Request) -> Response:
        """Route one control request."""
        segments = [unquote(part) for part in request.path.strip("/").split("/") if part]
        try:
            return self._route(request, segments)
        except _BadRequest as exc:
            return self._error(exc.status, exc.code, exc.message)
        except KeyError as exc:
            return self._error(404, "NotFound", str(exc.args[0]) if exc.args else "not found")
        except ValueError as exc:
            return self._error(400, "BadValue", str(exc))

    def _route(self, request: Request, segments: list[str]) -> Response:
        method = request.method
        routes: dict[tuple[str, ...], dict[str, Handler]] = {
            ("health",): {"GET": lambda r, a: self._json(200, {"status": "ok"})},
            ("reset",): {"POST": self._reset},
            ("vault", "secrets", "*"): {"POST": self._seed_secret},
            ("vault", "certificates", "*"): {"POST": self._seed_certificate},
            ("vault", "certificates", "*", "pem"): {"POST": self._import_pem},
            ("vault", "certificates", "*", "generate"): {"POST": self._generate_certificate},
            ("vault", "secrets", "*", "*"): {"PATCH": self._set_enabled},
            ("vault", "certificates", "*", "*"): {"PATCH": self._set_enabled},
            ("vault", "deny"): {"POST": self._deny},
            ("vault", "allow"): {"POST": self._allow},
            ("graph", "connectors"): {"GET": self._connectors, "POST": self._add_connector},
            ("graph", "connectors", "*"): {"GET": self._connector},
            ("graph", "connectors", "*", "certificates"): {"POST": self._install_certificate},
            ("graph", "connectors", "*", "password-check"): {"POST": self._password_check},
            ("graph", "stale-reads"): {"PUT": self._stale_reads},
            ("graph", "keysets"): {"GET": self._keysets, "POST": self._add_keyset},
            ("graph", "keysets", "*"): {"GET": self._keyset, "DELETE": self._delete_keyset},
            ("graph", "keysets", "*", "certificates"): {"POST": self._keyset_certificate},
            ("graph", "keysets", "*", "secrets"): {"POST": self._keyset_secret},
            ("graph", "keysets", "*", "secret-check"): {"POST": self._keyset_secret_check},
            ("graph", "keyset-clock"): {"GET": self._keyset_clock, "PUT": self._set_keyset_clock},
            ("identity",): {"GET": self._identity, "PUT": self._set_identity},
            ("entra", "apps"): {"POST": self._register_app},
            ("entra", "apps", "*", "*"): {"GET": self._app_keys},
            ("entra", "new-key-delay"): {"GET": self._key_delay, "PUT": self._set_key_delay},
            ("api", "issuers"): {"POST": self._trust_issuer},
            ("api", "known-issuers"): {"POST": self._know_issuer},
            ("api", "endpoints", "*"): {"GET": self._api_calls, "DELETE": self._forget_api},
            ("api", "endpoints", "*", "certificates"): {"POST": self._trust_api_certificate},
            ("api", "endpoints", "*", "basic"): {"POST": self._accept_api_basic},
            ("faults",): {
                "GET": self._faults,
                "POST": self._add_fault,
                "DELETE": self._clear_faults,
            },
            ("journal",): {"GET": self._journal, "DELETE": self._clear_journal},
        }
        for pattern, methods in routes.items():
            if len(pattern) != len(segments):
                continue
            if all(p == "*" or p == s for p, s in zip(pattern, segments, strict=True)):
                args = [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
                handler = methods.get(method)
                if handler is None:
                    return self._error(405, "MethodNotAllowed", f"{method} is not allowed here")
                return handler(request, args)
        return self._error(404, "NotFound", f"no control endpoint {request.path}")

    # -- handlers ---------------------------------------------------------------------------

    def _trust_issuer(self, request: Request, args: list[str]) -> Response:
        self.emulator.api.trust_issuer(_certificate(self._body(request).get("cer"), "cer"))
        return self._empty()

    def _know_issuer(self, request: Request, args: list[str]) -> Response:
        self.emulator.api.know_issuer(_certificate(self._body(request).get("cer"), "cer"))
        return self._empty()

    def _trust_api_certificate(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        thumbprint = body.get("thumbprint")
        if not isinstance(thumbprint, str) or len(thumbprint) != 40:
            raise _BadRequest(400, "BadValue", "thumbprint must be 40 hex characters (SHA-1)")
        self.emulator.api.trust_certificate(args[0], thumbprint, delay=_delay(body))
        return self._empty()

    def _accept_api_basic(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise _BadRequest(400, "BadValue", "username and password must be strings")
        self.emulator.api.accept_basic(args[0], username, password, delay=_delay(body))
        return self._empty()

    def _api_calls(self, request: Request, args: list[str]) -> Response:
        return self._json(200, {"calls": self.emulator.api.calls(args[0])})

    def _forget_api(self, request: Request, args: list[str]) -> Response:
        self.emulator.api.forget(args[0])
        return self._empty()

    def _reset(self, request: Request, args: list[str]) -> Response:
        self.emulator.reset()
        return self._empty()

    def _seed_secret(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        value = body.get("value")
        if not isinstance(value, str):
            raise _BadRequest(400, "BadValue", "value must be a string")
        version = self.emulator.vault.add_secret_version(
            args[0],
            value,
            content_type=_optional_str(body, "contentType"),
            enabled=_bool(body, "enabled", True),
            not_before=_when(body.get("notBefore"), "notBefore"),
            expires_on=_when(body.get("expiresOn"), "expiresOn"),
            created=_when(body.get("created"), "created"),
            tags=_tags(body.get("tags")),
        )
        return self._json(201, {"name": args[0], "version": version})

    def _seed_certificate(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        secret_value = body.get("secretValue")
        if not isinstance(secret_value, str):
            raise _BadRequest(400, "BadValue", "secretValue must be a string")
        version = self.emulator.vault.add_certificate_version(
            args[0],
            cer=_der(body.get("cer"), "cer"),
            secret_value=secret_value,
            content_type=content_type_for(secret_value, _optional_str(body, "contentType")),
            enabled=_bool(body, "enabled", True),
            not_before=_when(body.get("notBefore"), "notBefore"),
            expires_on=_when(body.get("expiresOn"), "expiresOn"),
            created=_when(body.get("created"), "created"),
            exportable=_bool(body, "exportable", True),
            tags=_tags(body.get("tags")),
        )
        return self._json(201, {"name": args[0], "version": version})

    def _import_pem(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        certificate, key = body.get("certificate"), body.get("key")
        if not isinstance(certificate, str) or not isinstance(key, str):
            raise _BadRequest(400, "BadValue", "certificate and key must be PEM text")
        options = import_options(
            body, _bool(body, "enabled", True), _when(body.get("created"), "created")
        )
        return self._json(201, self.seeder.import_pem(args[0], certificate, key, **options))

    def _generate_certificate(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        key_size = body.get("keySize", 2048)
        if not isinstance(key_size, int) or isinstance(key_size, bool):
            raise _BadRequest(400, "BadValue", "keySize must be an integer")
        options = import_options(
            body, _bool(body, "enabled", True), _when(body.get("created"), "created")
        )
        answer = self.seeder.generate(
            args[0],
            subject=_optional_str(body, "subject") or "api.contoso.test",
            not_before=_when(body.get("notBefore"), "notBefore"),
            not_after=_when(body.get("notAfter"), "notAfter"),
            key_size=key_size,
            **options,
        )
        # the seeding CA is the connectors' API's own CA: trusting a generated certificate's
        # thumbprint (POST /api/endpoints/{name}/certificates) is then all the API needs
        self.emulator.api.trust_issuer(self.seeder.issuer.certificate)
        return self._json(201, answer)

    def _set_enabled(self, request: Request, args: list[str]) -> Response:
        enabled = self._body(request).get("enabled")
        if not isinstance(enabled, bool):
            raise _BadRequest(400, "BadValue", "enabled must be true or false")
        self.emulator.vault.set_enabled(args[0], args[1], enabled)
        return self._empty()

    def _deny(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        self.emulator.vault.deny(str(body.get("kind")), _optional_str(body, "name"))
        return self._empty()

    def _allow(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        self.emulator.vault.allow(str(body.get("kind")), _optional_str(body, "name"))
        return self._empty()

    def _connectors(self, request: Request, args: list[str]) -> Response:
        value = [snapshot_json(s) for s in self.emulator.graph.connectors()]
        return self._json(200, {"value": value})

    def _add_connector(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        connector_id = self.emulator.graph.add_connector(
            _optional_str(body, "displayName") or "Test API connector",
            _optional_str(body, "targetUrl") or "https://api.example/validate",
            username=_optional_str(body, "username"),
            password=_optional_str(body, "password"),
        )
        return self._json(201, {"id": connector_id})

    def _connector(self, request: Request, args: list[str]) -> Response:
        return self._json(200, snapshot_json(self.emulator.graph.connector(args[0])))

    def _install_certificate(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        chain_value = body.get("chain") or []
        if not isinstance(chain_value, list):
            raise _BadRequest(400, "BadValue", "chain must be a list of base64 DER certificates")
        self.emulator.graph.install_certificate_der(
            args[0],
            _certificate(body.get("cer"), "cer"),
            chain=[_certificate(item, "chain") for item in chain_value],
            replace=_bool(body, "replace", False),
        )
        return self._empty()

    def _register_app(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        cer = body.get("certificate")
        more = body.get("certificates") or []
        secret = body.get("secret")
        roles = body.get("roles", ["APIConnectors.ReadWrite.All"])
        if secret is not None and not isinstance(secret, str):
            raise _BadRequest(400, "BadValue", "secret must be a string")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise _BadRequest(400, "BadValue", "roles must be a list of strings")
        if not isinstance(more, list):
            raise _BadRequest(400, "BadValue", "certificates must be a list of base64 DER")
        client_id, tenant_id = str(body.get("clientId", "")), str(body.get("tenantId", ""))
        try:
            principal = self.emulator.entra.register_app(
                client_id,
                tenant_id=tenant_id,
                certificate=_certificate(cer, "certificate") if cer is not None else None,
                certificates=[_certificate(item, "certificates") for item in more],
                secret=secret,
                roles=roles,
                display_name=_optional_str(body, "displayName") or "rotator",
            )
        except ValueError as exc:
            raise _BadRequest(400, "BadValue", str(exc)) from exc
        object_id = self.emulator.entra.object_id(tenant_id, client_id)
        return self._json(201, {"servicePrincipalId": principal, "objectId": object_id})

    def _app_keys(self, request: Request, args: list[str]) -> Response:
        entra = self.emulator.entra
        keys = [
            {
                "keyId": key.key_id,
                "thumbprint": key.thumbprint,
                "displayName": key.display_name,
                "start": _iso(key.start),
                "end": _iso(key.end),
                "addedAt": _iso(key.added_at),
                "acceptedFrom": _iso(key.accepted_from),
                "addedByAddKey": key.added_by_add_key,
            }
            for key in entra.key_credentials(args[0], args[1])
        ]
        return self._json(
            200, {"objectId": entra.object_id(args[0], args[1]), "keyCredentials": keys}
        )

    def _key_delay(self, request: Request, args: list[str]) -> Response:
        return self._json(200, {"seconds": self.emulator.entra.new_key_delay})

    def _set_key_delay(self, request: Request, args: list[str]) -> Response:
        seconds = self._body(request).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise _BadRequest(400, "BadValue", "seconds must be a number from 0 to 86400")
        if not 0 <= seconds <= 86400:
            raise _BadRequest(400, "BadValue", "seconds must be a number from 0 to 86400")
        self.emulator.entra.new_key_delay = float(seconds)
        return self._key_delay(request, args)

    def _password_check(self, request: Request, args: list[str]) -> Response:
        candidate = self._body(request).get("candidate")
        if not isinstance(candidate, str):
            raise _BadRequest(400, "BadValue", "candidate must be a string")
        return self._json(
            200, {"matches": self.emulator.graph.password_matches(args[0], candidate)}
        )

    def _stale_reads(self, request: Request, args: list[str]) -> Response:
        count = self._body(request).get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise _BadRequest(400, "BadValue", "count must be a non-negative integer")
        self.emulator.graph.stale_reads = count
        self.emulator.keysets.stale_reads = count
        return self._empty()

    def _keysets(self, request: Request, args: list[str]) -> Response:
        value = [keyset_json(s) for s in self.emulator.keysets.keysets()]
        return self._json(200, {"value": value})

    def _add_keyset(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        requested = _optional_str(body, "id")
        if not requested:
            raise _BadRequest(400, "BadValue", "id must be a key set id, e.g. B2C_1A_RestApiKey")
        try:
            keyset_id = self.emulator.keysets.create_keyset(
                requested, tenant_id=_optional_str(body, "tenantId")
            )
        except KeySetExists as exc:
            raise _BadRequest(409, "Conflict", f"key set {exc.args[0]} exists") from exc
        return self._json(201, {"id": keyset_id})

    def _keyset(self, request: Request, args: list[str]) -> Response:
        return self._json(200, keyset_json(self.emulator.keysets.keyset(args[0])))

    def _delete_keyset(self, request: Request, args: list[str]) -> Response:
        if not self.emulator.keysets.delete(args[0]):
            raise KeyError(f"no key set {args[0]!r} in the emulator")
        return self._empty()

    def _keyset_certificate(self, request: Request, args: list[str]) -> Response:
        certificate = _certificate(self._body(request).get("cer"), "cer")
        return self._json(201, {"kid": self.emulator.keysets.add_certificate(args[0], certificate)})

    def _keyset_secret(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        value, use = body.get("value"), body.get("use", "enc")
        if not isinstance(value, str) or not value:
            raise _BadRequest(400, "BadValue", "value must be a non-empty string")
        if use not in ("sig", "enc"):
            raise _BadRequest(400, "BadValue", "use must be sig or enc")
        kid = self.emulator.keysets.add_secret(
            args[0], value, use=use, nbf=_seconds(body, "nbf"), exp=_seconds(body, "exp")
        )
        return self._json(201, {"kid": kid})

    def _keyset_secret_check(self, request: Request, args: list[str]) -> Response:
        candidate = self._body(request).get("candidate")
        if not isinstance(candidate, str):
            raise _BadRequest(400, "BadValue", "candidate must be a string")
        kid = self.emulator.keysets.secret_matches(args[0], candidate)
        return self._json(200, {"matches": kid is not None, "kid": kid})

    def _keyset_clock(self, request: Request, args: list[str]) -> Response:
        keysets = self.emulator.keysets
        offset = keysets.clock_offset.total_seconds()
        return self._json(200, {"offsetSeconds": offset, "now": _iso(keysets.now())})

    def _set_keyset_clock(self, request: Request, args: list[str]) -> Response:
        offset = self._body(request).get("offsetSeconds")
        if isinstance(offset, bool) or not isinstance(offset, int | float):
            raise _BadRequest(400, "BadValue", "offsetSeconds must be a number")
        if abs(offset) > 100 * 365 * 86400:
            raise _BadRequest(400, "BadValue", "offsetSeconds must be within 100 years")
        self.emulator.keysets.clock_offset = dt.timedelta(seconds=offset)
        return self._keyset_clock(request, args)

    def _identity(self, request: Request, args: list[str]) -> Response:
        return self._json(200, self.emulator.identity.describe())

    def _set_identity(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        if "graphRoles" in body:
            roles = body["graphRoles"]
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise _BadRequest(400, "BadValue", "graphRoles must be a list of strings")
            self.emulator.identity.graph_roles = set(roles)
        if "audienceOverride" in body:
            self.emulator.identity.audience_override = _optional_str(body, "audienceOverride")
        if "displayName" in body:  # the app_displayname of its tokens (null: none)
            self.emulator.identity.display_name = _optional_str(body, "displayName")
        return self._json(200, self.emulator.identity.describe())

    def _faults(self, request: Request, args: list[str]) -> Response:
        return self._json(200, {"value": self.emulator.faults.describe()})

    def _add_fault(self, request: Request, args: list[str]) -> Response:
        body = self._body(request)
        status = body.get("status")
        times = body.get("times")
        delay = body.get("delay", 0.0)
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise _BadRequest(400, "BadValue", "status must be an integer")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool)):
            raise _BadRequest(400, "BadValue", "times must be an integer")
        if not isinstance(delay, int | float) or isinstance(delay, bool):
            raise _BadRequest(400, "BadValue", "delay must be a number of seconds")
        retry_after = body.get("retryAfter")
        if retry_after is not None:
            retry_after = str(retry_after)
        self.emulator.faults.add(
            service=str(body.get("service", "")),
            method=_optional_str(body, "method"),
            path=_optional_str(body, "path") or ".*",
            status=status,
            retry_after=retry_after,
            delay=float(delay),
            drop=_bool(body, "drop", False),
            times=times,
            after=int(body.get("after", 0)),
            every=int(body.get("every", 1)),
            lose_response=_bool(body, "loseResponse", False),
            body=_optional_str(body, "body"),
            content_type=_optional_str(body, "contentType") or "application/json",
            tenant=_optional_str(body, "tenant"),
            handled=_bool(body, "handled", False),
        )
        return self._empty(201)

    def _clear_faults(self, request: Request, args: list[str]) -> Response:
        self.emulator.faults.clear()
        return self._empty()

    def _journal(self, request: Request, args: list[str]) -> Response:
        return self._json(200, {"value": [asdict(entry) for entry in self.emulator.journal()]})

    def _clear_journal(self, request: Request, args: list[str]) -> Response:
        self.emulator.clear_journal()
        return self._empty()
