"""Pure decisions: which Key Vault version to use, whether a connector is behind, what Graph must show.

Every function takes ``now`` and touches no network; the order of the checks is fixed and each
refusal says why.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from rotator.errors import CredentialError
from rotator.model import ConnectorState, InstallMode, VersionInfo
from rotator.text import truncate

_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def unusable_reason(version: VersionInfo, now: dt.datetime) -> str | None:
    """Why ``version`` cannot be used at ``now`` (disabled, not yet valid, expired), or None."""
    why = _unusable(version, now)
    return why[1] if why else None


def _unusable(version: VersionInfo, now: dt.datetime) -> tuple[str, str] | None:
    """(the label an error counts, the sentence) for a version unusable at ``now``, or None."""
    if not version.enabled:
        return "disabled", "disabled"
    if version.not_before and now < version.not_before:
        return "not yet valid", f"not valid before {version.not_before:%Y-%m-%d %H:%M} UTC"
    if version.expires_on and now >= version.expires_on:
        return "expired", f"expired on {version.expires_on:%Y-%m-%d %H:%M} UTC"
    return None


def newest_usable(versions: Iterable[VersionInfo], now: dt.datetime, *, source: str) -> VersionInfo:
    """The usable version created last; Key Vault's list order means nothing, so sort by ``created``.

    Raises:
        CredentialError: no version is usable; the message counts why each was rejected.
    """
    listed = list(versions)
    usable = usable_newest_first(listed, now)
    if usable:
        return usable[0]
    if not listed:
        raise CredentialError(f"{source} has no versions in Key Vault")
    reasons = Counter(why[0] for v in listed if (why := _unusable(v, now)))
    summary = ", ".join(f"{count} {label}" for label, count in sorted(reasons.items()))
    raise CredentialError(
        f"{source} has no usable version ({summary}); add a valid version in Key Vault"
    )


def usable_newest_first(versions: Iterable[VersionInfo], now: dt.datetime) -> list[VersionInfo]:
    """The usable versions, newest created first (an empty list when none is usable)."""
    usable = [v for v in versions if unusable_reason(v, now) is None]
    return sorted(usable, key=lambda v: (v.created_on or _EPOCH, v.version), reverse=True)


def pinned_version(
    versions: Iterable[VersionInfo], version: str, now: dt.datetime, *, source: str
) -> VersionInfo:
    """The version an operator pinned (a rollback), if it exists and is usable now.

    Raises:
        CredentialError: the version does not exist, or is disabled, expired or not yet valid.
    """
    wanted = version.strip().lower()
    match = next((v for v in versions if v.version.lower() == wanted), None)
    if match is None:
        raise CredentialError(f"{source} has no version {truncate(version)!r} in Key Vault")
    if reason := unusable_reason(match, now):
        raise CredentialError(f"{source} version {match.version} cannot be used: {reason}")
    return match


def certificate_in_sync(connector: ConnectorState, thumbprint: str, mode: InstallMode) -> bool:
    """Whether the connector already holds ``thumbprint`` the way ``mode`` installs it.

    replace: it is the only certificate. overlap: it is in the list.
    """
    if connector.auth_type != "certificate":
        return False
    held = tuple(t.upper() for t in connector.thumbprints)
    if mode is InstallMode.REPLACE:
        return held == (thumbprint.upper(),)
    return thumbprint.upper() in held


def check_not_shorter(
    connector: ConnectorState, new_not_after: dt.datetime, *, source: str
) -> None:
    """Refuse a certificate that expires before the one the connector uses now.

    Raises:
        CredentialError: the new leaf's ``notAfter`` is earlier than the active certificate's.
    """
    active = connector.active_certificate
    if active is not None and new_not_after < active.not_after:
        raise CredentialError(
            f"{source} expires on {new_not_after:%Y-%m-%d}, before the certificate the connector "
            f"uses now ({active.thumbprint}, until {active.not_after:%Y-%m-%d}); "
            'to install it anyway use --force with --reason (HTTP: "force" with a "reason")'
        )


def certificate_mismatch(
    connector: ConnectorState,
    *,
    thumbprint: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    mode: InstallMode,
    now: dt.datetime,
) -> str | None:
    """What in Graph's answer contradicts the certificate just written, or None when it matches.

    replace: the new thumbprint is the only entry. Both modes: its ``notAfter`` matches to the
    second, and it is active once its ``notBefore`` has passed.
    """
    if connector.auth_type != "certificate":
        return f"Graph shows {connector.describe()}, not certificate authentication"
    entry = next(
        (c for c in connector.certificates if c.thumbprint.upper() == thumbprint.upper()), None
    )
    if entry is None:
        return f"Graph shows {connector.describe()}, without {thumbprint}"
    if mode is InstallMode.REPLACE and len(connector.certificates) != 1:
        return f"Graph shows {connector.describe()}; expected {thumbprint} alone"
    if abs((entry.not_after - not_after).total_seconds()) >= 1:
        return (
            f"Graph shows {thumbprint} valid until {entry.not_after:%Y-%m-%d %H:%M:%S}, "
            f"expected {not_after:%Y-%m-%d %H:%M:%S}"
        )
    if not_before <= now and not entry.is_active:
        return f"Graph shows {thumbprint} but not active"
    return None


def basic_mismatch(connector: ConnectorState, *, username: str) -> str | None:
    """What in Graph's answer contradicts a basic-auth write, or None (the password is unreadable)."""
    if connector.auth_type != "basic":
        return f"Graph shows {connector.describe()}, not basic authentication"
    if connector.username != username:
        return f"Graph shows username {connector.username!r}, expected {username!r}"
    return None


def days_until(moment: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole days from ``now`` to ``moment`` (negative once past), or None."""
    if moment is None:
        return None
    return (moment - now) // dt.timedelta(days=1)


def pending_version(
    versions: Iterable[VersionInfo], chosen: VersionInfo, now: dt.datetime
) -> VersionInfo | None:
    """For overlap mode: the newest version created after ``chosen`` that is enabled, unexpired
    and not valid yet, i.e. one to pre-stage so B2C switches to it when its notBefore passes."""
    later = [
        v
        for v in versions
        if v.enabled
        and v.not_before is not None
        and v.not_before > now
        and (v.expires_on is None or v.expires_on > now)
        and (v.created_on or _EPOCH, v.version) > (chosen.created_on or _EPOCH, chosen.version)
    ]
    return max(later, key=lambda v: (v.created_on or _EPOCH, v.version)) if later else None


def pin_outlived(
    versions: Iterable[VersionInfo], newest_at_pin: dt.datetime, now: dt.datetime
) -> VersionInfo | None:
    """A usable version created after every version that existed when the pin was set (Key Vault
    keeps whole seconds, so this compares with the newest creation time then, not the clock)."""
    newer = [
        v
        for v in versions
        if v.created_on is not None
        and v.created_on > newest_at_pin
        and unusable_reason(v, now) is None
    ]
    return max(newer, key=lambda v: (v.created_on or _EPOCH, v.version)) if newer else None


def newest_created(versions: Iterable[VersionInfo]) -> dt.datetime | None:
    """The creation time of the newest version (None when none has one)."""
    return max((v.created_on for v in versions if v.created_on), default=None)


def expired_entries(connector: ConnectorState, now: dt.datetime) -> tuple[str, ...]:
    """Thumbprints of the certificates Graph holds that have expired (overlap mode compacts them)."""
    return tuple(c.thumbprint for c in connector.certificates if c.not_after <= now)
