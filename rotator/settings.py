"""One frozen settings object, read once from the environment; every environment name lives here."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rotator.errors import ConfigurationError
from rotator.model import (
    BasicTarget,
    CertificateTarget,
    InstallMode,
    Pkcs12Profile,
    Target,
    is_connector_id,
    is_key_vault_name,
    is_key_vault_version,
)
from rotator.probe_config import parse_probe, top_level_probe
from rotator.text import JsonLimitError, load_json, truncate

ENV_CONFIG = "ROTATOR_CONFIG"
ENV_GRAPH_ENDPOINT = "ROTATOR_GRAPH_ENDPOINT"
ENV_GRAPH_API_VERSION = "ROTATOR_GRAPH_API_VERSION"
ENV_CA_BUNDLE = "ROTATOR_CA_BUNDLE"
ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE = "ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE"
ENV_STATE_DIR = "ROTATOR_STATE_DIR"
ENV_PKCS12_PROFILE = "ROTATOR_PKCS12_PROFILE"
ENV_VERIFY_TIMEOUT = "ROTATOR_VERIFY_TIMEOUT"
ENV_MAX_PARALLEL = "ROTATOR_MAX_PARALLEL"
ENV_EXPIRY_WARNING_DAYS = "ROTATOR_EXPIRY_WARNING_DAYS"
# ROTATOR_SCHEDULE is read by function_app.py itself: the host needs it when it indexes the app.
ENV_HTTP_TIMEOUT = "ROTATOR_HTTP_TIMEOUT"
ENV_STATE_CONTAINER = "ROTATOR_STATE_CONTAINER"
ENV_PROBE_ALLOW_PRIVATE = "ROTATOR_PROBE_ALLOW_PRIVATE"
# The Functions host's own storage account (connection string or identity-based settings).
ENV_WEBJOBS_STORAGE = "AzureWebJobsStorage"
ENV_WEBJOBS_STORAGE_ACCOUNT = "AzureWebJobsStorage__accountName"
ENV_WEBJOBS_STORAGE_BLOB_URI = "AzureWebJobsStorage__blobServiceUri"
# The identity rotator uses for Graph (README, "Graph identity"; rotator/credentials.py).
ENV_GRAPH_CREDENTIAL = "ROTATOR_GRAPH_CREDENTIAL"
ENV_GRAPH_TENANT_ID = "ROTATOR_GRAPH_TENANT_ID"
ENV_GRAPH_CLIENT_ID = "ROTATOR_GRAPH_CLIENT_ID"
ENV_GRAPH_CLIENT_CERTIFICATE = "ROTATOR_GRAPH_CLIENT_CERTIFICATE"
ENV_GRAPH_CLIENT_SECRET = "ROTATOR_GRAPH_CLIENT_SECRET"  # noqa: S105 (a setting name)
ENV_GRAPH_KEYVAULT_URL = "ROTATOR_GRAPH_KEYVAULT_URL"
ENV_AUTHORITY_HOST = "ROTATOR_AUTHORITY_HOST"

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com"
GRAPH_API_VERSIONS = ("beta", "v1.0")
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
MAX_CONFIG_BYTES = 1024 * 1024
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_TENANT_DOMAIN = re.compile(r"(?=.{4,253}\Z)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}")
# The authority of a root URL: a DNS name or a bracketed IPv6 address, and an optional port.
_AUTHORITY = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:(?P<port>[0-9]{1,5}))?")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class GraphCredentialMode(StrEnum):
    """How rotator gets its Microsoft Graph token (Key Vault always uses the default chain)."""

    DEFAULT = "default"  # azure-identity's default chain: the managed identity in Azure
    CLIENT_CERTIFICATE = "client-certificate"  # an app in the B2C tenant; certificate in Key Vault
    CLIENT_SECRET = "client-secret"  # noqa: S105 - the app with a client secret: last resort


@dataclass(frozen=True)
class Settings:
    """Everything rotator reads from its environment, validated. The only secret it can hold is
    a storage account key inside ``state_connection_string``, which ``repr`` never shows."""

    targets: tuple[Target, ...]
    graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT
    graph_api_version: str = "beta"
    ca_bundle: Path | None = None
    keyvault_verify_challenge_resource: bool = True
    state_dir: Path = field(default_factory=lambda: default_state_dir(os.environ))
    pkcs12_profile: Pkcs12Profile = Pkcs12Profile.LEGACY_3DES
    verify_timeout: float = 10.0
    max_parallel: int = 4
    expiry_warning_days: int = 30
    http_timeout: float = 30.0
    # The blob state store on the Function's storage account; both None → the local directory.
    state_blob_uri: str | None = None
    state_connection_string: str | None = field(default=None, repr=False)  # holds an account key
    state_container: str = "rotator-state"
    # Graph identity. The two names are Key Vault object names, never the credential itself.
    graph_credential: GraphCredentialMode = GraphCredentialMode.DEFAULT
    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_client_certificate_name: str | None = None
    graph_client_secret_name: str | None = None
    graph_key_vault_url: str | None = None  # the vault holding them (client modes only)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    # The probe may call loopback, private and link-local addresses (the emulator, tests only).
    probe_allow_private: bool = False

    @property
    def graph_scope(self) -> str:
        """The OAuth scope of Graph tokens: ``<endpoint>/.default``."""
        return f"{self.graph_endpoint}/.default"

    def target(self, connector_id: str) -> Target:
        """The configured target of ``connector_id``.

        Raises:
            ConfigurationError: no target has that connector id.
        """
        for target in self.targets:
            if target.connector_id == connector_id:
                return target
        known = ", ".join(t.connector_id for t in self.targets) or "none"
        raise ConfigurationError(
            f"connector {truncate(connector_id)!r} is not configured in {ENV_CONFIG} "
            f"(configured: {truncate(known)})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings from ``environ`` (default: ``os.environ``).

        Raises:
            ConfigurationError: a setting is missing or invalid; the message names it.
        """
        env = os.environ if environ is None else environ
        raw_config = env.get(ENV_CONFIG, "").strip()
        if not raw_config:
            raise ConfigurationError(
                f"{ENV_CONFIG} is not set: give the targets as inline JSON or the path of a JSON file"
            )
        graph_endpoint = _https_url(
            env.get(ENV_GRAPH_ENDPOINT, DEFAULT_GRAPH_ENDPOINT), ENV_GRAPH_ENDPOINT
        )
        if urlsplit(graph_endpoint).path not in ("", "/"):
            raise ConfigurationError(
                f"{ENV_GRAPH_ENDPOINT}={truncate(graph_endpoint)!r}: give the Graph root such as "
                f"https://graph.microsoft.com, without a path (the version is "
                f"{ENV_GRAPH_API_VERSION})"
            )
        api_version = env.get(ENV_GRAPH_API_VERSION, "beta").strip()
        if api_version not in GRAPH_API_VERSIONS:
            raise ConfigurationError(
                f"{ENV_GRAPH_API_VERSION}={truncate(api_version)!r}: expected one of {', '.join(GRAPH_API_VERSIONS)}"
            )
        ca_bundle = None
        if raw_ca := env.get(ENV_CA_BUNDLE, "").strip():
            ca_bundle = Path(raw_ca)
            if not ca_bundle.is_file():
                raise ConfigurationError(f"{ENV_CA_BUNDLE}={truncate(raw_ca)!r}: no such file")
            try:
                ssl.create_default_context(cafile=str(ca_bundle))
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigurationError(
                    f"{ENV_CA_BUNDLE}={truncate(raw_ca)!r} is not a PEM bundle of CA certificates ({exc})"
                ) from exc
        profile_raw = env.get(ENV_PKCS12_PROFILE, Pkcs12Profile.LEGACY_3DES.value).strip()
        try:
            profile = Pkcs12Profile(profile_raw)
        except ValueError:
            choices = ", ".join(p.value for p in Pkcs12Profile)
            raise ConfigurationError(
                f"{ENV_PKCS12_PROFILE}={truncate(profile_raw)!r}: expected one of {choices}"
            ) from None
        state_raw = env.get(ENV_STATE_DIR, "").strip()
        blob_uri, connection_string = _state_account(env)
        document = _load_config(raw_config)
        return cls(
            targets=parse_targets(document),
            **_graph_identity(env, document),
            graph_endpoint=graph_endpoint,
            graph_api_version=api_version,
            ca_bundle=ca_bundle,
            keyvault_verify_challenge_resource=_bool(
                env.get(ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE, "true"),
                ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE,
            ),
            state_dir=Path(state_raw) if state_raw else default_state_dir(env),
            pkcs12_profile=profile,
            verify_timeout=_number(env, ENV_VERIFY_TIMEOUT, "10", 0, 300),
            max_parallel=int(_number(env, ENV_MAX_PARALLEL, "4", 1, 64, whole=True)),
            expiry_warning_days=int(
                _number(env, ENV_EXPIRY_WARNING_DAYS, "30", 0, 3650, whole=True)
            ),
            http_timeout=_number(env, ENV_HTTP_TIMEOUT, "30", 1, 300),
            state_blob_uri=blob_uri,
            state_connection_string=connection_string,
            state_container=env.get(ENV_STATE_CONTAINER, "rotator-state").strip()
            or "rotator-state",
            probe_allow_private=_bool(
                env.get(ENV_PROBE_ALLOW_PRIVATE, "false"), ENV_PROBE_ALLOW_PRIVATE
            ),
        )


