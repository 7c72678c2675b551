"""The pure decisions: newest usable version, in sync or not, what verification accepts."""

from __future__ import annotations

import datetime as dt

import pytest

from rotator.errors import CredentialError
from rotator.model import ConnectorState, GraphCertificate, InstallMode, VersionInfo
from rotator.steps import policy

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


# -- boundaries and messages pinned by mutation testing (./dev mutate) ---------------------


def test_no_versions_at_all_says_so() -> None:
    """An object without versions is refused with a sentence naming it."""
    with pytest.raises(CredentialError) as caught:
        policy.newest_usable([], NOW, source=SRC)
    assert str(caught.value) == "certificate 'c' has no versions in Key Vault"


def test_no_usable_version_message_is_exact() -> None:
    """The refusal counts the reasons in a fixed order and says what to do."""
    versions = [
        version("f", created=-2 * DAY, nbf=5 * DAY),
        version("d", created=-1 * DAY, enabled=False),
    ]
    with pytest.raises(CredentialError) as caught:
        policy.newest_usable(versions, NOW, source=SRC)
    assert str(caught.value) == (
        "certificate 'c' has no usable version (1 disabled, 1 not yet valid); "
        "add a valid version in Key Vault"
    )


def test_unusable_reasons_are_sentences_with_the_dates() -> None:
    """Each reason a version is unusable names the date that makes it so."""
    assert policy.unusable_reason(version("x", created=-DAY, enabled=False), NOW) == "disabled"
    assert (
        policy.unusable_reason(version("x", created=-DAY, nbf=DAY), NOW)
        == "not valid before 2026-11-28 12:00 UTC"
    )
    assert (
        policy.unusable_reason(version("x", created=-DAY, exp=-DAY), NOW)
        == "expired on 2026-11-26 12:00 UTC"
    )


def test_pinning_an_unusable_version_names_it_and_why() -> None:
    """A rollback to an expired version is refused with the version and the reason."""
    versions = [version("old", created=-9 * DAY, exp=-DAY)]
    with pytest.raises(CredentialError) as caught:
        policy.pinned_version(versions, " OLD ", NOW, source=SRC)
    assert str(caught.value) == (
        "certificate 'c' version old cannot be used: expired on 2026-11-26 12:00 UTC"
    )


def test_shorter_certificate_message_names_both_dates_and_the_fix() -> None:
    """The refusal of a shorter certificate names the active one and --force."""
    with pytest.raises(CredentialError) as caught:
        policy.check_not_shorter(holding(cert("AA", until=60 * DAY)), NOW + 30 * DAY, source=SRC)
    assert str(caught.value) == (
        "certificate 'c' expires on 2026-12-27, before the certificate the connector uses now "
        "(AA, until 2027-01-26); to install it anyway use --force with --reason "
        '(HTTP: "force" with a "reason")'
    )


def test_a_certificate_expiring_with_the_active_one_is_not_shorter() -> None:
    """The same notAfter as the active certificate is accepted (only an earlier one is refused)."""
    policy.check_not_shorter(holding(cert("AA", until=60 * DAY)), NOW + 60 * DAY, source=SRC)


def mismatch(
    state: ConnectorState, *, not_after: dt.datetime, not_before: dt.datetime
) -> str | None:
    return policy.certificate_mismatch(
        state,
        thumbprint="AA",
        not_before=not_before,
        not_after=not_after,
        mode=InstallMode.OVERLAP,
        now=NOW,
    )


def test_a_not_after_one_second_off_is_a_mismatch() -> None:
    """Graph's notAfter must match to the second: one second off is reported, half a second is not."""
    until = NOW + 30 * DAY
    second = dt.timedelta(seconds=1)
    off = holding(GraphCertificate("AA", NOW - DAY, until + second, True))
    assert mismatch(off, not_after=until, not_before=NOW - DAY) == (
        "Graph shows AA valid until 2026-12-27 12:00:01, expected 2026-12-27 12:00:00"
    )
    close = holding(GraphCertificate("AA", NOW - DAY, until + second / 2, True))
    assert mismatch(close, not_after=until, not_before=NOW - DAY) is None


def test_a_certificate_valid_from_now_must_be_active() -> None:
    """A certificate whose notBefore is exactly now must already show as active."""
    until = NOW + 30 * DAY
    inactive = holding(GraphCertificate("AA", NOW, until, False))
    assert mismatch(inactive, not_after=until, not_before=NOW) == "Graph shows AA but not active"


def test_a_certificate_expiring_now_is_an_expired_entry() -> None:
    """Overlap compaction counts a certificate whose notAfter is now as expired, not a later one."""
    state = holding(
        cert("NOW", until=dt.timedelta(0)), cert("LATER", until=dt.timedelta(seconds=1))
    )
    assert policy.expired_entries(state, NOW) == ("NOW",)


def test_newest_created_is_none_without_creation_times() -> None:
    """The newest creation time is the latest one, or None when no version has one."""
    undated = VersionInfo("c", "x", True, None)
    assert policy.newest_created([undated]) is None
    assert policy.newest_created([]) is None
    versions = [version("a", created=-2 * DAY), undated, version("b", created=-DAY)]
    assert policy.newest_created(versions) == NOW - DAY


CHOSEN = version("m", created=-5 * DAY)


def test_pending_is_the_newest_future_version_created_after_the_chosen_one() -> None:
    """Of two future versions created after the chosen one, the later created is pre-staged."""
    # names sort against creation order, so only the creation time can pick the right one
    later = version("a", created=-DAY, nbf=3 * DAY, exp=None)
    earlier = version("z", created=-2 * DAY, nbf=2 * DAY)
    assert policy.pending_version([earlier, CHOSEN, later], CHOSEN, NOW) == later


@pytest.mark.parametrize(
    "candidate",
    [
        version("p", created=-DAY, nbf=DAY, enabled=False),  # disabled
        version("p", created=-DAY),  # valid already: nothing to pre-stage
        version("p", created=-DAY, nbf=dt.timedelta(0)),  # valid from now
        version("p", created=-DAY, nbf=2 * DAY, exp=dt.timedelta(0)),  # expires now
        version("p", created=-9 * DAY, nbf=DAY),  # created before the chosen version
    ],
)
def test_what_is_not_pre_staged(candidate: VersionInfo) -> None:
    """Disabled, already valid, expiring or older versions are never pre-staged."""
    assert policy.pending_version([CHOSEN, candidate], CHOSEN, NOW) is None


def test_the_chosen_version_is_never_its_own_pending() -> None:
    """Even a future-dated chosen version (a pin) is not proposed again as the pre-stage."""
    future = version("f", created=-DAY, nbf=DAY)
    assert policy.pending_version([future], future, NOW) is None


def test_pin_outlived_by_the_newest_later_version() -> None:
    """A pin gives way to the newest usable version created after the pin's newest version."""
    pinned_at = NOW - 3 * DAY
    newest = version("a", created=-DAY)
    middle = version("z", created=-2 * DAY)
    unusable = version("y", created=-dt.timedelta(hours=1), enabled=False)
    old = version("b", created=-4 * DAY)
    assert policy.pin_outlived([middle, newest, unusable, old], pinned_at, NOW) == newest
    assert policy.pin_outlived([old], pinned_at, NOW) is None
