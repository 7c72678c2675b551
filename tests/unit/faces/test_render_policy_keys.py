"""Reports that hold policy keys: the text names key sets and sums them up on their own line,
the status page counts them; a report of connectors only reads as before."""

from __future__ import annotations

import datetime as dt

from rotator.faces.render import render_report, render_status
from rotator.faces.render_html import PageTarget, StatusPage, render_status_page
from rotator.model import CredentialKind, Outcome, RotationReport, TargetKind, TargetOutcome
from rotator.standing import StatusReport, TargetStatus

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
CONNECTOR = TargetOutcome("c1", CredentialKind.BASIC, Outcome.ROTATED, "pw")
KEY = TargetOutcome(
    "B2C_1A_Pw",
    CredentialKind.SECRET,
    Outcome.UP_TO_DATE,
    "kspw",
    target_kind=TargetKind.POLICY_KEY,
    key_id="kid-1",
)


def test_a_connectors_only_report_keeps_its_one_summary_line() -> None:
    """Without policy keys the summary is the connectors' line, as before."""
    text = render_report(RotationReport((CONNECTOR,)))
    assert text.splitlines()[-1] == "1 connector(s): 1 rotated"


def test_key_sets_are_named_and_summed_up_on_their_own_line() -> None:
    """``key set ID`` in the block, its kid, and one summary line per kind."""
    lines = render_report(RotationReport((CONNECTOR, KEY))).splitlines()
    assert "up-to-date  key set B2C_1A_Pw  (secret)" in lines
    assert "            kid        kid-1" in lines
    assert lines[-2:] == ["1 connector(s): 1 rotated", "1 key set(s): 1 up-to-date"]
    only_keys = render_report(RotationReport((KEY,))).splitlines()
    assert only_keys[-1] == "1 key set(s): 1 up-to-date"


def test_status_names_the_key_set() -> None:
    """The status text labels a policy key as a key set."""
    status = TargetStatus(
        "B2C_1A_Pw", CredentialKind.SECRET, "kspw", True, target_kind=TargetKind.POLICY_KEY
    )
    assert "ok          key set B2C_1A_Pw  (secret: kspw)" in render_status(StatusReport((status,)))


def test_the_status_page_counts_policy_key_sets() -> None:
    """The page's line says how many connectors and key sets it shows."""
    statuses = (
        TargetStatus("c1", CredentialKind.BASIC, "pw", True),
        TargetStatus(
            "B2C_1A_Pw", CredentialKind.SECRET, "kspw", True, target_kind=TargetKind.POLICY_KEY
        ),
    )
    page = StatusPage(
        report=StatusReport(statuses),
        targets=tuple(PageTarget(s, (), ()) for s in statuses),
        now=NOW,
    )
    html = render_status_page(page)
    assert "1 connector(s), 1 policy key set(s)" in html
    assert "B2C_1A_Pw" in html