def _number(
    env: Mapping[str, str], name: str, default: str, low: float, high: float, *, whole: bool = False
) -> float:
    raw = env.get(name, default).strip()
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(
            f"{name}={truncate(raw)!r}: expected {kind} from {low:g} to {high:g}"
        )
    return value


def _state_account(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Where the blob state store lives: (service URI, connection string), or (None, None)."""
    connection_string = env.get(ENV_WEBJOBS_STORAGE, "").strip()
    if connection_string:
        return None, connection_string
    if uri := env.get(ENV_WEBJOBS_STORAGE_BLOB_URI, "").strip():
        return _https_url(uri, ENV_WEBJOBS_STORAGE_BLOB_URI), None
    if account := env.get(ENV_WEBJOBS_STORAGE_ACCOUNT, "").strip():
        return f"https://{account}.blob.core.windows.net", None
    return None, None


def default_state_dir(env: Mapping[str, str]) -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/rotator`` or ``~/.local/share/rotator``."""
    if local_app_data := env.get("LOCALAPPDATA"):
        return Path(local_app_data) / "rotator"
    if xdg := env.get("XDG_DATA_HOME"):
        return Path(xdg) / "rotator"
    return Path.home() / ".local" / "share" / "rotator"


def _load_config(raw: str) -> Any:
    if raw.startswith("{"):
        source, text = f"{ENV_CONFIG} (inline JSON)", raw
    else:
        path = Path(raw).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"{ENV_CONFIG}: cannot read {str(path)!r}: {exc.strerror or exc}"
            ) from exc
        source = str(path)
    try:
        return load_json(text, max_bytes=MAX_CONFIG_BYTES)
    except JsonLimitError as exc:
        raise ConfigurationError(f"{source} cannot be used: {exc}") from exc


