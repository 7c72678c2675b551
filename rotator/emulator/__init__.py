"""Local HTTPS stand-ins for Microsoft Graph (API connectors, B2C key sets), Azure Key Vault and the
MI endpoint.

::

    from rotator.emulator import Emulator

    with Emulator() as emu:
        emu.vault.add_secret_version("api-password", "s3cret")
        connector_id = emu.graph.add_connector(username="api")
        keyset_id = emu.keysets.create_keyset("RestApiPassword")  # B2C_1A_RestApiPassword
        os.environ.update(emu.env())
"""

from rotator.emulator.app import Emulator
from rotator.emulator.graph import CertificateEntry, ConnectorSnapshot
from rotator.emulator.keysets import KeySetSnapshot, PolicyKey
from rotator.emulator.server import JournalEntry

__all__ = [
    "CertificateEntry",
    "ConnectorSnapshot",
    "Emulator",
    "JournalEntry",
    "KeySetSnapshot",
    "PolicyKey",
]
