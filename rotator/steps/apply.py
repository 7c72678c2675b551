"""Apply: write a packaged change to the connector in Graph (PATCH, or upload beside the old ones).

Each write first checks that the connector's lease is still held, and marks the run as having
written once Graph accepted it: a later failure is then reported ``unverified`` ("a write may
have landed; the next run checks"), as is a write whose own answer was lost (``GraphError``'s
``may_have_landed``, set by the Graph adapter on timeouts and 5xx).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rotator.steps.package import CertificateChange, Change
from rotator.steps.progress import Progress

if TYPE_CHECKING:
    from rotator.azure.graph import GraphConnectorClient


def write(graph: GraphConnectorClient, change: Change, run: Progress) -> None:
    """Write ``change`` to the connector: a replace PATCHes the first certificate (the list ends
    as exactly the plan) and uploads the rest; overlap uploads each; basic auth PATCHes.

    Raises:
        RotationInProgressError: the lease was lost before a write.
        GraphError: Graph refused a write, or its answer was lost (``may_have_landed``).
    """
    connector_id = run.target.connector_id
    if not isinstance(change, CertificateChange):
        run.ensure_lease()
        graph.update_authentication(
            connector_id,
            {
                "@odata.type": "#microsoft.graph.basicAuthentication",
                "username": change.username,
                "password": change.password,
            },
        )
        run.wrote = True
        return
    for index, install in enumerate(change.installs):
        run.ensure_lease()
        if change.plan.replace and index == 0:
            graph.update_authentication(
                connector_id,
                {
                    "@odata.type": "#microsoft.graph.pkcs12Certificate",
                    "pkcs12Value": install.pfx,
                    "password": install.password,
                },
            )
        else:
            graph.upload_client_certificate(
                connector_id, install.pfx, install.password, thumbprint=install.thumbprint
            )
        run.wrote = True