def parse_targets(document: Any) -> tuple[Target, ...]:
    """Validate the targets document (schema in the README) and turn it into targets.

    Raises:
        ConfigurationError: naming the key and the connector that is wrong.
    """
    if not isinstance(document, dict):
        raise ConfigurationError(f"{ENV_CONFIG}: the top level must be a JSON object")
    _no_unknown_keys(document, {"keyVaultUrl", "connectors", "probe"}, "the top level")
    default_probe = top_level_probe(document.get("probe"))
    default_vault = None
    if "keyVaultUrl" in document:
        default_vault = _vault_url(document["keyVaultUrl"], "keyVaultUrl")
    connectors = document.get("connectors")
    if not isinstance(connectors, list) or not connectors:
        raise ConfigurationError(f"{ENV_CONFIG}: 'connectors' must be a non-empty list")
    targets: list[Target] = []
    seen: set[str] = set()
    for index, entry in enumerate(connectors):
        where = f"connectors[{index}]"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{ENV_CONFIG}: {where} must be an object")
        connector_id = entry.get("id")
        if not isinstance(connector_id, str) or not connector_id.strip():
            raise ConfigurationError(f"{ENV_CONFIG}: {where}: 'id' is missing or empty")
        if not is_connector_id(connector_id):
            raise ConfigurationError(
                f"{ENV_CONFIG}: {where}: 'id' {truncate(connector_id)!r} is not a connector id "
                "(1-256 letters, digits, '-', '_' and '.', not '.' or '..')"
            )
        where = f"{where} (connector {connector_id!r})"
        if connector_id in seen:
            raise ConfigurationError(f"{ENV_CONFIG}: {where}: duplicate connector id")
        seen.add(connector_id)
        target = _parse_target(entry, connector_id, default_vault, where)
        probe = parse_probe(
            entry.get("probe"), where=f"{ENV_CONFIG}: {where}", default=default_probe
        )
        targets.append(replace(target, probe=probe))
    return tuple(targets)


