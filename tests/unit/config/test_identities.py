"""Graph identities in ROTATOR_CONFIG: each checked before any call; settings per identity."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from rotator.config.identities import GraphCredentialMode, parse_identities
from rotator.config.settings import Settings
from rotator.errors import ConfigurationError

VAULT = "https://kv.vault.azure.net"
TENANT, CLIENT, OBJECT = (str(uuid.uuid4()) for _ in range(3))
CERT_APP = {
    "credential": "client-certificate",
    "tenantId": TENANT,
    "clientId": CLIENT,
    "clientCertificate": "graph-app",
}


def error_of(identities: Any) -> str:
    with pytest.raises(ConfigurationError) as raised:
        parse_identities(identities, default_vault=VAULT)
    return str(raised.value)


def test_a_client_certificate_identity_takes_the_top_level_vault_and_defaults() -> None:
    """Unset optional keys fall back: the top-level vault, 7 grace days, no keep-alive."""
    (identity,) = parse_identities({"b2c-prod": CERT_APP}, default_vault=VAULT)
    assert identity.name == "b2c-prod"
    assert identity.credential is GraphCredentialMode.CLIENT_CERTIFICATE
    assert (identity.tenant_id, identity.client_id) == (TENANT, CLIENT)
    assert identity.client_certificate == "graph-app"
    assert identity.key_vault_url == VAULT
    assert (identity.keep_alive, identity.keep_alive_grace_days) == (False, 7)
    assert identity.max_parallel is None


@pytest.mark.parametrize(
    ("identities", "message"),
    [
        ([], "'identities' must be a non-empty object"),
        ({}, "'identities' must be a non-empty object"),
        ({"bad name!": CERT_APP}, "is not an identity name"),
        ({"x": {"credential": "magic"}}, "identities.x: credential must be default"),
        ({"x": {**CERT_APP, "colour": "red"}}, "identities.x: unknown key 'colour'"),
        ({"x": {**CERT_APP, "tenantId": "common"}}, "identities.x: tenantId is not a tenant"),
        ({"x": {**CERT_APP, "clientId": "app"}}, "identities.x: clientId is not an application"),
        ({"x": {**CERT_APP, "clientCertificate": "a b"}}, "clientCertificate must be the name"),
        ({"x": {**CERT_APP, "clientSecret": "s"}}, "clientSecret does not apply"),
        ({"x": {"credential": "default", "tenantId": TENANT}}, "tenantId does not apply"),
        ({"x": {**CERT_APP, "keepAlive": True}}, "keepAlive needs applicationObjectId"),
        ({"x": {**CERT_APP, "keepAlive": "yes"}}, "keepAlive must be true or false"),
        ({"x": {**CERT_APP, "applicationObjectId": "o"}}, "applicationObjectId must be a GUID"),
        ({"x": {**CERT_APP, "keepAliveGraceDays": 400}}, "keepAliveGraceDays must be a whole"),
        ({"x": {**CERT_APP, "maxParallel": 0}}, "maxParallel must be a whole number from 1"),
        ({"x": {**CERT_APP, "apiVersion": "v2"}}, "apiVersion must be one of beta, v1.0"),
        ({"x": {**CERT_APP, "graphEndpoint": "http://g"}}, "graphEndpoint"),
    ],
)
def test_a_wrong_identity_is_named_with_its_key(identities: Any, message: str) -> None:
    """Each mistake is a configuration error naming the identity and the key."""
    assert message in error_of(identities)


def test_keep_alive_identity_parses_with_its_object_id_and_grace() -> None:
    """keepAlive with applicationObjectId and keepAliveGraceDays 0 (remove at once)."""
    entry = {**CERT_APP, "keepAlive": True, "applicationObjectId": OBJECT, "keepAliveGraceDays": 0}
    (identity,) = parse_identities({"p": entry}, default_vault=VAULT)
    assert (identity.keep_alive, identity.application_object_id) == (True, OBJECT)
    assert identity.keep_alive_grace_days == 0


def test_two_identities_keeping_one_application_alive_are_refused() -> None:
    """keepAlive twice for one application (tenant and client id, in any case) would make the
    two identities add and remove each other's keys: refused, both named."""
    keeper = {**CERT_APP, "keepAlive": True, "applicationObjectId": OBJECT}
    twin = {**keeper, "tenantId": TENANT.upper(), "clientId": CLIENT.upper()}
    assert error_of({"plain": CERT_APP, "a": keeper, "other": CERT_APP, "b": twin}) == (
        "ROTATOR_CONFIG: identities.b: keepAlive is also set on identity 'a' for the same "
        "application (tenantId and clientId): set it on one of them only, or they add and "
        "remove each other's keys"
    )
    other_tenant = {**keeper, "tenantId": str(uuid.uuid4())}
    assert len(parse_identities({"a": keeper, "b": other_tenant}, default_vault=VAULT)) == 2
    other_app = {**keeper, "clientId": str(uuid.uuid4())}
    assert len(parse_identities({"a": keeper, "b": other_app}, default_vault=VAULT)) == 2
    assert len(parse_identities({"a": keeper, "b": CERT_APP}, default_vault=VAULT)) == 2


