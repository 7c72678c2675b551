"""rotator: keep Microsoft Graph API connectors on the newest credential held in Azure Key Vault."""

from rotator.errors import (
    ConfigurationError,
    CredentialError,
    GraphError,
    KeyVaultError,
    RotationInProgressError,
    RotatorError,
    VerificationError,
)

__all__ = [
    "ConfigurationError",
    "CredentialError",
    "GraphError",
    "KeyVaultError",
    "RotationInProgressError",
    "RotatorError",
    "VerificationError",
]
__version__ = "0.1.0"
