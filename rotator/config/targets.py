"""The targets document of ``ROTATOR_CONFIG`` (pure): read, size-bounded, and validated into
targets before any network call; every error names the key and the connector."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rotator.config.probe import parse_probe, top_level_probe
from rotator.config.urls import https_url, shown_url
from rotator.errors import ConfigurationError
from rotator.model import (
    BasicTarget,
    CertificateTarget,
    InstallMode,
    Target,
)
from rotator.text import (
    JsonLimitError,
    is_connector_id,
    is_key_vault_name,
    is_key_vault_version,
    load_json,
    truncate,
)

ENV_CONFIG = "ROTATOR_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
# Unicode categories a username may not hold: controls (C0, DEL, C1 with NEL U+0085), format
# characters (zero-width U+200B-U+200D, U+2060, U+FEFF; bidi marks, overrides and isolates),
# and the line and paragraph separators U+2028 / U+2029.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def load_config(raw: str) -> Any:
    """The document ``ROTATOR_CONFIG`` holds: inline JSON when it starts with ``{`` or ``[``
    (after blanks), else the path of a JSON file.

    Raises:
        ConfigurationError: the file cannot be read, or the text is not strict JSON.
    """
    if raw.lstrip().startswith(("{", "[")):
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
        said = f'{ENV_CONFIG}: the top level must be a JSON object such as {{"connectors": [...]}}'
        if isinstance(document, list):
            said += " (a list is not a configuration document: list the connectors under it)"
        raise ConfigurationError(said)
    # policyKeys is checked by config.policy_keys (and left out of this message, unchanged)
    known = {key: value for key, value in document.items() if key != "policyKeys"}
    _no_unknown_keys(known, {"keyVaultUrl", "connectors", "probe", "identities"}, "the top level")
    default_probe = top_level_probe(document.get("probe"))
    default_vault = top_level_vault(document)
    connectors = document.get("connectors")
    if connectors is None and document.get("policyKeys"):
        return ()  # policy keys only
    if not isinstance(connectors, list) or not connectors:
        raise ConfigurationError(f"{ENV_CONFIG}: 'connectors' must be a non-empty list")
    targets: list[Target] = []
    seen: dict[str, str] = {}  # lower-cased id -> the id as first written
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
        if connector_id.lower().startswith("identity.") or connector_id == "all":
            raise ConfigurationError(
                f"{ENV_CONFIG}: {where}: the id is reserved ('all' means every connector in "
                "POST /api/rotate; ids starting with 'identity.' name rotator's own Graph "
                "identities in the state store)"
            )
        first = seen.get(connector_id.lower())
        if first == connector_id:
            raise ConfigurationError(f"{ENV_CONFIG}: {where}: duplicate connector id")
        if first is not None:
            raise ConfigurationError(
                f"{ENV_CONFIG}: {where}: duplicate connector id: it differs from {first!r} only "
                "in case, and Graph's connector ids are case-insensitive (both would rotate one "
                "connector)"
            )
        seen[connector_id.lower()] = connector_id
        target = _parse_target(entry, connector_id, default_vault, where)
        probe = parse_probe(
            entry.get("probe"), where=f"{ENV_CONFIG}: {where}", default=default_probe
        )
        identity = entry.get("identity", "default")
        if not isinstance(identity, str) or not identity:
            raise ConfigurationError(f"{ENV_CONFIG}: {where}: 'identity' must be an identity name")
        targets.append(replace(target, probe=probe, identity=identity))
    return tuple(targets)


def _parse_target(
    entry: dict[str, Any], connector_id: str, default_vault: str | None, where: str
) -> Target:
    _no_unknown_keys(
        entry, {"id", "keyVaultUrl", "certificate", "basic", "mode", "probe", "identity"}, where
    )
    if "keyVaultUrl" in entry:
        vault = vault_url(entry["keyVaultUrl"], f"{where}: keyVaultUrl")
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
    if hidden := next((c for c in username if unicodedata.category(c) in _HIDDEN), None):
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: basic.username contains U+{ord(hidden):04X}, a control, "
            "line-separator, zero-width or bidirectional character (it would send a name "
            "other than the one shown)"
        )
    if username.isspace():
        raise ConfigurationError(f"{ENV_CONFIG}: {where}: basic.username is only spaces")
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


def top_level_vault(document: dict[str, Any]) -> str | None:
    """The document's top-level ``keyVaultUrl`` (every connector's default vault), or None.

    Raises:
        ConfigurationError: it is not a vault root URL.
    """
    if "keyVaultUrl" not in document:
        return None
    return vault_url(document["keyVaultUrl"], "keyVaultUrl")


def vault_url(value: Any, where: str) -> str:
    url = https_url(value, f"{ENV_CONFIG}: {where}")
    if urlsplit(url).path:  # https_url stripped every trailing "/"
        raise ConfigurationError(
            f"{ENV_CONFIG}: {where}: {shown_url(url)!r} must be a vault root such as "
            "https://NAME.vault.azure.net"
        )
    return url
