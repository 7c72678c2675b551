"""Verify: read the connector back until Graph shows exactly what was written (a read can lag a
write), comparing with the pure rules of ``policy``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rotator.errors import GraphError, VerificationError
from rotator.model import ConnectorState, InstallMode
from rotator.steps import policy
from rotator.steps.package import CertificateChange, Change

if TYPE_CHECKING:
    from rotator.azure.graph import GraphConnectorClient


def mismatch(change: Change, connector: ConnectorState, now: dt.datetime) -> str | None:
    """What in Graph's answer contradicts ``change``, or None when it shows exactly that.

    A replace of one certificate must leave it alone in the list; otherwise each certificate
    written must be there with its ``notAfter`` (and active once valid). Basic auth: the type and
    username (the password is unreadable).
    """
    if not isinstance(change, CertificateChange):
        return policy.basic_mismatch(connector, username=change.username)
    alone = change.plan.replace and len(change.installs) == 1
    mode = InstallMode.REPLACE if alone else InstallMode.OVERLAP
    for install in change.installs:
        problem = policy.certificate_mismatch(
            connector,
            thumbprint=install.thumbprint,
            not_before=install.not_before,
            not_after=install.not_after,
            mode=mode,
            now=now,
        )
        if problem:
            return problem
    return None


def confirm(
    graph: GraphConnectorClient,
    connector_id: str,
    change: Change,
    *,
    timeout: float,
    clock: Callable[[], dt.datetime],
    sleep: Callable[[float], None],
) -> ConnectorState:
    """Poll Graph until it shows ``change`` (backing off from 0.25 s to 2 s), within ``timeout``.

    Raises:
        VerificationError: Graph did not show it in time; says what it showed last.
    """
    deadline = time.monotonic() + timeout
    delay, reads, problem = 0.25, 0, "no read"
    while True:
        reads += 1
        try:
            left = max(1.0, deadline - time.monotonic())
            graph_state = graph.get_connector(connector_id, within=left)
        except GraphError as exc:
            problem = f"the verification read failed: {exc}"
        else:
            found = mismatch(change, graph_state, clock())
            if found is None:
                return graph_state
            problem = found
        if time.monotonic() + delay > deadline:
            raise VerificationError(
                f"connector {connector_id}: the write was accepted but not confirmed after "
                f"{reads} read(s): {problem}; the next run checks again"
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)
