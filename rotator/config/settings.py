"""One frozen settings object, read once from the environment; every environment name lives here."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rotator.config.identities import (
    DEFAULT_IDENTITY,
    GRAPH_API_VERSIONS,
    GUID,
    IdentityConfig,
    check_identity_use,
    parse_identities,
    tenant_id,
)
from rotator.config.identities import GraphCredentialMode as GraphCredentialMode
from rotator.config.policy_keys import parse_policy_keys
from rotator.config.probe import top_level_probe
from rotator.config.state_location import ENV_STATE_DIR as ENV_STATE_DIR
from rotator.config.state_location import ENV_WEBJOBS_STORAGE as ENV_WEBJOBS_STORAGE
from rotator.config.state_location import (
    ENV_WEBJOBS_STORAGE_ACCOUNT as ENV_WEBJOBS_STORAGE_ACCOUNT,
)
from rotator.config.state_location import (
    ENV_WEBJOBS_STORAGE_BLOB_URI as ENV_WEBJOBS_STORAGE_BLOB_URI,
)
from rotator.config.state_location import default_state_dir, state_location

# ENV_CONFIG lives beside the document it names; re-exported with every other setting name
from rotator.config.targets import ENV_CONFIG as ENV_CONFIG
from rotator.config.targets import load_config, parse_targets, top_level_vault
from rotator.config.urls import https_url
from rotator.errors import ConfigurationError
from rotator.hints import stale_emulator
from rotator.model import AnyTarget, Pkcs12Profile, PolicyKeyTarget, Target
from rotator.text import is_key_vault_name, truncate

ENV_GRAPH_ENDPOINT = "ROTATOR_GRAPH_ENDPOINT"
ENV_GRAPH_API_VERSION = "ROTATOR_GRAPH_API_VERSION"
ENV_CA_BUNDLE = "ROTATOR_CA_BUNDLE"
ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE = "ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE"
ENV_PKCS12_PROFILE = "ROTATOR_PKCS12_PROFILE"
ENV_VERIFY_TIMEOUT = "ROTATOR_VERIFY_TIMEOUT"
ENV_MAX_PARALLEL = "ROTATOR_MAX_PARALLEL"
ENV_EXPIRY_WARNING_DAYS = "ROTATOR_EXPIRY_WARNING_DAYS"
# ROTATOR_SCHEDULE is read by function_app.py itself: the host needs it when it indexes the app.
ENV_HTTP_TIMEOUT = "ROTATOR_HTTP_TIMEOUT"
ENV_STATE_CONTAINER = "ROTATOR_STATE_CONTAINER"
ENV_PROBE_ALLOW_PRIVATE = "ROTATOR_PROBE_ALLOW_PRIVATE"
ENV_PROBE_CA_BUNDLE = "ROTATOR_PROBE_CA_BUNDLE"
# The identity rotator uses for Graph (README, "Graph identity"; rotator/credentials.py).
ENV_GRAPH_CREDENTIAL = "ROTATOR_GRAPH_CREDENTIAL"
ENV_GRAPH_TENANT_ID = "ROTATOR_GRAPH_TENANT_ID"
ENV_GRAPH_CLIENT_ID = "ROTATOR_GRAPH_CLIENT_ID"
ENV_GRAPH_CLIENT_CERTIFICATE = "ROTATOR_GRAPH_CLIENT_CERTIFICATE"
ENV_GRAPH_CLIENT_SECRET = "ROTATOR_GRAPH_CLIENT_SECRET"  # noqa: S105 (a setting name)
ENV_GRAPH_KEYVAULT_URL = "ROTATOR_GRAPH_KEYVAULT_URL"
ENV_AUTHORITY_HOST = "ROTATOR_AUTHORITY_HOST"

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
# The authority of a root URL: a DNS name or a bracketed IPv6 address, and an optional port.
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


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
    probe_ca_bundle: Path | None = None  # the probe trusts it besides ca_bundle (or the system)
    # Which identity the graph_* fields above describe; the named ones of ROTATOR_CONFIG.
    identity_name: str = DEFAULT_IDENTITY
    application_object_id: str | None = None  # keep-alive: the app registration's object id
    keep_alive: bool = False  # roll the app's own certificate (client-certificate only)
    keep_alive_grace_days: int = 7
    identities: tuple[IdentityConfig, ...] = ()
    policy_keys: tuple[PolicyKeyTarget, ...] = ()  # B2C policy key sets, beside the connectors

    @property
    def identity_names(self) -> tuple[str, ...]:
        """The identities the targets use, in the order of their first target."""
        return tuple(dict.fromkeys(t.identity for t in self.all_targets))

    @property
    def all_targets(self) -> tuple[AnyTarget, ...]:
        """The connectors, then the policy keys, in configuration order."""
        return (*self.targets, *self.policy_keys)

    def for_identity(self, name: str) -> Settings:
        """These settings as identity ``name`` sees them: its Graph credential, tenant, endpoint,
        authority, API version and parallelism (the default identity: the settings themselves).

        Raises:
            ConfigurationError: no identity has that name.
        """
        config = next((i for i in self.identities if i.name == name), None)
        if config is None:
            if name == self.identity_name:
                return self
            raise ConfigurationError(f"identity {truncate(name, 60)!r} is not configured")
        return replace(
            self,
            identity_name=name,
            graph_credential=config.credential,
            graph_tenant_id=config.tenant_id,
            graph_client_id=config.client_id,
            graph_client_certificate_name=config.client_certificate,
            graph_client_secret_name=config.client_secret,
            graph_key_vault_url=config.key_vault_url,
            graph_endpoint=config.graph_endpoint or self.graph_endpoint,
            graph_api_version=config.api_version or self.graph_api_version,
            authority_host=config.authority_host or self.authority_host,
            max_parallel=config.max_parallel or self.max_parallel,
            application_object_id=config.application_object_id,
            keep_alive=config.keep_alive,
            keep_alive_grace_days=config.keep_alive_grace_days,
        )

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

    def policy_key(self, key_set: str) -> PolicyKeyTarget:
        """The configured policy key of ``key_set``.

        Raises:
            ConfigurationError: no policy key has that key set id.
        """
        for target in self.policy_keys:
            if target.key_set == key_set:
                return target
        known = ", ".join(t.key_set for t in self.policy_keys) or "none"
        raise ConfigurationError(
            f"key set {truncate(key_set)!r} is not configured in {ENV_CONFIG}'s policyKeys "
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
        graph_endpoint = https_url(
            env.get(ENV_GRAPH_ENDPOINT, DEFAULT_GRAPH_ENDPOINT), ENV_GRAPH_ENDPOINT
        )
        if urlsplit(graph_endpoint).path:  # https_url stripped every trailing "/"
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
        profile_raw = env.get(ENV_PKCS12_PROFILE, Pkcs12Profile.LEGACY_3DES.value).strip()
        try:
            profile = Pkcs12Profile(profile_raw)
        except ValueError:
            choices = ", ".join(p.value for p in Pkcs12Profile)
            raise ConfigurationError(
                f"{ENV_PKCS12_PROFILE}={truncate(profile_raw)!r}: expected one of {choices}"
            ) from None
        state = state_location(env)  # ROTATOR_STATE_DIR wins over AzureWebJobsStorage
        document = load_config(raw_config)
        targets = parse_targets(document)  # refuses a document that is not an object
        default_vault = top_level_vault(document)
        identities = parse_identities(document.get("identities"), default_vault=default_vault)
        policy_keys = parse_policy_keys(
            document,
            default_vault=default_vault,
            default_probe=top_level_probe(document.get("probe")),
            connector_ids={t.connector_id for t in targets},
        )
        from_env = env.get(ENV_GRAPH_CREDENTIAL, "").strip() not in ("", "default")
        check_identity_use((*targets, *policy_keys), identities, default_from_env=from_env)
        return cls(
            targets=targets,
            policy_keys=policy_keys,
            identities=identities,
            **_graph_identity(env, default_vault),
            graph_endpoint=graph_endpoint,
            graph_api_version=api_version,
            ca_bundle=_ca_file(env, ENV_CA_BUNDLE),
            probe_ca_bundle=_ca_file(env, ENV_PROBE_CA_BUNDLE),
            keyvault_verify_challenge_resource=_bool(
                env.get(ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE, "true"),
                ENV_KEYVAULT_VERIFY_CHALLENGE_RESOURCE,
            ),
            state_dir=state.directory,
            pkcs12_profile=profile,
            verify_timeout=_number(env, ENV_VERIFY_TIMEOUT, "10", 0, 300),
            max_parallel=int(_number(env, ENV_MAX_PARALLEL, "4", 1, 64, whole=True)),
            expiry_warning_days=int(
                _number(env, ENV_EXPIRY_WARNING_DAYS, "30", 0, 3650, whole=True)
            ),
            http_timeout=_number(env, ENV_HTTP_TIMEOUT, "30", 1, 300),
            state_blob_uri=state.blob_uri,
            state_connection_string=state.connection_string,
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


def _ca_file(env: Mapping[str, str], name: str) -> Path | None:
    """The PEM bundle of CA certificates setting ``name`` gives, checked; None when unset."""
    if not (raw := env.get(name, "").strip()):
        return None
    if not Path(raw).is_file():
        hint = stale_emulator(raw)
        raise ConfigurationError(
            f"{name}={truncate(raw)!r}: no such file" + (f"; {hint}" if hint else "")
        )
    try:
        ssl.create_default_context(cafile=raw)
    except (ssl.SSLError, ValueError) as exc:
        why = f"is not a PEM bundle of CA certificates ({exc})"
        raise ConfigurationError(f"{name}={truncate(raw)!r} {why}") from exc
    return Path(raw)


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={truncate(value)!r}: expected true or false")


def _graph_identity(env: Mapping[str, str], default_vault: str | None) -> dict[str, Any]:
    """The Graph identity settings, checked together: what each mode needs, and nothing else.

    Raises:
        ConfigurationError: unknown mode, a missing or malformed id, a missing Key Vault name, or
            a setting that the chosen mode would silently ignore.
    """
    # azure-identity's own AZURE_AUTHORITY_HOST is honoured when rotator's setting is absent
    fallback = env.get("AZURE_AUTHORITY_HOST", "").strip() or DEFAULT_AUTHORITY_HOST
    authority = https_url(env.get(ENV_AUTHORITY_HOST, fallback), ENV_AUTHORITY_HOST)
    if urlsplit(authority).path:  # https_url stripped every trailing "/"
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
    tenant_id(tenant, ENV_GRAPH_TENANT_ID)
    if not client:
        raise ConfigurationError(
            f"{ENV_GRAPH_CLIENT_ID} is not set: {ENV_GRAPH_CREDENTIAL}={mode.value} needs the "
            "application (client) id of the app registered in that tenant"
        )
    if not GUID.fullmatch(client):
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
        vault = https_url(raw_vault, ENV_GRAPH_KEYVAULT_URL)
        if urlsplit(vault).path:  # https_url stripped every trailing "/"
            raise ConfigurationError(
                f"{ENV_GRAPH_KEYVAULT_URL}={truncate(vault)!r} must be a vault root such as "
                "https://NAME.vault.azure.net"
            )
    elif default_vault is not None:
        vault = default_vault
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
