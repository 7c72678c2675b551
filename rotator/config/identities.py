"""Graph identities (pure): who rotator is in each tenant, from ``ROTATOR_CONFIG``'s
``"identities"`` (several tenants in one deployment) or, without it, the Graph settings
(``ROTATOR_GRAPH_CREDENTIAL`` and its kin) as the one ``default`` identity. Each is checked
before any network call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from rotator.config.urls import https_url
from rotator.errors import ConfigurationError
from rotator.model import is_key_vault_name
from rotator.text import truncate

DEFAULT_IDENTITY = "default"
GRAPH_API_VERSIONS = ("beta", "v1.0")
GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
TENANT_DOMAIN = re.compile(r"(?=.{4,253}\Z)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEYS = (
    "credential",
    "tenantId",
    "clientId",
    "applicationObjectId",
    "clientCertificate",
    "clientSecret",
    "keyVaultUrl",
    "graphEndpoint",
    "authorityHost",
    "apiVersion",
    "maxParallel",
    "keepAlive",
    "keepAliveGraceDays",
)


class GraphCredentialMode(StrEnum):
    """How rotator gets its Microsoft Graph token (Key Vault always uses the default chain)."""

    DEFAULT = "default"  # azure-identity's default chain: the managed identity in Azure
    CLIENT_CERTIFICATE = "client-certificate"  # an app in the B2C tenant; certificate in Key Vault
    CLIENT_SECRET = "client-secret"  # noqa: S105 - the app with a client secret: last resort


@dataclass(frozen=True)
class IdentityConfig:
    """One Graph identity of ``"identities"``; unset optional keys fall back to the settings'."""

    name: str
    credential: GraphCredentialMode
    tenant_id: str | None = None
    client_id: str | None = None
    application_object_id: str | None = None
    client_certificate: str | None = None  # a Key Vault certificate's name
    client_secret: str | None = None  # a Key Vault secret's name, never the secret
    key_vault_url: str | None = None
    graph_endpoint: str | None = None
    authority_host: str | None = None
    api_version: str | None = None
    max_parallel: int | None = None
    keep_alive: bool = False
    keep_alive_grace_days: int = 7


def parse_identities(value: Any, *, default_vault: str | None) -> tuple[IdentityConfig, ...]:
    """The ``"identities"`` object of ``ROTATOR_CONFIG`` (``{}`` when absent).

    Raises:
        ConfigurationError: a name, key, mode or value is wrong, or a mode lacks what it needs;
            the message names the identity and the key.
    """
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        raise ConfigurationError(
            "ROTATOR_CONFIG: 'identities' must be a non-empty object of named identities"
        )
    identities = tuple(_identity(name, entry, default_vault) for name, entry in value.items())
    _one_keep_alive_per_application(identities)
    return identities


def _one_keep_alive_per_application(identities: tuple[IdentityConfig, ...]) -> None:
    """Two identities keeping one application alive would add and remove each other's keys.

    Raises:
        ConfigurationError: naming both identities.
    """
    keepers: dict[str, str] = {}
    for identity in (i for i in identities if i.keep_alive):  # client-certificate ones only
        application = f"{identity.tenant_id}/{identity.client_id}".casefold()
        if (first := keepers.get(application)) is not None:
            raise ConfigurationError(
                f"ROTATOR_CONFIG: identities.{identity.name}: keepAlive is also set on identity "
                f"{first!r} for the same application (tenantId and clientId): set it on one of "
                "them only, or they add and remove each other's keys"
            )
        keepers[application] = identity.name


