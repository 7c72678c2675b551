"""Who asked for a command-line run, as Graph sees it: per Graph identity, the ``upn``,
``app_displayname`` or ``oid`` of the token rotator already holds for it, else the OS user."""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from rotator.azure.token_claims import caller_of
from rotator.events import emit

if TYPE_CHECKING:
    from rotator.rotation import Rotator

log = logging.getLogger("rotator")


def os_user() -> str | None:
    """The OS user running this command (None in a bare container with no name for it)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (a bare container)
        return os.environ.get("USERNAME")


def from_tokens(rotator: Rotator) -> Callable[[str], str | None]:
    """``requester`` of a command-line ``RotationRequest``: for a Graph identity, the caller its
    Graph client's token names, read when a history line is written. It never asks for a
    token: one that reached Graph holds it already (so the name costs no request, and a failing
    credential is not tried twice); a target that never reached Graph, or a token that names
    nobody or cannot be read, records the OS user (logged at DEBUG)."""
    graphs = rotator.steps.graphs

    def who(identity: str) -> str | None:
        try:
            name = caller_of(graphs[identity].held_token_claims())
        except Exception as exc:  # a name is for display: never a reason to fail a record
            emit(log, logging.DEBUG, "rotation.requester_unknown", error=type(exc).__name__)
            return None
        if name is None:
            emit(log, logging.DEBUG, "rotation.requester_unknown", identity=identity)
        return name

    return who
