"""The one exception tree of rotator; every message says what, where and what to do, never a secret.

::

    RotatorError
    ├── ConfigurationError      settings or targets are wrong; nothing was called (exit code 2)
    ├── CredentialError         the credential in Key Vault is unusable; nothing was sent ("refused")
    │   └── ApiRejectedError    the connector's API refuses the new credential; nothing was sent
    ├── KeyVaultError           a Key Vault call failed (status, code)                    ("failed")
    ├── GraphError              a Graph call failed (status, code, request_id)            ("failed")
    ├── VerificationError       Graph did not confirm the change after it was written   ("failed")
    ├── ProbeError              the connector's API could not be asked (no answer, refused address)
    ├── StateError              the state store failed, or a connector's record in it is damaged
    └── RotationInProgressError another caller holds this connector's lease; nothing done

Adapters translate SDK and httpx exceptions into these at the edge, always with ``raise … from``.
"""

from __future__ import annotations

import datetime as dt


class RotatorError(Exception):
    """Base of every error rotator raises on purpose."""


class ConfigurationError(RotatorError):
    """The settings or the targets file is wrong; raised before any network call."""


class CredentialError(RotatorError):
    """The credential in Key Vault failed validation (corrupt, expired, weak, mismatched...)."""


class ApiRejectedError(CredentialError):
    """The connector's own API rejects the new credential: switching B2C to it would break the
    user flow ("refused")."""


class ProbeError(RotatorError):
    """The probe could not tell whether the API accepts the credential (no answer, a redirect, the
    API's own certificate not trusted) or was not allowed to ask (a private address) ("failed")."""


class KeyVaultError(RotatorError):
    """A Key Vault call failed; ``status`` and ``code`` come from the service when it answered."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphError(RotatorError):
    """A Microsoft Graph call failed; carries Graph's ``request-id`` for Microsoft support."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        may_have_landed: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.may_have_landed = may_have_landed  # a write whose fate is unknown (timeout, 5xx)


class VerificationError(RotatorError):
    """Graph accepted the write but a follow-up GET did not show the new credential."""


class StateError(RotatorError):
    """The state store failed, or a connector's record in it is damaged ("failed"; only that
    connector)."""


class RotationInProgressError(RotatorError):
    """Another caller holds the lease of this connector; nothing was done.

    ``held_since`` (when the store knows it), ``holder`` and ``release`` (how an operator frees
    a lease whose holder is gone) let the caller tell a normal wait from a stuck lease.
    """

    def __init__(
        self,
        message: str,
        *,
        held_since: dt.datetime | None = None,
        holder: str | None = None,
        release: str | None = None,
        infinite: bool = False,
    ) -> None:
        super().__init__(message)
        self.held_since = held_since
        self.holder = holder
        self.release = release
        self.infinite = infinite  # a lease without an end, which rotator never takes


def one_line(text: object) -> str:
    """An SDK message folded to one line, without azure-identity's boilerplate lines."""
    skip = ("To mitigate", "Attempted credentials:", "Content:", "Code:", "Message:")
    lines = [line.strip() for line in str(text).splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(skip))
