"""The pure parts of ``history`` for every target: --since and --limit read, lines cut newest
first, hostile times kept out of a --since window, the merged list rendered on one line each."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from rotator.faces.history import FleetHistory, HistoryLine, newest_first, parse_limit, parse_since
from rotator.faces.render import render_fleet_history
from rotator.model import TargetKind
from rotator.state.records import HistoryEntry

OLD = HistoryEntry("2026-11-01T00:00:00Z", "timer", "rotated", "v1")
NEW = HistoryEntry("2026-12-01T09:30:00Z", "cli", "failed", "v2", reason="boom", requested_by="ops")
BROKEN = HistoryEntry("not a time", "cli", "failed")


def test_since_reads_a_date_as_midnight_utc_and_a_datetime_in_its_zone() -> None:
    """A date is midnight UTC; a naive datetime is UTC; an offset is converted to UTC."""
    assert parse_since("2026-12-01") == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert parse_since("2026-12-01T08:00:00") == dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    assert parse_since("2026-12-01T08:00:00+02:00") == dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)
    assert parse_since("2026-12-01T08:00:00Z") == dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "", "2026-12-01T25:00"])
def test_since_refuses_what_is_not_an_iso_date(text: str) -> None:
    """Anything else is a usage error that quotes the value."""
    with pytest.raises(argparse.ArgumentTypeError, match="is not an ISO date or datetime"):
        parse_since(text)


@pytest.mark.parametrize("text", ["0", "-1", "ten", "1.5"])
def test_limit_is_a_whole_number_of_at_least_one(text: str) -> None:
    """--limit 0, negative or not a number is refused."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_limit(text)
    assert parse_limit("7") == 7


def test_newest_first_cuts_by_since_then_limit() -> None:
    """Stored oldest first, shown newest first; --since keeps later lines; --limit the newest."""
    entries = (OLD, NEW)
    assert newest_first(entries, since=None, limit=None) == [NEW, OLD]
    assert newest_first(entries, since=None, limit=1) == [NEW]
    assert newest_first(entries, since=parse_since("2026-11-15"), limit=None) == [NEW]


def test_an_unreadable_time_is_never_inside_a_since_window() -> None:
    """A stored line whose time cannot be read is shown without --since, left out with it."""
    assert newest_first((BROKEN,), since=None, limit=None) == [BROKEN]
    assert newest_first((BROKEN,), since=parse_since("2000-01-01"), limit=None) == []


def test_the_merged_list_names_each_target_and_escapes_what_the_store_holds() -> None:
    """One line per entry with the target's id and display name; a hostile reason stays on
    its line; the last line counts what is shown."""
    hostile = HistoryEntry("2026-12-02T00:00:00Z", "http", "refused", None, reason="x\nFORGED")
    history = FleetHistory(
        (
            HistoryLine(TargetKind.CONNECTOR, "c1", hostile, "Orders\x1b[31m"),
            HistoryLine(TargetKind.POLICY_KEY, "B2C_1A_K", NEW, "B2C_1A_K"),
        ),
        targets=3,
        limit=50,
    )
    lines = render_fleet_history(history).splitlines()
    assert lines[0].startswith('2026-12-02T00:00:00Z  refused    c1  "Orders\\x1b[31m"  http  -')
    assert lines[1].strip() == "x\\nFORGED"
    assert lines[2].startswith("2026-12-01T09:30:00Z  failed     key set B2C_1A_K  cli  v2 by ops")
    assert lines[-1] == "2 line(s) of 3 target(s)"
    assert history.to_json()["entries"][1]["keySet"] == "B2C_1A_K"
