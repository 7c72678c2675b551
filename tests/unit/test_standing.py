"""Attention: one word per target, computed once for the CLI, the JSON, HTTP and the page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rotator.model import CredentialKind, TargetKind
from rotator.standing import Attention, LastOutcome, StatusReport, TargetStatus, attention_of

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)


def status(**overrides: Any) -> TargetStatus:
    values: dict[str, Any] = {
        "connector_id": "c1",
        "kind": CredentialKind.CERTIFICATE,
        "key_vault_object": "api-cert",
        "in_sync": True,
        "expires_on": NOW + dt.timedelta(days=90),
        "days_to_expiry": 90,
    }
    values.update(overrides)
    return TargetStatus(**values)


def last(outcome: str) -> LastOutcome:
    return LastOutcome(outcome, "2026-12-01T10:00:00Z", reason="why", trigger="timer")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"in_sync": None, "error": "Graph answered 403"}, Attention.FAILING),
        ({"in_sync": None, "last_outcome": last("rotated")}, Attention.FAILING),
        ({"in_sync": False, "last_outcome": last("failed")}, Attention.FAILING),
        ({"in_sync": False, "last_outcome": last("refused")}, Attention.REFUSED),
        ({"in_sync": False, "error": "no usable version"}, Attention.REFUSED),
        ({"in_sync": False}, Attention.BEHIND),
        ({"in_sync": False, "last_outcome": last("rotated")}, Attention.BEHIND),
        ({"days_to_expiry": 29}, Attention.EXPIRING),
        ({"days_to_expiry": -1}, Attention.EXPIRING),
        ({"days_to_expiry": 30}, Attention.OK),  # the timer's rule: fewer days than the setting
        ({"deferred_until": NOW + dt.timedelta(days=2)}, Attention.DEFERRED),
        ({"last_outcome": last("deferred")}, Attention.DEFERRED),
        ({"days_to_expiry": 3, "deferred_until": NOW}, Attention.EXPIRING),
        ({"days_to_expiry": None, "expires_on": None}, Attention.OK),
        # a failure a later up-to-date run repaired (it leaves no line) asks for nothing
        ({"last_outcome": last("failed")}, Attention.OK),
        ({"last_outcome": last("refused")}, Attention.OK),
        ({}, Attention.OK),
    ],
)
def test_attention(overrides: dict[str, object], expected: Attention) -> None:
    entry = status(**overrides)
    assert entry.attention is expected
    assert attention_of(entry) is expected
    assert entry.to_json()["attention"] == expected.value


def test_the_warning_days_come_from_the_setting() -> None:
    assert status(days_to_expiry=40, warning_days=45).attention is Attention.EXPIRING
    assert status(days_to_expiry=40, warning_days=40).attention is Attention.OK
    assert attention_of(status(days_to_expiry=40), 41) is Attention.EXPIRING


def test_urgency_is_the_declared_order_and_four_need_action() -> None:
    order = [a.value for a in sorted(Attention, key=lambda a: a.urgency)]
    assert order == ["failing", "refused", "behind", "expiring", "deferred", "ok"]
    assert [a.value for a in Attention if a.needs_action] == order[:4]


def test_json_carries_display_name_last_outcome_and_attention() -> None:
    data = status(display_name="Profile enrichment API", last_outcome=last("rotated")).to_json()
    assert data["displayName"] == "Profile enrichment API"
    assert data["lastOutcome"] == {
        "outcome": "rotated",
        "at": "2026-12-01T10:00:00Z",
        "reason": "why",
        "trigger": "timer",
    }
    assert data["attention"] == "ok"
    bare = status().to_json()
    assert bare["displayName"] is None
    assert bare["lastOutcome"] is None
    key_set = status(target_kind=TargetKind.POLICY_KEY, connector_id="B2C_1A_Api").to_json()
    assert key_set["keySet"] == "B2C_1A_Api"
    assert "connectorId" not in key_set


def test_report_needs_action_only_for_the_first_four() -> None:
    calm = StatusReport((status(), status(deferred_until=NOW)))
    assert not calm.needs_action
    for urgent in (
        status(in_sync=None),
        status(in_sync=False),
        status(days_to_expiry=1),
        status(in_sync=False, error="none usable"),
    ):
        assert StatusReport((status(), urgent)).needs_action


def test_by_attention_sorts_by_urgency_then_next_expiry_then_name() -> None:
    def named(name: str, days: int | None, **more: object) -> TargetStatus:
        expires = NOW + dt.timedelta(days=days) if days is not None else None
        return status(
            connector_id=name, display_name=name, expires_on=expires, days_to_expiry=days, **more
        )

    report = StatusReport(
        (
            named("ok-late", 300),
            named("ok-none", None),
            named("b-ok-early", 100),
            named("a-ok-early", 100),
            named("behind", 200, in_sync=False),
            named("failing", None, in_sync=None),
            named("expiring", 5),
        )
    )
    assert [t.connector_id for t in report.by_attention()] == [
        "failing",
        "behind",
        "expiring",
        "a-ok-early",
        "b-ok-early",
        "ok-late",
        "ok-none",
    ]


def test_json_of_a_connector_entry_names_every_field() -> None:
    """`status --json`'s entry, whole: the names monitors and the HTTP answer rely on."""
    entry = status(
        connector_id="c9",
        kind=CredentialKind.BASIC,
        key_vault_object="api-pass",
        in_sync=False,
        graph="basic (svc)",
        graph_thumbprints=("AB", "CD"),
        target_version="v3",
        target_thumbprint="EF",
        newest_version="v4",
        applied_version="v2",
        pinned_version="v3",
        expires_on=dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        days_to_expiry=30,
        error=None,
        identity="contoso",
        tenant_id="tenant-1",
        display_name="Orders API",
        last_outcome=last("refused"),
    )
    assert entry.to_json() == {
        "targetKind": "connector",
        "connectorId": "c9",
        "kind": "basic",
        "keyVaultObject": "api-pass",
        "inSync": False,
        "graph": "basic (svc)",
        "graphThumbprints": ["AB", "CD"],
        "targetKeyVaultVersion": "v3",
        "targetThumbprint": "EF",
        "newestKeyVaultVersion": "v4",
        "appliedKeyVaultVersion": "v2",
        "pinnedKeyVaultVersion": "v3",
        "expiresOn": "2027-01-02T03:04:05Z",
        "daysToExpiry": 30,
        "error": None,
        "identity": "contoso",
        "tenantId": "tenant-1",
        "displayName": "Orders API",
        "lastOutcome": {
            "outcome": "refused",
            "at": "2026-12-01T10:00:00Z",
            "reason": "why",
            "trigger": "timer",
        },
        "attention": "refused",
    }


def test_json_of_a_waiting_key_set_adds_its_keys_and_the_wait() -> None:
    """A key set's entry adds keyCount, activeKid and activeX5t; a wait adds deferredUntil."""
    data = status(
        target_kind=TargetKind.POLICY_KEY,
        connector_id="B2C_1A_Api",
        deferred_until=dt.datetime(2026, 12, 5, 6, 0, tzinfo=dt.UTC),
        key_count=3,
        active_kid="kid-2",
        active_x5t="x5t-2",
    ).to_json()
    assert data["deferredUntil"] == "2026-12-05T06:00:00Z"
    assert (data["keyCount"], data["activeKid"], data["activeX5t"]) == (3, "kid-2", "x5t-2")
    assert set(data) - set(status().to_json()) == {
        "keySet",
        "deferredUntil",
        "keyCount",
        "activeKid",
        "activeX5t",
    }
    assert "deferredUntil" not in status().to_json()


def test_report_json_lists_every_entry_in_configuration_order() -> None:
    first, second = status(connector_id="b"), status(connector_id="a", in_sync=False)
    report = StatusReport((first, second))
    assert report.to_json() == {"targets": [first.to_json(), second.to_json()]}
    assert not report.ok
    assert StatusReport((first,)).ok
