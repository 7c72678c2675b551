"""The Azure Key Vault data plane for secrets and certificates: the store you seed and its REST face."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from rotator.emulator import pki
from rotator.emulator.server import Request, Response, json_body
from rotator.emulator.tokens import InvalidToken, TokenMinter, bearer_token

VAULT_RESOURCE = "https://vault.azure.net"
VAULT_AUDIENCES = frozenset(
    {VAULT_RESOURCE, VAULT_RESOURCE + "/", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"}
)
NAME_PATTERN = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
VERSION_PATTERN = re.compile(r"^[0-9a-fA-F]{32}$")
PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"
MAX_PAGE_SIZE = 25
RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90

Kind = Literal["secrets", "certificates"]


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass
class _SecretVersion:
    name: str
    version: str
    value: str = field(repr=False)
    content_type: str | None
    enabled: bool
    not_before: dt.datetime | None
    expires_on: dt.datetime | None
    created: dt.datetime
    updated: dt.datetime
    tags: dict[str, str]
    managed: bool
    sequence: int


@dataclass
class _CertificateVersion:
    name: str
    version: str
    cer: bytes
    content_type: str
    enabled: bool
    not_before: dt.datetime | None
    expires_on: dt.datetime | None
    created: dt.datetime
    updated: dt.datetime
    tags: dict[str, str]
    exportable: bool
    sequence: int

    @property
    def x5t(self) -> str:
        digest = hashlib.sha1(self.cer, usedforsecurity=False).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def certificate(self) -> x509.Certificate | None:
        try:
            return x509.load_der_x509_certificate(self.cer)
        except ValueError:
            return None


_Version = TypeVar("_Version", _SecretVersion, _CertificateVersion)


def _newest(versions: Sequence[_Version]) -> _Version:
    return max(versions, key=lambda v: (v.created, v.sequence))


class VaultStore:
    """The emulated vault's content: secret and certificate versions, and RBAC denials."""

    def __init__(self) -> None:
        """Start with an empty vault."""
        self._lock = threading.RLock()
        self._secrets: dict[str, list[_SecretVersion]] = {}
        self._certificates: dict[str, list[_CertificateVersion]] = {}
        self._denied: set[tuple[str, str | None]] = set()
        self._sequence = 0

    def clear(self) -> None:
        """Remove every object and every denial."""
        with self._lock:
            self._secrets.clear()
            self._certificates.clear()
            self._denied.clear()

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _default_created(self, name: str) -> dt.datetime:
        """Now, but one second after the newest existing version so a row of seeds is ordered."""
        now = pki.utcnow().replace(microsecond=0)
        existing = self._secrets.get(name.lower(), [])
        if existing:
            newest = max(v.created for v in existing)
            now = max(now, newest.replace(microsecond=0) + dt.timedelta(seconds=1))
        return now

    @staticmethod
    def _check_name(name: str) -> None:
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"invalid Key Vault object name {name!r}: 1-127 of 0-9 a-z A-Z -")

    def add_secret_version(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        enabled: bool = True,
        not_before: dt.datetime | None = None,
        expires_on: dt.datetime | None = None,
        created: dt.datetime | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Add a version of a plain secret and return its 32-hex version id.

        ``created`` defaults to now, but at least one second after the newest existing version,
        so versions seeded in a row are strictly ordered (the wire format has whole seconds).

        Raises:
            ValueError: the name is invalid or belongs to a certificate.
        """
        self._check_name(name)
        with self._lock:
            if name.lower() in self._certificates:
                raise ValueError(f"secret {name!r} is managed by a certificate of the same name")
            return self._add_secret(
                name,
                value,
                content_type=content_type,
                enabled=enabled,
                not_before=not_before,
                expires_on=expires_on,
                created=created,
                tags=tags,
                managed=False,
                version=uuid.uuid4().hex,
            )

    def _add_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None,
        enabled: bool,
        not_before: dt.datetime | None,
        expires_on: dt.datetime | None,
        created: dt.datetime | None,
        tags: Mapping[str, str] | None,
        managed: bool,
        version: str,
    ) -> str:
        stamp = _aware(created) or self._default_created(name)
        versions = self._secrets.setdefault(name.lower(), [])
        versions.append(
            _SecretVersion(
                name=versions[0].name if versions else name,
                version=version,
                value=value,
                content_type=content_type,
                enabled=enabled,
                not_before=_aware(not_before),
                expires_on=_aware(expires_on),
                created=stamp,
                updated=stamp,
                tags=dict(tags or {}),
                managed=managed,
                sequence=self._next_sequence(),
            )
        )
        return version

    def add_certificate_version(
        self,
        name: str,
        *,
        cer: bytes,
        secret_value: str,
        content_type: str = PKCS12,
        enabled: bool = True,
        not_before: dt.datetime | None = None,
        expires_on: dt.datetime | None = None,
        created: dt.datetime | None = None,
        exportable: bool = True,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Add a certificate version (any DER) and its backing secret (any text); return the id.

        ``not_before`` / ``expires_on`` default to the certificate's validity when ``cer`` parses;
        ``created`` defaults as in :meth:`add_secret_version`.

        Raises:
            ValueError: the name is invalid or belongs to a plain secret.
        """
        self._check_name(name)
        certificate: x509.Certificate | None
        try:
            certificate = x509.load_der_x509_certificate(cer)
        except ValueError:
            certificate = None
        if certificate is not None:
            not_before = not_before or certificate.not_valid_before_utc
            expires_on = expires_on or certificate.not_valid_after_utc
        with self._lock:
            existing = self._secrets.get(name.lower(), [])
            if any(not v.managed for v in existing):
                raise ValueError(
                    f"{name!r} is already a plain secret; a certificate needs its name"
                )
            stamp = _aware(created) or self._default_created(name)
            version = uuid.uuid4().hex
            self._add_secret(
                name,
                secret_value,
                content_type=content_type,
                enabled=enabled,
                not_before=not_before,
                expires_on=expires_on,
                created=stamp,
                tags=tags,
                managed=True,
                version=version,
            )
            versions = self._certificates.setdefault(name.lower(), [])
            versions.append(
                _CertificateVersion(
                    name=versions[0].name if versions else name,
                    version=version,
                    cer=bytes(cer),
                    content_type=content_type,
                    enabled=enabled,
                    not_before=_aware(not_before),
                    expires_on=_aware(expires_on),
                    created=stamp,
                    updated=stamp,
                    tags=dict(tags or {}),
                    exportable=exportable,
                    sequence=self._next_sequence(),
                )
            )
            return version

    def import_certificate(
        self,
        name: str,
        issued: pki.Issued,
        *,
        chain: Sequence[x509.Certificate] = (),
        content_type: str = PKCS12,
        enabled: bool = True,
        created: dt.datetime | None = None,
        exportable: bool = True,
        include_key: bool = True,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Import ``issued`` like ``az keyvault certificate import``; return the version id.

        The backing secret is built with :func:`pki.keyvault_pfx` or :func:`pki.pem_bundle`;
        with ``exportable=False`` or ``include_key=False`` it holds no private key.

        Raises:
            ValueError: the name is invalid or taken by a plain secret, or the content type is
                neither PKCS#12 nor PEM.
        """
        key = issued.key if (include_key and exportable) else None
        if content_type == PKCS12:
            pfx = pki.keyvault_pfx(key, issued.certificate, chain)
            secret_value = base64.b64encode(pfx).decode("ascii")
        elif content_type == PEM:
            secret_value = pki.pem_bundle(key, issued.certificate, chain)
        else:
            raise ValueError(f"content type must be {PKCS12} or {PEM}, not {content_type!r}")
        return self.add_certificate_version(
            name,
            cer=issued.certificate.public_bytes(serialization.Encoding.DER),
            secret_value=secret_value,
            content_type=content_type,
            enabled=enabled,
            created=created,
            exportable=exportable,
            tags=tags,
        )

    def set_enabled(self, name: str, version: str, enabled: bool) -> None:
        """Enable or disable one version (a certificate's backing secret follows it).

        Raises:
            KeyError: no secret or certificate version ``name``/``version``.
        """
        found = False
        now = pki.utcnow()
        with self._lock:
            for record in self._certificates.get(name.lower(), []):
                if record.version == version.lower():
                    record.enabled = enabled
                    record.updated = now
                    found = True
            for secret in self._secrets.get(name.lower(), []):
                if secret.version == version.lower():
                    secret.enabled = enabled
                    secret.updated = now
                    found = True
        if not found:
            raise KeyError(f"no version {version} of {name!r} in the vault")

    def deny(self, kind: Kind | str, name: str | None = None) -> None:
        """Make every ``kind`` operation (on ``name``, or on all) answer 403 ForbiddenByRbac.

        Raises:
            ValueError: ``kind`` is not ``secrets`` or ``certificates``.
        """
        if kind not in ("secrets", "certificates"):
            raise ValueError("kind must be 'secrets' or 'certificates'")
        with self._lock:
            self._denied.add((kind, name.lower() if name else None))

    def allow(self, kind: Kind | str, name: str | None = None) -> None:
        """Undo one :meth:`deny`."""
        with self._lock:
            self._denied.discard((kind, name.lower() if name else None))

    def is_denied(self, kind: str, name: str | None) -> bool:
        """True when RBAC denies ``kind`` operations on ``name`` (or on the collection)."""
        with self._lock:
            if (kind, None) in self._denied:
                return True
            return name is not None and (kind, name.lower()) in self._denied

    def secret_versions(self, name: str) -> list[_SecretVersion]:
        """Every version of a secret (insertion order)."""
        with self._lock:
            return list(self._secrets.get(name.lower(), []))

    def certificate_versions(self, name: str) -> list[_CertificateVersion]:
        """Every version of a certificate (insertion order)."""
        with self._lock:
            return list(self._certificates.get(name.lower(), []))

    def secret_names(self) -> list[str]:
        """Every secret name (managed ones included)."""
        with self._lock:
            return sorted(versions[0].name for versions in self._secrets.values() if versions)

    def certificate_names(self) -> list[str]:
        """Every certificate name."""
        with self._lock:
            return sorted(versions[0].name for versions in self._certificates.values() if versions)


_KEY_USAGE_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


def _x509_props(certificate: x509.Certificate | None) -> dict[str, Any]:
    if certificate is None:
        return {"subject": "", "sans": {}, "ekus": [], "key_usage": [], "validity_months": 12}
    props: dict[str, Any] = {"subject": certificate.subject.rfc4514_string(), "sans": {}}
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = sans.get_values_for_type(x509.DNSName)
        if dns:
            props["sans"] = {"dns_names": dns}
    except x509.ExtensionNotFound:
        pass
    try:
        ekus = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        props["ekus"] = [eku.dotted_string for eku in ekus]
    except x509.ExtensionNotFound:
        props["ekus"] = [
            ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
            ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string,
        ]
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        props["key_usage"] = [wire for attr, wire in _KEY_USAGE_NAMES if getattr(usage, attr)]
    except x509.ExtensionNotFound:
        props["key_usage"] = []
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    props["validity_months"] = max(1, round(lifetime.days / 30.44))
    props["basic_constraints"] = {"ca": False}
    return props


def _key_props(certificate: x509.Certificate | None, exportable: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"exportable": exportable, "kty": "RSA", "key_size": 2048}
    if certificate is not None:
        public = certificate.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            props["key_size"] = public.key_size
        elif isinstance(public, ec.EllipticCurvePublicKey):
            props = {"exportable": exportable, "kty": "EC", "crv": _curve_name(public.curve)}
    props["reuse_key"] = False
    return props


def _curve_name(curve: ec.EllipticCurve) -> str:
    return {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
        curve.name, curve.name
    )


class KeyVaultService:
    """Answers the Key Vault REST calls the SDK's SecretClient and CertificateClient make."""

    name = "vault"

    def __init__(
        self,
        store: VaultStore,
        tokens: TokenMinter,
        *,
        base_url: Callable[[], str],
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        """Serve ``store``; ``base_url`` gives the vault URL used in ids and nextLinks."""
        self.store = store
        self.tokens = tokens
        self._base_url = base_url
        self.page_size = page_size

    # -- plumbing ---------------------------------------------------------------------------

    def _base(self, request: Request) -> str:
        host = request.header("host") or ""
        if re.fullmatch(r"(localhost|127\.0\.0\.1)(:\d+)?", host):
            return f"https://{host}"
        return self._base_url()

    def _headers(self) -> list[tuple[str, str]]:
        return [
            ("Cache-Control", "no-cache"),
            ("Pragma", "no-cache"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Expires", "-1"),
            ("x-ms-keyvault-region", "local"),
            ("x-ms-request-id", str(uuid.uuid4())),
            ("x-ms-keyvault-service-version", "1.9.2795.1"),
            (
                "x-ms-keyvault-network-info",
                "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;",
            ),
            ("X-Content-Type-Options", "nosniff"),
            ("Strict-Transport-Security", "max-age=31536000;includeSubDomains"),
        ]

    def _json(self, status: int, body: Any, *, authorized: bool = True) -> Response:
        return Response(status, json_body(body), self._headers(), authorized)

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner: str | None = None,
        authorized: bool = True,
    ) -> Response:
        error: dict[str, Any] = {"code": code, "message": message}
        if inner is not None:
            error["innererror"] = {"code": inner}
        response = self._json(status, {"error": error}, authorized=authorized)
        if status == 401:
            response.headers.append(("WWW-Authenticate", self.challenge()))
        return response

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value every 401 carries."""
        return (
            f'Bearer authorization="https://login.microsoftonline.com/{self.tokens.tenant_id}", '
            f'resource="{VAULT_RESOURCE}"'
        )

    def _authenticate(self, request: Request) -> Response | None:
        token = bearer_token(request.header("authorization"))
        if token is None:
            return self._error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                authorized=False,
            )
        try:
            claims = self.tokens.verify(token)
        except InvalidToken as exc:
            return self._error(
                401, "Unauthorized", f"AKV10022: Invalid token: {exc}.", authorized=False
            )
        if claims.audience not in VAULT_AUDIENCES:
            return self._error(
                401,
                "Unauthorized",
                f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}, found: {claims.audience}.",
                authorized=False,
            )
        if claims.tenant_id.lower() != self.tokens.tenant_id.lower():  # a vault trusts its tenant
            return self._error(
                401,
                "Unauthorized",
                "AKV10032: Invalid issuer. Expected one of "
                f"https://sts.windows.net/{self.tokens.tenant_id}/, found "
                f"https://sts.windows.net/{claims.tenant_id}/.",
                authorized=False,
            )
        return None

    def authorized(self, request: Request) -> bool:
        """True when the request carries a valid Key Vault token."""
        return self._authenticate(request) is None

    def tenant_of(self, request: Request) -> str | None:
        """The ``tid`` of the request's bearer token when this emulator minted it, else None."""
        token = bearer_token(request.header("authorization"))
        if token is None:
            return None
        try:
            return self.tokens.verify(token).tenant_id.lower() or None
        except InvalidToken:
            return None

    def fault(self, request: Request, status: int) -> Response:
        """An injected (or crash) answer in Key Vault's error shape."""
        codes = {
            400: ("BadParameter", "The request is invalid."),
            401: ("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
            403: ("Forbidden", "Caller is not authorized to perform action on resource."),
            404: ("NotFound", "The requested resource was not found."),
            409: ("Conflict", "There was a conflict with the current state of the resource."),
            429: (
                "Throttled",
                "Request was not processed because too many requests were received. "
                "Reason: VaultRequestTypeLimitReached",
            ),
            500: ("InternalServerError", "The server encountered an internal error."),
            502: ("BadGateway", "The server received an invalid response from upstream."),
            503: ("ServiceUnavailable", "The service is temporarily unavailable."),
            504: ("GatewayTimeout", "The server did not respond in time."),
        }
        code, message = codes.get(status, ("Error", f"Injected status {status}."))
        return self._error(status, code, message, authorized=self.authorized(request))

    # -- routing ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one Key Vault data-plane request."""
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        segments = [unquote(part) for part in request.path.split("/")[1:]]
        if segments and segments[-1] == "" and len(segments) > 1:
            segments = segments[:-1]
        kind = segments[0].lower() if segments else ""
        if kind not in ("secrets", "certificates"):
            return self._error(404, "NotFound", "The requested resource was not found.")
        if request.method != "GET":
            return self._error(
                405, "MethodNotAllowed", f"The method {request.method} is not supported here."
            )
        name = segments[1] if len(segments) > 1 else None
        if name is not None and not NAME_PATTERN.fullmatch(name):
            return self._error(
                400, "BadParameter", f"The request URI contains an invalid name: {name}"
            )
        if self.store.is_denied(kind, name):
            return self._forbidden(kind, name, request)
        base = self._base(request)
        if name is None:
            return self._list_names(kind, base, request)
        rest = segments[2:]
        if kind == "secrets":
            if not rest:
                return self._get_secret(name, None, base)
            if rest == ["versions"]:
                return self._list_secret_versions(name, base, request)
            if len(rest) == 1:
                return self._get_secret(name, rest[0], base)
        else:
            if not rest:
                return self._get_certificate(name, None, base)
            if rest == ["versions"]:
                return self._list_certificate_versions(name, base, request)
            if rest == ["policy"]:
                return self._get_policy(name, base)
            if len(rest) == 1:
                return self._get_certificate(name, rest[0], base)
        return self._error(404, "NotFound", "The requested resource was not found.")

    def _forbidden(self, kind: str, name: str | None, request: Request) -> Response:
        action = "getSecret/action" if kind == "secrets" else "read"
        if name is None or request.path.rstrip("/").endswith("/versions"):
            action = "readMetadata/action" if kind == "secrets" else "read"
        token = bearer_token(request.header("authorization")) or ""
        caller = ""
        try:
            claims = self.tokens.verify(token)
            caller = f"appid={claims.app_id};oid={claims.object_id};iss={self.tokens.issuer}"
        except InvalidToken:
            caller = "unknown"
        resource = f"/{kind}/{name}" if name else f"/{kind}"
        message = (
            "Caller is not authorized to perform action on resource.\r\n"
            "If role assignments, deny assignments or role definitions were changed recently, "
            "please observe propagation time.\r\n"
            f"Caller: {caller}\r\n"
            f"Action: 'Microsoft.KeyVault/vaults/{kind}/{action}'\r\n"
            f"Resource: 'emulator{resource}'\r\n"
            "Assignment: (not found)\r\n"
            "DecisionReason: 'DeniedWithNoValidRBAC' \r\n"
            "Vault: emulator;location=local\r\n"
        )
        return self._error(403, "Forbidden", message, inner="ForbiddenByRbac")

    # -- paging -----------------------------------------------------------------------------

    def _page(
        self, items: list[dict[str, Any]], request: Request, link_path: str, base: str
    ) -> Response:
        params = request.params()
        size = self.page_size
        raw_max = params.get("maxresults")
        if raw_max:
            try:
                wanted = int(raw_max)
            except ValueError:
                wanted = 0
            if not 1 <= wanted <= MAX_PAGE_SIZE:
                return self._error(
                    400,
                    "BadParameter",
                    f"Invalid value for maxresults: {raw_max}. It must be between 1 and "
                    f"{MAX_PAGE_SIZE}.",
                )
            size = min(size, wanted)
        start = 0
        token = params.get("$skiptoken")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
            except ValueError:
                return self._error(400, "BadParameter", "The skip token is invalid.")
        page = items[start : start + size]
        next_link: str | None = None
        if start + size < len(items):
            skip = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
            api_version = quote(params.get("api-version", "2026-04-01"), safe="")
            next_link = (
                f"{base}{link_path}?api-version={api_version}&$skiptoken={skip}&maxresults={size}"
            )
        return self._json(200, {"value": page, "nextLink": next_link})

    # -- secrets ----------------------------------------------------------------------------

    @staticmethod
    def _attributes(
        *,
        enabled: bool,
        not_before: dt.datetime | None,
        expires_on: dt.datetime | None,
        created: dt.datetime,
        updated: dt.datetime,
    ) -> dict[str, Any]:
        attributes: dict[str, Any] = {"enabled": enabled}
        if not_before is not None:
            attributes["nbf"] = _epoch(not_before)
        if expires_on is not None:
            attributes["exp"] = _epoch(expires_on)
        attributes["created"] = _epoch(created)
        attributes["updated"] = _epoch(updated)
        attributes["recoveryLevel"] = RECOVERY_LEVEL
        attributes["recoverableDays"] = RECOVERABLE_DAYS
        return attributes

    def _secret_item(
        self, secret: _SecretVersion, base: str, *, with_version: bool = True
    ) -> dict[str, Any]:
        suffix = f"/{secret.version}" if with_version else ""
        item: dict[str, Any] = {"id": f"{base}/secrets/{secret.name}{suffix}"}
        if secret.content_type is not None:
            item["contentType"] = secret.content_type
        item["attributes"] = self._attributes(
            enabled=secret.enabled,
            not_before=secret.not_before,
            expires_on=secret.expires_on,
            created=secret.created,
            updated=secret.updated,
        )
        if secret.tags:
            item["tags"] = dict(secret.tags)
        if secret.managed:
            item["managed"] = True
        return item

    def _secret_not_found(self, name: str, version: str | None) -> Response:
        label = f"{name}/{version}" if version else name
        return self._error(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {label} was not found in this key vault. If you recently "
            "deleted this secret you may be able to recover it using the correct recovery "
            "command. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125182",
        )

    def _get_secret(self, name: str, version: str | None, base: str) -> Response:
        versions = self.store.secret_versions(name)
        if not versions:
            return self._secret_not_found(name, version)
        if version is None:
            secret = _newest(versions)
        else:
            matches = [v for v in versions if v.version == version.lower()]
            if not matches:
                return self._secret_not_found(name, version)
            secret = matches[0]
        if not secret.enabled:
            return self._error(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                inner="SecretDisabled",
            )
        bundle: dict[str, Any] = {"value": secret.value}
        bundle.update(self._secret_item(secret, base))
        if secret.managed:
            bundle["kid"] = f"{base}/keys/{secret.name}/{secret.version}"
        return self._json(200, bundle)

    def _list_secret_versions(self, name: str, base: str, request: Request) -> Response:
        versions = sorted(self.store.secret_versions(name), key=lambda v: v.version)
        items = [self._secret_item(v, base) for v in versions]
        return self._page(items, request, f"/secrets/{name}/versions", base)

    def _list_names(self, kind: str, base: str, request: Request) -> Response:
        items: list[dict[str, Any]] = []
        if kind == "secrets":
            for name in self.store.secret_names():
                newest = _newest(self.store.secret_versions(name))
                items.append(self._secret_item(newest, base, with_version=False))
        else:
            for name in self.store.certificate_names():
                cert = _newest(self.store.certificate_versions(name))
                items.append(self._certificate_item(cert, base, with_version=False))
        return self._page(items, request, f"/{kind}", base)

    # -- certificates -----------------------------------------------------------------------

    def _certificate_item(
        self, cert: _CertificateVersion, base: str, *, with_version: bool = True
    ) -> dict[str, Any]:
        suffix = f"/{cert.version}" if with_version else ""
        item: dict[str, Any] = {
            "id": f"{base}/certificates/{cert.name}{suffix}",
            "x5t": cert.x5t,
            "attributes": self._attributes(
                enabled=cert.enabled,
                not_before=cert.not_before,
                expires_on=cert.expires_on,
                created=cert.created,
                updated=cert.updated,
            ),
        }
        if cert.tags:
            item["tags"] = dict(cert.tags)
        return item

    def _certificate_not_found(self, name: str, version: str | None) -> Response:
        label = f"{name}/{version}" if version else name
        return self._error(404, "CertificateNotFound", f"Certificate not found: {label}")

    def _policy(self, cert: _CertificateVersion, base: str) -> dict[str, Any]:
        parsed = cert.certificate()
        return {
            "id": f"{base}/certificates/{cert.name}/policy",
            "key_props": _key_props(parsed, cert.exportable),
            "secret_props": {"contentType": cert.content_type},
            "x509_props": _x509_props(parsed),
            "lifetime_actions": [
                {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "EmailContacts"}}
            ],
            "issuer": {"name": "Unknown"},
            "attributes": {
                "enabled": True,
                "created": _epoch(cert.created),
                "updated": _epoch(cert.updated),
            },
        }

    def _get_certificate(self, name: str, version: str | None, base: str) -> Response:
        versions = self.store.certificate_versions(name)
        if not versions:
            return self._certificate_not_found(name, version)
        latest = _newest(versions)
        if version is None:
            cert = latest
        else:
            matches = [v for v in versions if v.version == version.lower()]
            if not matches:
                return self._certificate_not_found(name, version)
            cert = matches[0]
        bundle: dict[str, Any] = {
            "id": f"{base}/certificates/{cert.name}/{cert.version}",
            "kid": f"{base}/keys/{cert.name}/{cert.version}",
            "sid": f"{base}/secrets/{cert.name}/{cert.version}",
            "x5t": cert.x5t,
            "cer": base64.b64encode(cert.cer).decode("ascii"),
            "attributes": self._certificate_item(cert, base)["attributes"],
        }
        if cert.tags:
            bundle["tags"] = dict(cert.tags)
        if version is None:
            bundle["policy"] = self._policy(cert, base)
        return self._json(200, bundle)

    def _get_policy(self, name: str, base: str) -> Response:
        versions = self.store.certificate_versions(name)
        if not versions:
            return self._certificate_not_found(name, None)
        return self._json(200, self._policy(_newest(versions), base))

    def _list_certificate_versions(self, name: str, base: str, request: Request) -> Response:
        versions = sorted(self.store.certificate_versions(name), key=lambda v: v.version)
        items = [self._certificate_item(v, base) for v in versions]
        return self._page(items, request, f"/certificates/{name}/versions", base)
