"""Plan a policy key (pure): whether B2C's active key already is the chosen Key Vault version, and
if not, what rotator would upload (its ``nbf`` and ``exp``) and whether B2C would ever use it.

B2C uses the key with the greatest ``nbf`` that has passed (and has not expired), whatever the
upload order; keys are never removed. So a key uploaded with an older ``nbf`` than another valid
key in the set never becomes active: rotator refuses to upload it and says what to do.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from rotator.errors import CredentialError, RotatorError
from rotator.model import CredentialKind, PolicyKeyTarget, RotationRequest, VersionInfo
from rotator.state.records import ConnectorRecord, Pin


@dataclass(frozen=True)
class PolicyKey:
    """One key of a key set as Graph shows it (a JWK without ``k``, ``d`` or the primes)."""

    kid: str
    use: str | None = None  # "sig" or "enc"
    kty: str | None = None  # lower case: "rsa" or "oct"
    nbf: dt.datetime | None = None
    exp: dt.datetime | None = None
    x5t: str | None = None  # base64url SHA-1 of the certificate's DER, without padding
    status: str | None = None

    def describe(self) -> str:
        """E.g. ``key 'abc' (nbf 2026-12-01 10:00 UTC, exp 2027-12-01 10:00 UTC)``."""
        nbf = f"{self.nbf:%Y-%m-%d %H:%M} UTC" if self.nbf else "none"
        exp = f"{self.exp:%Y-%m-%d %H:%M} UTC" if self.exp else "none"
        return f"key {self.kid!r} (nbf {nbf}, exp {exp})"


@dataclass(frozen=True)
class KeySet:
    """A ``trustFrameworkKeySet``: its id and every key it holds (it only grows)."""

    key_set: str
    keys: tuple[PolicyKey, ...] = ()

    @property
    def use(self) -> str:
        """The ``use`` of the keys already there (a set holds one use), ``enc`` when empty."""
        return next((k.use for k in reversed(self.keys) if k.use), "enc")

    def by_x5t(self, x5t: str) -> PolicyKey | None:
        """The key of the certificate with that ``x5t``, if the set holds it."""
        return next((k for k in self.keys if k.x5t == x5t), None)

    def by_kid(self, kid: str) -> PolicyKey | None:
        """The key with that ``kid``, if the set holds it."""
        return next((k for k in self.keys if k.kid == kid), None)


class KeySetBlockedError(RotatorError):
    """The key set holds a key B2C would keep using instead of the new one: nothing uploaded."""


@dataclass(frozen=True)
class KeySetPlan:
    """What a policy key should hold and what an upload would add."""

    target: PolicyKeyTarget
    chosen: VersionInfo
    pin: Pin | None
    not_before: dt.datetime  # of the key to upload (a certificate: its own notBefore)
    expires: dt.datetime | None
    present: PolicyKey | None  # a certificate already in the set: never uploaded twice
    use: str  # uploadSecret's use: the set's own


def x5t_of(thumbprint: str) -> str:
    """A certificate's ``x5t`` (base64url SHA-1, no padding) from its hex thumbprint."""
    return base64.urlsafe_b64encode(bytes.fromhex(thumbprint)).decode("ascii").rstrip("=")


def uploaded_kid(target: PolicyKeyTarget, version: str, record: ConnectorRecord) -> str | None:
    """The ``kid`` B2C gave when rotator uploaded ``version`` of the target's object (the newest
    upload of it), from the state store."""
    found = [
        k.kid
        for k in record.uploaded_keys
        if k.version == version
        and k.key_vault_object == target.key_vault_object
        and k.key_vault_url.lower() == target.key_vault_url.lower()
    ]
    return found[-1] if found else None


def in_sync(
    target: PolicyKeyTarget, chosen: VersionInfo, active: PolicyKey | None, record: ConnectorRecord
) -> bool:
    """Whether B2C's active key is ``chosen``: a certificate by its ``x5t``, a secret by the
    ``kid`` the state store recorded when rotator uploaded it (a secret cannot be read back)."""
    if active is None:
        return False
    if target.kind is CredentialKind.CERTIFICATE:
        return bool(chosen.thumbprint) and active.x5t == x5t_of(chosen.thumbprint or "")
    kid = uploaded_kid(target, chosen.version, record)
    return kid is not None and active.kid == kid