def settings_of(document: dict[str, Any], **env: str) -> Settings:
    return Settings.from_env({"ROTATOR_CONFIG": json.dumps(document), **env})


def test_settings_for_an_identity_carry_its_graph_fields() -> None:
    """for_identity gives the identity's mode, tenant, endpoint, parallelism; the rest stays."""
    document = {
        "keyVaultUrl": VAULT,
        "identities": {"p": {**CERT_APP, "maxParallel": 9, "apiVersion": "v1.0"}},
        "connectors": [
            {"id": "c1", "identity": "p", "certificate": "x"},
            {"id": "c2", "certificate": "x"},
        ],
    }
    settings = settings_of(document, ROTATOR_MAX_PARALLEL="3")
    assert settings.identity_names == ("p", "default")
    prod = settings.for_identity("p")
    assert prod.graph_credential is GraphCredentialMode.CLIENT_CERTIFICATE
    assert (prod.graph_tenant_id, prod.max_parallel, prod.graph_api_version) == (TENANT, 9, "v1.0")
    assert prod.graph_endpoint == settings.graph_endpoint
    assert settings.for_identity("default") is settings
    with pytest.raises(ConfigurationError, match="identity 'q' is not configured"):
        settings.for_identity("q")


def test_the_default_identity_is_defined_once() -> None:
    """ROTATOR_GRAPH_CREDENTIAL and identities.default cannot both define the default."""
    document = {
        "keyVaultUrl": VAULT,
        "identities": {"default": CERT_APP},
        "connectors": [{"id": "c1", "certificate": "x"}],
    }
    assert settings_of(document).for_identity("default").graph_tenant_id == TENANT
    with pytest.raises(ConfigurationError, match="both ROTATOR_GRAPH_CREDENTIAL and"):
        settings_of(
            document,
            ROTATOR_GRAPH_CREDENTIAL="client-secret",
            ROTATOR_GRAPH_TENANT_ID=TENANT,
            ROTATOR_GRAPH_CLIENT_ID=CLIENT,
            ROTATOR_GRAPH_CLIENT_SECRET="s",
        )


@pytest.mark.parametrize("connector_id", ["identity.prod", "Identity.x", "all"])
def test_reserved_connector_ids_are_refused(connector_id: str) -> None:
    """'all' (every connector over HTTP) and 'identity.*' (keep-alive's records) are reserved."""
    document = {"keyVaultUrl": VAULT, "connectors": [{"id": connector_id, "certificate": "x"}]}
    with pytest.raises(ConfigurationError) as raised:
        settings_of(document)
    assert str(raised.value) == (
        f"ROTATOR_CONFIG: connectors[0] (connector {connector_id!r}): the id is reserved ('all' "
        "means every connector in POST /api/rotate; ids starting with 'identity.' name "
        "rotator's own Graph identities in the state store)"
    )
    assert (
        settings_of({"keyVaultUrl": VAULT, "connectors": [{"id": "identity", "certificate": "x"}]})
        .targets[0]
        .connector_id
        == "identity"
    )