def _identity(name: Any, entry: Any, default_vault: str | None) -> IdentityConfig:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"ROTATOR_CONFIG: identities: {truncate(str(name), 60)!r} is not an identity name "
            "(1-64 letters, digits, '.', '_' and '-')"
        )
    where = f"ROTATOR_CONFIG: identities.{name}"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} must be an object")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {truncate(unknown[0], 60)!r} (allowed: {', '.join(KEYS)})"
        )
    try:
        mode = GraphCredentialMode(str(entry.get("credential", "")))
    except ValueError:
        raise ConfigurationError(
            f"{where}: credential must be default, client-certificate or client-secret"
        ) from None
    strays = {
        GraphCredentialMode.DEFAULT: (
            "tenantId",
            "clientId",
            "clientCertificate",
            "clientSecret",
            "keyVaultUrl",
            "applicationObjectId",
            "keepAlive",
            "keepAliveGraceDays",
        ),
        GraphCredentialMode.CLIENT_SECRET: ("clientCertificate", "keepAlive", "keepAliveGraceDays"),
        GraphCredentialMode.CLIENT_CERTIFICATE: ("clientSecret",),
    }[mode]
    if stray := next((key for key in strays if key in entry), None):
        raise ConfigurationError(f"{where}: {stray} does not apply to credential {mode.value}")
    config = IdentityConfig(
        name=name,
        credential=mode,
        graph_endpoint=_root(entry, "graphEndpoint", where),
        authority_host=_root(entry, "authorityHost", where),
        api_version=_choice(entry, "apiVersion", GRAPH_API_VERSIONS, where),
        max_parallel=_whole(entry, "maxParallel", 1, 64, where),
    )
    if mode is GraphCredentialMode.DEFAULT:
        return config
    own = "clientCertificate" if mode is GraphCredentialMode.CLIENT_CERTIFICATE else "clientSecret"
    secret_name = entry.get(own)
    if not is_key_vault_name(secret_name):
        raise ConfigurationError(
            f"{where}: {own} must be the name of a Key Vault object (1-127 letters, digits and "
            "'-'; the value is not shown: give the name, never the credential itself)"
        )
    vault = _root(entry, "keyVaultUrl", where) or default_vault
    if vault is None:
        raise ConfigurationError(
            f"{where}: keyVaultUrl is missing (set it here or at the top level of ROTATOR_CONFIG)"
        )
    keep_alive = entry.get("keepAlive", False)
    if type(keep_alive) is not bool:
        raise ConfigurationError(f"{where}: keepAlive must be true or false")
    object_id = entry.get("applicationObjectId")
    if object_id is not None and not (isinstance(object_id, str) and GUID.fullmatch(object_id)):
        raise ConfigurationError(f"{where}: applicationObjectId must be a GUID")
    if keep_alive and object_id is None:
        raise ConfigurationError(
            f"{where}: keepAlive needs applicationObjectId (the app registration's object id, "
            "not its client id: Graph's addKey addresses the application object)"
        )
    grace = _whole(entry, "keepAliveGraceDays", 0, 365, where)
    return replace(
        config,
        tenant_id=tenant_id(entry.get("tenantId"), f"{where}: tenantId"),
        client_id=_guid(entry.get("clientId"), f"{where}: clientId"),
        application_object_id=object_id,
        client_certificate=secret_name if own == "clientCertificate" else None,
        client_secret=secret_name if own == "clientSecret" else None,
        key_vault_url=vault,
        keep_alive=keep_alive,
        keep_alive_grace_days=7 if grace is None else grace,
    )


def tenant_id(value: Any, where: str) -> str:
    """A tenant: a GUID or a domain such as ``contoso.onmicrosoft.com`` (never ``common``,
    ``organizations`` or ``consumers``: without a dot they are no domain).

    Raises:
        ConfigurationError: anything else (the value is not shown: it may be a pasted secret).
    """
    if not isinstance(value, str) or not (GUID.fullmatch(value) or TENANT_DOMAIN.fullmatch(value)):
        raise ConfigurationError(
            f"{where} is not a tenant GUID or domain such as contoso.onmicrosoft.com (the value "
            "is not shown: it may be a secret pasted into the wrong setting)"
        )
    return value


def _guid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not GUID.fullmatch(value):
        raise ConfigurationError(
            f"{where} is not an application (client) id, a GUID (the value is not shown)"
        )
    return value


def _root(entry: dict[str, Any], key: str, where: str) -> str | None:
    if key not in entry:
        return None
    url = https_url(entry[key], f"{where}: {key}")
    if urlsplit(url).path:  # https_url stripped every trailing "/"
        raise ConfigurationError(f"{where}: {key} must be a root URL, without a path")
    return url


def _choice(entry: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> str | None:
    if key not in entry:
        return None
    if entry[key] not in choices:
        raise ConfigurationError(f"{where}: {key} must be one of {', '.join(choices)}")
    return str(entry[key])


def _whole(entry: dict[str, Any], key: str, low: int, high: int, where: str) -> int | None:
    if key not in entry:
        return None
    value = entry[key]
    if type(value) is not int or not low <= value <= high:
        raise ConfigurationError(f"{where}: {key} must be a whole number from {low} to {high}")
    return value