def in_sync_reason(chosen: VersionInfo, active: PolicyKey, pin: Pin | None) -> str:
    """E.g. ``B2C's active key 'abc' is version 3f… (0EB2…)``."""
    held = f" ({chosen.thumbprint})" if chosen.thumbprint else ""
    text = f"the key set's active key {active.kid!r} is version {chosen.version}{held}"
    if pin is not None:
        text += f"; pinned since {pin.pinned_at}" + (f" ({pin.reason})" if pin.reason else "")
    return text


def make(
    target: PolicyKeyTarget,
    chosen: VersionInfo,
    pin: Pin | None,
    key_set: KeySet,
    request: RotationRequest,
    now: dt.datetime,
    own: frozenset[str] = frozenset(),
) -> KeySetPlan:
    """What to upload for ``chosen`` and with which dates, refused when B2C would never use it.

    A secret gets ``nbf`` = its version's notBefore (now when it has none, when pinned or
    forced, or when a key rotator uploaded itself, ``own`` kids, has a later one: a rollback,
    and the way forward after it, win by being the latest); a certificate keeps its own.

    Raises:
        CredentialError: a pinned certificate older than the key B2C uses (a rollback that
            cannot work), with what to do instead.
        KeySetBlockedError: another key in the set has a later ``nbf`` (a manual upload): B2C
            would keep it; nothing is uploaded.
        RotatorError: a certificate version Key Vault lists without a thumbprint.
    """
    where = f"key set {target.key_set}"
    present = None
    if target.kind is CredentialKind.CERTIFICATE:
        if not chosen.thumbprint or not chosen.not_before:
            raise RotatorError(f"{where}: version {chosen.version} lists no thumbprint or nbf")
        not_before = chosen.not_before
        present = key_set.by_x5t(x5t_of(chosen.thumbprint))
    elif pin is not None or request.force or chosen.not_before is None:
        not_before = now
    else:
        not_before = min(chosen.not_before, now)
    not_before = not_before.replace(microsecond=0)
    later = _later(key_set, present, not_before, now)
    if target.kind is CredentialKind.SECRET and any(k.kid in own for k in later):
        not_before = now.replace(microsecond=0)  # supersede rotator's own later upload
        later = _later(key_set, present, not_before, now)
    if later:
        blocker = max(later, key=lambda k: k.nbf or now)
        what = f"version {chosen.version}" + (
            f" (certificate {chosen.thumbprint})" if chosen.thumbprint else ""
        )
        if pin is not None and target.kind is CredentialKind.CERTIFICATE:
            raise CredentialError(
                f"{where}: the pinned {what} has notBefore {not_before:%Y-%m-%d %H:%M} UTC, "
                f"older than {blocker.describe()} in the set, so B2C would never use it (B2C "
                "uses the key with the latest notBefore that has passed); issue a new "
                "certificate version from the same key in Key Vault, or replace the key set by "
                "hand (a new set and a policy change)"
            )
        raise KeySetBlockedError(
            f"{where} holds {blocker.describe()}, later than the nbf "
            f"{not_before:%Y-%m-%d %H:%M} UTC of {what}: B2C would never switch to the new key; "
            "nothing was uploaded. If that key was uploaded by hand and should not be used, "
            "replace the key set (a new set and a policy change); otherwise let it be and "
            "add a Key Vault version valid after it"
        )
    return KeySetPlan(target, chosen, pin, not_before, chosen.expires_on, present, key_set.use)


def _later(
    key_set: KeySet, present: PolicyKey | None, not_before: dt.datetime, now: dt.datetime
) -> list[PolicyKey]:
    """The keys B2C would prefer to one with ``not_before``: a later nbf, not expired."""
    return [
        k
        for k in key_set.keys
        if k is not present
        and k.nbf is not None
        and k.nbf > not_before
        and (k.exp is None or k.exp > now)
    ]
