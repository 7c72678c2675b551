"""Where rotator keeps its state (pure): a local directory, or a blob container on the Function
App's own storage account, chosen from the environment.

The rule, in order: ``ROTATOR_STATE_DIR`` set → that directory (also inside a Functions host:
the local Function then shares its state with the CLI); else ``AzureWebJobsStorage`` (a
connection string), ``AzureWebJobsStorage__blobServiceUri`` or ``__accountName`` → the blob
container; else the per-user data directory. In Azure ``ROTATOR_STATE_DIR`` is unset, so a
Function App always uses its storage account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rotator.config.urls import https_url

ENV_STATE_DIR = "ROTATOR_STATE_DIR"
# The Functions host's own storage account (connection string or identity-based settings).
ENV_WEBJOBS_STORAGE = "AzureWebJobsStorage"
ENV_WEBJOBS_STORAGE_ACCOUNT = "AzureWebJobsStorage__accountName"
ENV_WEBJOBS_STORAGE_BLOB_URI = "AzureWebJobsStorage__blobServiceUri"


@dataclass(frozen=True)
class StateLocation:
    """The state store's place: a directory, or (when one of the last two is set) a blob service
    by URI or by connection string, which may hold an account key and is never shown."""

    directory: Path
    blob_uri: str | None = None
    connection_string: str | None = field(default=None, repr=False)


def state_location(env: Mapping[str, str]) -> StateLocation:
    """The state store ``env`` chooses (the rule is in the module docstring).

    Raises:
        ConfigurationError: ``AzureWebJobsStorage__blobServiceUri`` is not an https URL.
    """
    if directory := env.get(ENV_STATE_DIR, "").strip():
        return StateLocation(Path(directory))
    local = default_state_dir(env)
    if connection_string := env.get(ENV_WEBJOBS_STORAGE, "").strip():
        return StateLocation(local, connection_string=connection_string)
    if uri := env.get(ENV_WEBJOBS_STORAGE_BLOB_URI, "").strip():
        return StateLocation(local, blob_uri=https_url(uri, ENV_WEBJOBS_STORAGE_BLOB_URI))
    if account := env.get(ENV_WEBJOBS_STORAGE_ACCOUNT, "").strip():
        return StateLocation(local, blob_uri=f"https://{account}.blob.core.windows.net")
    return StateLocation(local)


def default_state_dir(env: Mapping[str, str]) -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/rotator`` or ``~/.local/share/rotator``."""
    if local_app_data := env.get("LOCALAPPDATA"):
        return Path(local_app_data) / "rotator"
    if xdg := env.get("XDG_DATA_HOME"):
        return Path(xdg) / "rotator"
    return Path.home() / ".local" / "share" / "rotator"