def _parse_target(
    entry: dict[str, Any], connector_id: str, default_vault: str | None, where: str
) -> Target:
    _no_unknown_keys(entry, {"id", "keyVaultUrl", "certificate", "basic", "mode", "probe"}, where)
    if "keyVaultUrl" in entry:
        vault = _vault_url(entry["keyVaultUrl"], f"{where}: keyVaultUrl")
    elif default_vault:
        vault = default_vault
    else:
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: 'keyVaultUrl' is missing (set it here or at the top level)"
        )
    has_cert, has_basic = "certificate" in entry, "basic" in entry
    if has_cert == has_basic:
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: give exactly one of 'certificate' or 'basic'"
        )
    if has_cert:
        name = _object_name(entry["certificate"], f"{where}: certificate")
        mode_raw = entry.get("mode", InstallMode.REPLACE.value)
        try:
            mode = InstallMode(mode_raw)
        except ValueError:
            raise ConfigurationError(
                f"{ENV_CONFIG}: {where}: mode {mode_raw!r} is not one of replace, overlap"
            ) from None
        return CertificateTarget(connector_id, vault, name, mode)
    if "mode" in entry:
        raise ConfigurationError(f"{ENV_CONFIG}: {where}: 'mode' applies only to certificates")
    basic = entry["basic"]
    if not isinstance(basic, dict):
        raise ConfigurationError(f"{ENV_CONFIG}: {where}: 'basic' must be an object")
    _no_unknown_keys(basic, {"username", "passwordSecret"}, f"{where}: basic")
    username = basic.get("username")
    if not isinstance(username, str) or not username:
        raise ConfigurationError(f"{ENV_CONFIG}: {where}: basic.username is missing or empty")
    if ":" in username:
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: basic.username must not contain ':' "
            "(HTTP basic auth cannot carry it, RFC 7617)"
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in username):
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: basic.username contains a control character"
        )
    secret = _object_name(basic.get("passwordSecret"), f"{where}: basic.passwordSecret")
    return BasicTarget(connector_id, vault, username, secret)


def _no_unknown_keys(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _object_name(value: Any, where: str) -> str:
    if not is_key_vault_name(value):
        shown = truncate(value) if isinstance(value, str) else type(value).__name__
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: {shown!r} is not a Key Vault object name "
            "(1-127 letters, digits and '-')"
        )
    return str(value)


