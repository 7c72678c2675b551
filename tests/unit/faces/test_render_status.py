"""The text of ``status`` and ``rotate``: the attention word first, most urgent first, the display
name beside the id, the last outcome with when, trigger and reason, a counted summary line."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rotator.faces.render import render_report, render_status
from rotator.model import CredentialKind, Outcome, RotationReport, TargetKind, TargetOutcome
from rotator.standing import LastOutcome, StatusReport, TargetStatus

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
CERT = CredentialKind.CERTIFICATE


def status(connector_id: str, in_sync: bool | None, **fields: Any) -> TargetStatus:
    return TargetStatus(connector_id, CERT, "api-cert", in_sync, **fields)


def test_the_most_urgent_target_comes_first_with_its_word_upper_cased() -> None:
    """A failing target is listed before an ok one, FAILING in capitals, ok in lower case."""
    failed = LastOutcome("failed", "2026-12-03T10:00:00Z", "Graph answered 500", "timer")
    report = StatusReport(
        (status("c-ok", True), status("c-bad", False, last_outcome=failed)),
    )
    lines = render_status(report).splitlines()
    assert lines[0].startswith("FAILING     c-bad")
    assert "ok          c-ok  (certificate: api-cert)" in lines


def test_the_display_name_stands_beside_the_id() -> None:
    """Graph's displayName is quoted beside the connector id."""
    text = render_status(StatusReport((status("c1", True, display_name="Orders API"),)))
    assert text.splitlines()[0] == 'ok          c1  "Orders API"  (certificate: api-cert)'


def test_the_last_outcome_says_when_by_which_trigger_and_why() -> None:
    """The newest history line is shown under the target: outcome, time, trigger, reason."""
    last = LastOutcome("refused", "2026-12-02T08:00:00Z", "key too short", "cli")
    text = render_status(StatusReport((status("c1", False, last_outcome=last),)))
    assert text.splitlines()[0].startswith("REFUSED     c1")
    assert "            last       refused 2026-12-02T08:00:00Z (cli): key too short" in text


def test_a_hostile_reason_or_name_cannot_break_the_line() -> None:
    """A reason or display name from the store or Graph is escaped: one line, no escape code."""
    last = LastOutcome("failed", "2026-12-02T08:00:00Z", "boom\nFAKE ok\x1b[2J", "cli")
    text = render_status(
        StatusReport((status("c1", False, last_outcome=last, display_name="A\x1b]0;x\x07"),))
    )
    assert "\x1b" not in text
    assert "\x07" not in text
    assert not any(line.startswith("FAKE") for line in text.splitlines())


def test_expiring_and_deferred_read_as_their_words() -> None:
    """In sync but expiring within the warning days is EXPIRING; a waiting certificate deferred."""
    expiring = status("c1", True, days_to_expiry=3, expires_on=NOW)
    deferred = status("c2", True, deferred_until=NOW)
    lines = render_status(StatusReport((deferred, expiring))).splitlines()
    assert lines[0].startswith("EXPIRING    c1")
    assert any(line.startswith("deferred    c2") for line in lines)


def test_the_summary_counts_each_word_of_attention() -> None:
    """The last line counts the targets by attention, most urgent first."""
    report = StatusReport((status("a", True), status("b", None), status("c", True)))
    assert render_status(report).splitlines()[-1] == "3 target(s): 1 failing, 2 ok"


def test_a_key_set_is_named_once() -> None:
    """A key set's display name is its id: it is not repeated."""
    key = TargetStatus(
        "B2C_1A_K",
        CredentialKind.SECRET,
        "kspw",
        True,
        target_kind=TargetKind.POLICY_KEY,
        display_name="B2C_1A_K",
    )
    assert render_status(StatusReport((key,))).splitlines()[0] == (
        "ok          key set B2C_1A_K  (secret: kspw)"
    )


def test_the_rotate_report_names_the_connector_by_its_display_name_too() -> None:
    """The rotate text shows the display name the run read from Graph beside the id."""
    outcome = TargetOutcome(
        "c1", CredentialKind.BASIC, Outcome.ROTATED, "pw", display_name="Orders API"
    )
    text = render_report(RotationReport((outcome,)))
    assert text.splitlines()[0] == 'rotated     c1  "Orders API"  (basic)'


def test_the_rotate_json_carries_the_display_name() -> None:
    """``rotate --json`` outcomes carry ``displayName`` (null when Graph was not read)."""
    named = TargetOutcome("c1", CredentialKind.BASIC, Outcome.ROTATED, "pw", display_name="X")
    unnamed = TargetOutcome("c2", CredentialKind.BASIC, Outcome.FAILED, "pw")
    document = RotationReport((named, unnamed)).to_json()
    assert [o["displayName"] for o in document["outcomes"]] == ["X", None]


def test_a_runs_outcome_names_a_key_set_by_its_id_and_a_connector_once_read() -> None:
    """Progress: a key set's outcome carries its id as displayName; a connector's, what the run
    read from Graph (nothing before the read)."""
    from rotator.model import BasicTarget, PolicyKeyTarget
    from rotator.steps.progress import Progress

    key = PolicyKeyTarget("B2C_1A_K", "https://kv", "kspw", CredentialKind.SECRET)
    assert Progress(key).outcome(Outcome.ROTATED, None).display_name == "B2C_1A_K"
    run = Progress(BasicTarget("b1", "https://kv", "user", "pw"))
    assert run.outcome(Outcome.FAILED, "boom").display_name is None
    run.display_name = "Orders API"
    assert run.outcome(Outcome.ROTATED, None).to_json()["displayName"] == "Orders API"
