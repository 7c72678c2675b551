"""The ``policyKeys`` of ROTATOR_CONFIG: every mistake is a ConfigurationError naming the key set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rotator.config.settings import Settings
from rotator.errors import ConfigurationError
from rotator.model import CredentialKind, PolicyKeyTarget

VAULT = "https://contoso-kv.vault.azure.net"
URL = "https://api.contoso.com/signup/validate"
CERT = {
    "keySet": "B2C_1A_RestApiClientCertificate",
    "certificate": "api-cert",
    "probe": {"url": URL},
}
PASSWORD = {
    "keySet": "B2C_1A_RestApiPassword",
    "secret": "api-pw",
    "probe": {"url": URL, "username": "b2c-loyalty"},
}
API_KEY = {
    "keySet": "B2C_1A_LoyaltyApiKey",
    "secret": "api-key",
    "probe": {"url": URL, "apiKeyHeader": "x-functions-key"},
}


def settings(*keys: dict[str, Any], **top: Any) -> Settings:
    document = {"keyVaultUrl": VAULT, "policyKeys": list(keys), **top}
    return Settings.from_env({"ROTATOR_CONFIG": json.dumps(document), "ROTATOR_STATE_DIR": "/x"})


def error_of(*keys: dict[str, Any], **top: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings(*keys, **top)
    return str(caught.value)


def test_the_issue_example_parses_into_three_policy_key_targets() -> None:
    """A certificate, a password and an API key parse with their probe credentials."""
    parsed = settings(CERT, PASSWORD, API_KEY).policy_keys
    assert [(t.key_set, t.kind, t.key_vault_object) for t in parsed] == [
        ("B2C_1A_RestApiClientCertificate", CredentialKind.CERTIFICATE, "api-cert"),
        ("B2C_1A_RestApiPassword", CredentialKind.SECRET, "api-pw"),
        ("B2C_1A_LoyaltyApiKey", CredentialKind.SECRET, "api-key"),
    ]
    assert parsed[1].username == "b2c-loyalty"
    assert parsed[1].api_key_header is None
    assert parsed[2].api_key_header == "x-functions-key"
    assert parsed[2].username is None
    assert all(t.probe is not None and t.probe.url == URL for t in parsed)


def test_policy_keys_alone_need_no_connectors() -> None:
    """A configuration of only policy keys is valid: its connectors are none."""
    parsed = settings(CERT)
    assert parsed.targets == ()
    assert parsed.all_targets == parsed.policy_keys


def test_connectors_and_policy_keys_sit_side_by_side() -> None:
    """Connectors come first in all_targets, then the policy keys."""
    parsed = settings(CERT, connectors=[{"id": "c1", "certificate": "api-cert"}])
    assert [t.connector_id for t in parsed.targets] == ["c1"]
    assert isinstance(parsed.all_targets[1], PolicyKeyTarget)


@pytest.mark.parametrize("key_set", ["RestApi", "B2C_1A_", "B2C_1A_a b", "b2c_1a_x", 7, None])
def test_a_key_set_id_must_have_the_b2c_1a_prefix(key_set: Any) -> None:
    """keySet must be B2C_1A_ followed by letters, digits, '_' and '-'."""
    assert "is not a key set id" in error_of({**CERT, "keySet": key_set})


def test_exactly_one_of_certificate_or_secret() -> None:
    """Both, or neither, is a configuration error."""
    assert "exactly one of 'certificate' or 'secret'" in error_of({**CERT, "secret": "x"})
    no_credential = {k: v for k, v in CERT.items() if k != "certificate"}
    assert "exactly one of 'certificate' or 'secret'" in error_of(no_credential)


def test_an_unknown_key_is_refused() -> None:
    """A key the schema does not know names itself and the key set."""
    message = error_of({**CERT, "mode": "overlap"})
    assert "B2C_1A_RestApiClientCertificate" in message
    assert "'mode'" in message


def test_the_same_key_set_twice_is_refused() -> None:
    """A key set named twice (in any case) is an error before any call."""
    twin = {**CERT, "keySet": "B2C_1A_RESTAPICLIENTCERTIFICATE"}
    assert "named twice" in error_of(CERT, twin)


def test_a_probe_without_url_is_refused_even_from_the_top_level() -> None:
    """The probe's url is required: Graph does not know the technical profile's ServiceUrl."""
    assert "probe.url is required" in error_of({**CERT, "probe": {"method": "GET"}})
    bare = {k: v for k, v in CERT.items() if k != "probe"}
    assert "probe.url is required" in error_of(bare, probe={"waitSeconds": 5})


def test_the_top_level_probe_url_serves_a_policy_key() -> None:
    """A policy key without its own probe uses the top-level one, url included."""
    bare = {k: v for k, v in CERT.items() if k != "probe"}
    (target,) = settings(bare, probe={"url": URL}).policy_keys
    assert target.probe is not None
    assert target.probe.url == URL


def test_probe_false_turns_the_probe_off() -> None:
    """``"probe": false`` needs no url, username or header."""
    (target,) = settings({**PASSWORD, "probe": False}, probe={"url": URL}).policy_keys
    assert target.probe is None
    assert target.username is None


def test_a_secret_probe_needs_exactly_one_of_username_or_api_key_header() -> None:
    """A password probe needs its username; an API-key probe its header; not both."""
    assert "exactly one of probe.username" in error_of({**PASSWORD, "probe": {"url": URL}})
    both = {"url": URL, "username": "u", "apiKeyHeader": "x-key"}
    assert "exactly one of probe.username" in error_of({**PASSWORD, "probe": both})


def test_a_certificate_probe_takes_no_username() -> None:
    """username and apiKeyHeader apply to secrets only."""
    probe = {"url": URL, "username": "u"}
    assert "apply only to a secret" in error_of({**CERT, "probe": probe})


@pytest.mark.parametrize("header", ["Authorization", "bad header", "", "x-probe"])
def test_an_api_key_header_must_be_a_free_header_name(header: str) -> None:
    """The header is a token, not one rotator sets, not one probe.headers sets already."""
    probe = {"url": URL, "apiKeyHeader": header, "headers": {"x-probe": "1"}}
    assert "apiKeyHeader" in error_of({**API_KEY, "probe": probe})


def test_a_username_with_a_colon_is_refused() -> None:
    """Basic auth cannot carry ':' in the username."""
    probe = {"url": URL, "username": "a:b"}
    assert "must not contain ':'" in error_of({**PASSWORD, "probe": probe})


def test_an_identity_used_only_by_policy_keys_counts_as_used() -> None:
    """A named identity that only a policy key uses is not 'unused'."""
    identities = {"b2c": {"credential": "default"}}
    (target,) = settings({**CERT, "identity": "b2c"}, identities=identities).policy_keys
    assert target.identity == "b2c"


def test_a_policy_key_naming_an_unknown_identity_is_refused() -> None:
    """The error names the key set and the identity."""
    message = error_of({**CERT, "identity": "ghost"})
    assert "key set 'B2C_1A_RestApiClientCertificate' uses identity 'ghost'" in message


def test_a_connector_named_like_a_key_sets_state_record_is_refused() -> None:
    """'keyset.<id>' is the key set's state-store name: a connector may not take it."""
    connectors = [{"id": "keyset.B2C_1A_RestApiClientCertificate", "certificate": "c"}]
    assert "rename the connector" in error_of(CERT, connectors=connectors)


def test_a_config_without_policy_keys_has_none() -> None:
    """Nothing changes without policyKeys: the tuple is empty."""
    document = {"keyVaultUrl": VAULT, "connectors": [{"id": "c1", "certificate": "c"}]}
    parsed = Settings.from_env({"ROTATOR_CONFIG": json.dumps(document), "ROTATOR_STATE_DIR": "/x"})
    assert parsed.policy_keys == ()


def test_policy_keys_must_be_a_non_empty_list() -> None:
    """An empty or non-list policyKeys is an error."""
    document = {"keyVaultUrl": VAULT, "connectors": [{"id": "c1", "certificate": "c"}]}
    with pytest.raises(ConfigurationError, match="non-empty list"):
        Settings.from_env(
            {"ROTATOR_CONFIG": json.dumps({**document, "policyKeys": []}), "ROTATOR_STATE_DIR": "/"}
        )