def check_key_vault_version(value: str, where: str) -> str:
    """``value`` if it is a Key Vault version id (32 letters and digits), stripped.

    Raises:
        ConfigurationError: naming ``where`` (e.g. ``--version``) and the value, cut short.
    """
    version = value.strip()
    if not is_key_vault_version(version):
        raise ConfigurationError(
            f"{where} {truncate(value)!r} is not a Key Vault version id (32 letters and digits, "
            "as `rotator status` and the portal show it)"
        )
    return version


def _vault_url(value: Any, where: str) -> str:
    url = _https_url(value, f"{ENV_CONFIG}: {where}")
    if urlsplit(url).path not in ("", "/"):
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: {_shown_url(url)!r} must be a vault root such as "
            "https://NAME.vault.azure.net"
        )
    return url


def _https_url(value: Any, where: str) -> str:
    """An https URL of a service: host and optional port (1-65535), nothing a parser could read
    two ways (user info, backslash, space, control character, ``%``, query or fragment).

    Raises:
        ConfigurationError: naming ``where``; the URL is shown cut short, never its user info.
    """
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: expected an https URL, got {type(value).__name__}")
    url = value.strip().rstrip("/")
    if "@" in url:
        raise ConfigurationError(
            f"{where}: the URL carries a user name or password ('user:password@'); remove it "
            "(the value is not shown)"
        )
    shown = _shown_url(url)
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(
            f"{where}: {shown!r} contains a backslash, a space or a control character"
        )
    if "%" in url:
        raise ConfigurationError(f"{where}: {shown!r} contains a percent-encoded character")
    if "?" in url or "#" in url:
        raise ConfigurationError(f"{where}: {shown!r} has a query or fragment; give only the URL")
    parts = urlsplit(url)
    authority = _AUTHORITY.fullmatch(parts.netloc)
    if parts.scheme.lower() != "https" or authority is None:
        raise ConfigurationError(f"{where}: {shown!r} is not an https URL")
    port = authority.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ConfigurationError(f"{where}: {shown!r} has an invalid port (1-65535)")
    return url


def _shown_url(url: str) -> str:
    """A URL as an error may repeat it: cut short, and only when it holds no user info."""
    return "<not shown>" if "@" in url else truncate(url)


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={truncate(value)!r}: expected true or false")


