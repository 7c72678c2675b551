"""Local HTTPS stand-ins for Microsoft Graph API connectors, Azure Key Vault and the MI endpoint.

::

    from rotator.emulator import Emulator

    with Emulator() as emu:
        emu.vault.add_secret_version("api-password", "s3cret")
        connector_id = emu.graph.add_connector(username="api")
        os.environ.update(emu.env())
"""

from rotator.emulator.app import Emulator
from rotator.emulator.graph import CertificateEntry, ConnectorSnapshot
from rotator.emulator.server import JournalEntry

__all__ = ["CertificateEntry", "ConnectorSnapshot", "Emulator", "JournalEntry"]
