"""The pure decisions: newest usable version, in sync or not, what verification accepts."""

from __future__ import annotations

import datetime as dt

import pytest

from rotator import policy
from rotator.errors import CredentialError
from rotator.model import ConnectorState, GraphCertificate, InstallMode, VersionInfo

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SRC = "certificate 'c'"


def version(
    vid: str,
    *,
    created: dt.timedelta,
    enabled: bool = True,
    nbf: dt.timedelta | None = None,
    exp: dt.timedelta | None = 90 * DAY,
) -> VersionInfo:
    return VersionInfo(
        name="c",
        version=vid,
        enabled=enabled,
        created_on=NOW + created,
        not_before=NOW + nbf if nbf is not None else None,
        expires_on=NOW + exp if exp is not None else None,
        thumbprint=vid.upper() * 2,
    )


def cert(thumb: str, *, active: bool = True, until: dt.timedelta = 30 * DAY) -> GraphCertificate:
    return GraphCertificate(thumb, NOW - 10 * DAY, NOW + until, active)


def holding(*certs: GraphCertificate) -> ConnectorState:
    return ConnectorState("conn", "API", "certificate", certificates=certs)


def test_newest_usable_sorts_by_created_not_list_order() -> None:
    """Key Vault's list order means nothing: the newest created usable version wins."""
    versions = [
        version("b", created=-1 * DAY),
        version("c", created=-30 * DAY),
        version("a", created=-10 * DAY),
    ]
    assert policy.newest_usable(versions, NOW, source=SRC).version == "b"


def test_newest_usable_skips_disabled_expired_and_future_versions() -> None:
    """Disabled, expired and not-yet-valid versions are passed over even when newer."""
    versions = [
        version("old", created=-100 * DAY),
        version("disabled", created=-1 * DAY, enabled=False),
        version("future", created=-2 * DAY, nbf=5 * DAY),
        version("expired", created=-3 * DAY, exp=-1 * DAY),
    ]
    assert policy.newest_usable(versions, NOW, source=SRC).version == "old"


def test_version_without_dates_is_usable() -> None:
    """A secret without nbf/exp is usable while enabled."""
    assert (
        policy.newest_usable([version("x", created=-DAY, exp=None)], NOW, source=SRC).version == "x"
    )


def test_no_usable_version_explains_each_reason() -> None:
    """When nothing is usable the error counts why."""
    versions = [
        version("d", created=-1 * DAY, enabled=False),
        version("f", created=-2 * DAY, nbf=5 * DAY),
        version("e", created=-3 * DAY, exp=-1 * DAY),
        version("e2", created=-4 * DAY, exp=-2 * DAY),
    ]
    with pytest.raises(CredentialError) as caught:
        policy.newest_usable(versions, NOW, source=SRC)
    assert "1 disabled, 2 expired, 1 not yet valid" in str(caught.value)


def test_expiry_boundary_is_exclusive() -> None:
    """A version whose exp is exactly now is expired (nbf ≤ now < exp)."""
    assert policy.unusable_reason(version("x", created=-DAY, exp=dt.timedelta(0)), NOW)
    assert policy.unusable_reason(version("x", created=-DAY, nbf=dt.timedelta(0)), NOW) is None


def test_pinned_version_is_used_even_when_older() -> None:
    """A rollback pins an older usable version."""
    versions = [version("new", created=-DAY), version("old", created=-10 * DAY)]
    assert policy.pinned_version(versions, "OLD", NOW, source=SRC).version == "old"


def test_pinned_version_must_exist_and_be_usable() -> None:
    """Pinning a missing or disabled version is refused."""
    versions = [version("off", created=-DAY, enabled=False)]
    with pytest.raises(CredentialError, match="no version 'nope'"):
        policy.pinned_version(versions, "nope", NOW, source=SRC)
    with pytest.raises(CredentialError, match="disabled"):
        policy.pinned_version(versions, "off", NOW, source=SRC)


def test_a_missing_pinned_version_is_echoed_cut_short() -> None:
    """A 5000-character version asked for (e.g. from the CLI) is named by 200 characters."""
    with pytest.raises(CredentialError) as caught:
        policy.pinned_version([version("v1", created=-DAY)], "x" * 5000, NOW, source=SRC)
    assert "'" + "x" * 200 + "… (5000 characters)'" in str(caught.value)


