"""Triggers and reports for policy keys: the HTTP body's keySet, Key Vault events, targetKind."""

from __future__ import annotations

import json

import pytest

from rotator.functions.triggers import (
    KeyVaultEvent,
    RequestError,
    parse_keyvault_event,
    parse_rotate_request,
    targets_for_event,
)
from rotator.model import (
    CertificateTarget,
    CredentialKind,
    Outcome,
    PolicyKeyTarget,
    TargetKind,
    TargetOutcome,
)
from rotator.standing import TargetStatus

VAULT = "https://kv.vault.azure.net"
KEYS = ["B2C_1A_Pw"]


def rotate(body: dict[str, object], keys: list[str] = KEYS) -> object:
    return parse_rotate_request(json.dumps(body).encode(), {}, ["c1"], keys)


def test_key_set_selects_one_policy_key() -> None:
    """{"keySet": id} names that key set and no connector."""
    request = parse_rotate_request(b'{"keySet": "B2C_1A_Pw", "dryRun": true}', {}, ["c1"], KEYS)
    assert request.key_sets == ("B2C_1A_Pw",)
    assert request.connector_ids == ()
    assert request.dry_run is True


def test_key_set_with_a_version_is_a_single_target() -> None:
    """A pin needs one target: a key set is one."""
    body = {"keySet": "B2C_1A_Pw", "version": "a" * 32, "force": True, "reason": "roll back"}
    request = parse_rotate_request(json.dumps(body).encode(), {}, ["c1"], KEYS)
    assert request.version == "a" * 32


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"keySet": "B2C_1A_Other"}, 404, "is not configured"),
        ({"keySet": "RestApi"}, 400, "is not a key set id"),
        ({"keySet": "B2C_1A_Pw", "connectorId": "c1"}, 400, "not both"),
    ],
)
def test_a_wrong_key_set_is_refused_naming_the_field(
    body: dict[str, object], status: int, text: str
) -> None:
    """Unknown (404), malformed (400), or beside connectorId (400): field keySet."""
    with pytest.raises(RequestError, match=text) as caught:
        parse_rotate_request(json.dumps(body).encode(), {}, ["c1"], KEYS)
    assert caught.value.status == status
    assert caught.value.field == "keySet"


def test_without_policy_keys_key_set_is_an_unknown_field() -> None:
    """Nothing changes without policyKeys: keySet is not a field then."""
    with pytest.raises(RequestError, match="unknown field 'keySet'"):
        parse_rotate_request(b'{"keySet": "B2C_1A_Pw"}', {}, ["c1"], [])


def event(kind: str, name: str) -> KeyVaultEvent:
    return parse_keyvault_event(
        event_id="e",
        event_type=f"Microsoft.KeyVault.{kind.capitalize()}NewVersionCreated",
        data={"Id": f"{VAULT}/{kind}s/{name}/{'a' * 32}"},
    )


def test_key_vault_events_reach_the_policy_keys_bound_to_the_object() -> None:
    """A certificate event → certificate targets of both kinds; a secret event → secret ones."""
    cert_key = PolicyKeyTarget("B2C_1A_C", VAULT, "shared", CredentialKind.CERTIFICATE)
    secret_key = PolicyKeyTarget("B2C_1A_S", VAULT, "shared", CredentialKind.SECRET)
    connector = CertificateTarget("c1", VAULT, "shared")
    targets = (connector, cert_key, secret_key)
    assert targets_for_event(targets, event("certificate", "shared")) == (connector, cert_key)
    assert targets_for_event(targets, event("secret", "SHARED")) == (secret_key,)


def test_a_connectors_outcome_gains_target_kind_and_nothing_else() -> None:
    """targetKind "connector" first, then exactly the fields it always had."""
    outcome = TargetOutcome("c1", CredentialKind.BASIC, Outcome.UP_TO_DATE, "pw")
    document = outcome.to_json()
    assert list(document)[:2] == ["targetKind", "connectorId"]
    assert document["targetKind"] == "connector"
    assert "keySet" not in document
    assert "kid" not in document


def test_a_policy_keys_outcome_and_status_carry_key_set_in_place_of_connector_id() -> None:
    """keySet, targetKind policyKey, kid; status adds keyCount, activeKid and activeX5t."""
    outcome = TargetOutcome(
        "B2C_1A_Pw",
        CredentialKind.SECRET,
        Outcome.ROTATED,
        "pw",
        target_kind=TargetKind.POLICY_KEY,
        key_id="kid-1",
    ).to_json()
    assert (outcome["targetKind"], outcome["keySet"], outcome["kid"]) == (
        "policyKey",
        "B2C_1A_Pw",
        "kid-1",
    )
    assert "connectorId" not in outcome
    status = TargetStatus(
        "B2C_1A_Pw",
        CredentialKind.SECRET,
        "pw",
        in_sync=True,
        target_kind=TargetKind.POLICY_KEY,
        key_count=3,
        active_kid="kid-1",
    ).to_json()
    assert (status["keySet"], status["keyCount"], status["activeKid"]) == ("B2C_1A_Pw", 3, "kid-1")
    connector = TargetStatus("c1", CredentialKind.BASIC, "pw", in_sync=True).to_json()
    assert "keyCount" not in connector
    assert connector["targetKind"] == "connector"
