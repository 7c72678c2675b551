"""The ``policyKeys`` of ``ROTATOR_CONFIG`` (pure): B2C policy key sets kept on a Key Vault
certificate or secret, each checked before any network call; every error names the key set."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from rotator.config.probe import parse_probe
from rotator.config.targets import ENV_CONFIG, _no_unknown_keys, _object_name, vault_url
from rotator.errors import ConfigurationError
from rotator.model import CredentialKind, PolicyKeyTarget
from rotator.text import is_key_set_id, truncate

KEYS = {"keySet", "keyVaultUrl", "certificate", "secret", "identity", "probe"}
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_RESERVED_HEADERS = ("authorization", "host", "content-length", "transfer-encoding", "content-type")


def parse_policy_keys(
    document: Mapping[str, Any],
    *,
    default_vault: str | None,
    default_probe: Mapping[str, Any] | None,
    connector_ids: Collection[str] = (),
) -> tuple[PolicyKeyTarget, ...]:
    """The ``"policyKeys"`` list (``()`` when absent), in configuration order.

    Raises:
        ConfigurationError: a key set id, key or value is wrong, a key set is named twice, or its
            probe lacks what the credential needs; the message names the key set and the key.
    """
    entries = document.get("policyKeys")
    if entries is None:
        return ()
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{ENV_CONFIG}: 'policyKeys' must be a non-empty list")
    targets: list[PolicyKeyTarget] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        target = _policy_key(entry, f"policyKeys[{index}]", default_vault, default_probe)
        where = f"{ENV_CONFIG}: policyKeys[{index}] (key set {target.key_set!r})"
        if target.key_set.lower() in seen:
            raise ConfigurationError(f"{where}: the same keySet is named twice")
        seen.add(target.key_set.lower())
        if f"keyset.{target.key_set}" in connector_ids:  # state.records.state_key
            raise ConfigurationError(
                f"{where}: a connector's id is 'keyset.{target.key_set}', the name rotator's state "
                "store gives this key set; rename the connector or leave the key set out"
            )
        targets.append(target)
    return tuple(targets)


def _policy_key(
    entry: Any, where: str, default_vault: str | None, default_probe: Mapping[str, Any] | None
) -> PolicyKeyTarget:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{ENV_CONFIG}: {where} must be an object")
    key_set = entry.get("keySet")
    if not is_key_set_id(key_set):
        shown = truncate(key_set) if isinstance(key_set, str) else type(key_set).__name__
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: 'keySet' {shown!r} is not a key set id (B2C_1A_ followed "
            "by 1-120 letters, digits, '_' and '-')"
        )
    where = f"{where} (key set {key_set!r})"
    _no_unknown_keys(entry, KEYS, where)
    if "keyVaultUrl" in entry:
        vault = vault_url(entry["keyVaultUrl"], f"{where}: keyVaultUrl")
    elif default_vault:
        vault = default_vault
    else:
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: 'keyVaultUrl' is missing (set it here or at the top level)"
        )
    if ("certificate" in entry) == ("secret" in entry):
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: give exactly one of 'certificate' or 'secret'"
        )
    kind = CredentialKind.CERTIFICATE if "certificate" in entry else CredentialKind.SECRET
    name = _object_name(entry[kind.value], f"{where}: {kind.value}")
    identity = entry.get("identity", "default")
    if not isinstance(identity, str) or not identity:
        raise ConfigurationError(f"{ENV_CONFIG}: {where}: 'identity' must be an identity name")
    target = PolicyKeyTarget(str(key_set), vault, name, kind, identity=identity)
    return _with_probe(target, entry.get("probe"), f"{ENV_CONFIG}: {where}", default_probe)


def _with_probe(
    target: PolicyKeyTarget, value: Any, where: str, default: Mapping[str, Any] | None
) -> PolicyKeyTarget:
    """``target`` with its probe: the connectors' probe keys plus ``username`` (a password) or
    ``apiKeyHeader`` (an API key), over the top-level default; ``url`` is required."""
    own = dict(value) if isinstance(value, dict) else value
    username = own.pop("username", None) if isinstance(own, dict) else None
    header = own.pop("apiKeyHeader", None) if isinstance(own, dict) else None
    probe = parse_probe(own, where=where, default=default)
    if probe is None:
        return target
    if probe.url is None:
        raise ConfigurationError(
            f"{where}: probe.url is required for a policy key (Graph does not know the technical "
            "profile's ServiceUrl; give the URL of the API the policy calls)"
        )
    if target.kind is CredentialKind.CERTIFICATE:
        if username is not None or header is not None:
            raise ConfigurationError(
                f"{where}: probe.username and probe.apiKeyHeader apply only to a secret"
            )
        return replace(target, probe=probe)
    if (username is None) == (header is None):
        raise ConfigurationError(
            f"{where}: the probe of a secret needs exactly one of probe.username (a password, "
            "sent as basic auth) or probe.apiKeyHeader (an API key, sent in that header)"
        )
    if username is not None:
        _check_username(username, where)
    else:
        _check_header(header, where, taken={name.lower() for name, _ in probe.headers})
    return replace(target, probe=probe, username=username, api_key_header=header)


def _check_username(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: probe.username must be a non-empty string")
    if ":" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ConfigurationError(
            f"{where}: probe.username must not contain ':' or a control character "
            "(HTTP basic auth cannot carry them, RFC 7617)"
        )


def _check_header(value: Any, where: str, *, taken: set[str]) -> None:
    if not isinstance(value, str) or not value or not set(value) <= _TOKEN or len(value) > 256:
        raise ConfigurationError(f"{where}: probe.apiKeyHeader must be an HTTP header name")
    if value.lower() in _RESERVED_HEADERS or value.lower() in taken:
        raise ConfigurationError(
            f"{where}: probe.apiKeyHeader {value!r} is a header rotator or probe.headers sets"
        )