def test_replace_is_in_sync_only_when_the_thumbprint_is_alone() -> None:
    """Replace mode wants exactly one certificate, the newest."""
    assert policy.certificate_in_sync(holding(cert("AA")), "aa", InstallMode.REPLACE)
    assert not policy.certificate_in_sync(
        holding(cert("AA"), cert("BB")), "AA", InstallMode.REPLACE
    )
    assert not policy.certificate_in_sync(holding(cert("BB")), "AA", InstallMode.REPLACE)


def test_overlap_is_in_sync_when_the_thumbprint_is_listed() -> None:
    """Overlap mode only needs the certificate in the list."""
    assert policy.certificate_in_sync(holding(cert("BB"), cert("AA")), "AA", InstallMode.OVERLAP)


def test_basic_connector_is_never_in_sync_with_a_certificate() -> None:
    """A connector on basic auth is behind a certificate target."""
    basic = ConnectorState("conn", "API", "basic", username="u")
    assert not policy.certificate_in_sync(basic, "AA", InstallMode.REPLACE)


def test_shorter_certificate_is_refused() -> None:
    """A new certificate expiring before the active one is refused unless forced."""
    with pytest.raises(CredentialError, match="--force"):
        policy.check_not_shorter(holding(cert("AA", until=60 * DAY)), NOW + 30 * DAY, source=SRC)
    policy.check_not_shorter(holding(cert("AA", until=60 * DAY)), NOW + 90 * DAY, source=SRC)
    policy.check_not_shorter(holding(cert("AA", active=False)), NOW + DAY, source=SRC)


def test_certificate_verification_accepts_exact_match() -> None:
    """A GET showing only the new thumbprint, active, with the same notAfter, verifies."""
    state = holding(GraphCertificate("AA", NOW - DAY, NOW + 30 * DAY, True))
    assert (
        policy.certificate_mismatch(
            state,
            thumbprint="aa",
            not_before=NOW - DAY,
            not_after=NOW + 30 * DAY,
            mode=InstallMode.REPLACE,
            now=NOW,
        )
        is None
    )


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        (ConnectorState("conn", "API", "basic", username="u"), "not certificate"),
        (holding(GraphCertificate("BB", NOW - DAY, NOW + 30 * DAY, True)), "without AA"),
        (
            holding(
                GraphCertificate("AA", NOW - DAY, NOW + 30 * DAY, True),
                GraphCertificate("BB", NOW - DAY, NOW + 30 * DAY, False),
            ),
            "alone",
        ),
        (holding(GraphCertificate("AA", NOW - DAY, NOW + 31 * DAY, True)), "valid until"),
        (holding(GraphCertificate("AA", NOW - DAY, NOW + 30 * DAY, False)), "not active"),
    ],
)
def test_certificate_verification_reports_what_graph_shows(
    state: ConnectorState, fragment: str
) -> None:
    """Every way Graph can disagree is reported with what it showed."""
    problem = policy.certificate_mismatch(
        state,
        thumbprint="AA",
        not_before=NOW - DAY,
        not_after=NOW + 30 * DAY,
        mode=InstallMode.REPLACE,
        now=NOW,
    )
    assert problem is not None
    assert fragment in problem


def test_future_certificate_may_be_inactive_in_overlap() -> None:
    """A pre-staged certificate is not active until its notBefore: that is not a failure."""
    state = holding(cert("OLD"), GraphCertificate("AA", NOW + DAY, NOW + 90 * DAY, False))
    assert (
        policy.certificate_mismatch(
            state,
            thumbprint="AA",
            not_before=NOW + DAY,
            not_after=NOW + 90 * DAY,
            mode=InstallMode.OVERLAP,
            now=NOW,
        )
        is None
    )


def test_basic_verification_checks_type_and_username() -> None:
    """Basic auth verifies by type and username (the password cannot be read back)."""
    assert (
        policy.basic_mismatch(ConnectorState("c", None, "basic", username="u"), username="u")
        is None
    )
    problem = policy.basic_mismatch(ConnectorState("c", None, "basic", username="x"), username="u")
    assert problem is not None
    assert "'x'" in problem
    assert policy.basic_mismatch(holding(cert("AA")), username="u") is not None


def test_days_until_rounds_down_and_goes_negative() -> None:
    """Days to expiry count whole days and turn negative once past."""
    assert policy.days_until(NOW + 30 * DAY + dt.timedelta(hours=5), NOW) == 30
    assert policy.days_until(NOW - dt.timedelta(hours=1), NOW) == -1
    assert policy.days_until(None, NOW) is None