def _graph_identity(env: Mapping[str, str], document: Any) -> dict[str, Any]:
    """The Graph identity settings, checked together: what each mode needs, and nothing else.

    Raises:
        ConfigurationError: unknown mode, a missing or malformed id, a missing Key Vault name, or
            a setting that the chosen mode would silently ignore.
    """
    # azure-identity's own AZURE_AUTHORITY_HOST is honoured when rotator's setting is absent
    fallback = env.get("AZURE_AUTHORITY_HOST", "").strip() or DEFAULT_AUTHORITY_HOST
    authority = _https_url(env.get(ENV_AUTHORITY_HOST, fallback), ENV_AUTHORITY_HOST)
    if urlsplit(authority).path not in ("", "/"):
        raise ConfigurationError(
            f"{ENV_AUTHORITY_HOST}={truncate(authority)!r}: give only the host, such as "
            f"{DEFAULT_AUTHORITY_HOST} (the tenant comes from {ENV_GRAPH_TENANT_ID})"
        )
    raw_mode = env.get(ENV_GRAPH_CREDENTIAL, "").strip() or GraphCredentialMode.DEFAULT.value
    try:
        mode = GraphCredentialMode(raw_mode.lower())
    except ValueError:
        raise ConfigurationError(
            f"{ENV_GRAPH_CREDENTIAL}={truncate(raw_mode)!r}: expected default, client-certificate or "
            "client-secret (the last resort)"
        ) from None
    names = (
        ENV_GRAPH_TENANT_ID,
        ENV_GRAPH_CLIENT_ID,
        ENV_GRAPH_CLIENT_CERTIFICATE,
        ENV_GRAPH_CLIENT_SECRET,
        ENV_GRAPH_KEYVAULT_URL,
    )
    given = {name: env.get(name, "").strip() for name in names}
    if mode is GraphCredentialMode.DEFAULT:
        if stray := next((name for name in names if given[name]), None):
            raise ConfigurationError(
                f"{stray} is set but {ENV_GRAPH_CREDENTIAL} is 'default' (the managed identity); "
                f"set {ENV_GRAPH_CREDENTIAL}=client-certificate (or client-secret), or remove {stray}"
            )
        return {"authority_host": authority}
    tenant, client = given[ENV_GRAPH_TENANT_ID], given[ENV_GRAPH_CLIENT_ID]
    if not tenant:
        raise ConfigurationError(
            f"{ENV_GRAPH_TENANT_ID} is not set: {ENV_GRAPH_CREDENTIAL}={mode.value} needs the "
            "directory (tenant) id of the B2C / External ID tenant that holds the connectors"
        )
    if not (_GUID.fullmatch(tenant) or _TENANT_DOMAIN.fullmatch(tenant)) or tenant.lower() in (
        "common",
        "organizations",
        "consumers",
    ):
        raise ConfigurationError(
            f"{ENV_GRAPH_TENANT_ID} is not a tenant GUID or domain such as contoso.onmicrosoft.com "
            "(the value is not shown: it may be a secret pasted into the wrong setting)"
        )
    if not client:
        raise ConfigurationError(
            f"{ENV_GRAPH_CLIENT_ID} is not set: {ENV_GRAPH_CREDENTIAL}={mode.value} needs the "
            "application (client) id of the app registered in that tenant"
        )
    if not _GUID.fullmatch(client):
        raise ConfigurationError(
            f"{ENV_GRAPH_CLIENT_ID} is not an application (client) id, a GUID (the value is not "
            "shown: it may be a secret pasted into the wrong setting)"
        )
    if mode is GraphCredentialMode.CLIENT_CERTIFICATE:
        own, other, what = ENV_GRAPH_CLIENT_CERTIFICATE, ENV_GRAPH_CLIENT_SECRET, "certificate"
    else:
        own, other, what = ENV_GRAPH_CLIENT_SECRET, ENV_GRAPH_CLIENT_CERTIFICATE, "secret"
    if not given[own]:
        raise ConfigurationError(
            f"{own} is not set: {ENV_GRAPH_CREDENTIAL}={mode.value} needs the name of the Key "
            f"Vault {what} that holds the app's client {what}"
        )
    if not is_key_vault_name(given[own]):
        raise ConfigurationError(
            f"{own} is not a Key Vault {what} name (1-127 letters, digits and '-'; the value "
            f"is not shown, it may be the {what} itself): give the name of the {what}, not its value"
        )
    if given[other]:
        raise ConfigurationError(
            f"{other} is set but {ENV_GRAPH_CREDENTIAL} is {mode.value}; remove {other}"
        )
    if raw_vault := given[ENV_GRAPH_KEYVAULT_URL]:
        vault = _https_url(raw_vault, ENV_GRAPH_KEYVAULT_URL)
        if urlsplit(vault).path not in ("", "/"):
            raise ConfigurationError(
                f"{ENV_GRAPH_KEYVAULT_URL}={truncate(vault)!r} must be a vault root such as "
                "https://NAME.vault.azure.net"
            )
    elif isinstance(document, dict) and "keyVaultUrl" in document:
        vault = _vault_url(document["keyVaultUrl"], "keyVaultUrl")
    else:
        raise ConfigurationError(
            f"{ENV_GRAPH_KEYVAULT_URL} is not set and {ENV_CONFIG} has no top-level keyVaultUrl: "
            f"name the vault that holds {own}"
        )
    return {
        "graph_credential": mode,
        "graph_tenant_id": tenant,
        "graph_client_id": client,
        "graph_client_certificate_name": given[own] if what == "certificate" else None,
        "graph_client_secret_name": given[own] if what == "secret" else None,
        "graph_key_vault_url": vault,
        "authority_host": authority,
    }
