"""Graph identities: every stray key, bound and message that mutation testing showed loose."""

from __future__ import annotations

from typing import Any

import pytest

from rotator.config.identities import parse_identities, tenant_id
from rotator.errors import ConfigurationError
from rotator.text import truncate

VAULT = "https://kv.vault.azure.net"
TENANT = "contoso.onmicrosoft.com"
GUID = "00000000-0000-0000-0000-00000000000a"
CERT_APP = {
    "credential": "client-certificate",
    "tenantId": TENANT,
    "clientId": GUID,
    "clientCertificate": "graph-app",
}
SECRET_APP = {"credential": "client-secret", "tenantId": TENANT, "clientId": GUID}
WHERE = "ROTATOR_CONFIG: identities.x"


def error_of(identities: Any, *, default_vault: str | None = VAULT) -> str:
    with pytest.raises(ConfigurationError) as raised:
        parse_identities(identities, default_vault=default_vault)
    return str(raised.value)


@pytest.mark.parametrize(
    "key",
    [
        "tenantId",
        "clientId",
        "clientCertificate",
        "clientSecret",
        "keyVaultUrl",
        "applicationObjectId",
        "keepAlive",
        "keepAliveGraceDays",
    ],
)
def test_a_default_identity_refuses_every_app_key(key: str) -> None:
    """The default chain takes no app settings: each one is named as not applying."""
    message = error_of({"x": {"credential": "default", key: "v"}})
    assert message == f"{WHERE}: {key} does not apply to credential default"


@pytest.mark.parametrize("key", ["clientCertificate", "keepAlive", "keepAliveGraceDays"])
def test_a_client_secret_identity_refuses_certificate_keys(key: str) -> None:
    """A client-secret app has no certificate to name or to keep alive."""
    message = error_of({"x": {**SECRET_APP, "clientSecret": "s", key: "v"}})
    assert message == f"{WHERE}: {key} does not apply to credential client-secret"


@pytest.mark.parametrize(
    ("identities", "message"),
    [
        (
            [],
            "ROTATOR_CONFIG: 'identities' must be a non-empty object of named identities",
        ),
        ({"x": "app"}, f"{WHERE} must be an object"),
        (
            {"x": {"tenantId": TENANT}},
            f"{WHERE}: credential must be default, client-certificate or client-secret",
        ),
        (
            {"x": {"credential": None}},
            f"{WHERE}: credential must be default, client-certificate or client-secret",
        ),
        (
            {"x": {**CERT_APP, "graphEndpoint": "http://g"}},
            f"{WHERE}: graphEndpoint: 'http://g' is not an https URL",
        ),
        (
            {"x": {**CERT_APP, "authorityHost": "https://login.example/tenant"}},
            f"{WHERE}: authorityHost must be a root URL, without a path",
        ),
        (
            {"x": {**CERT_APP, "authorityHost": "ftp://login"}},
            f"{WHERE}: authorityHost: 'ftp://login' is not an https URL",
        ),
        ({"x": {**CERT_APP, "apiVersion": "v2"}}, f"{WHERE}: apiVersion must be one of beta, v1.0"),
        (
            {"x": {**CERT_APP, "maxParallel": 65}},
            f"{WHERE}: maxParallel must be a whole number from 1 to 64",
        ),
        (
            {"x": {**CERT_APP, "keepAliveGraceDays": 366}},
            f"{WHERE}: keepAliveGraceDays must be a whole number from 0 to 365",
        ),
        (
            {"x": {**CERT_APP, "keyVaultUrl": "http://kv"}},
            f"{WHERE}: keyVaultUrl: 'http://kv' is not an https URL",
        ),
        (
            {"x": SECRET_APP},
            f"{WHERE}: clientSecret must be the name of a Key Vault object (1-127 letters, digits "
            "and '-'; the value is not shown: give the name, never the credential itself)",
        ),
        (
            {"x": {**CERT_APP, "keepAlive": True}},
            f"{WHERE}: keepAlive needs applicationObjectId (the app registration's object id, "
            "not its client id: Graph's addKey addresses the application object)",
        ),
    ],
)
def test_identity_refusals_are_exact(identities: Any, message: str) -> None:
    """Each refusal is one sentence naming the identity, the key and what is allowed."""
    assert error_of(identities) == message


def test_an_app_without_any_vault_is_refused() -> None:
    """Without its own keyVaultUrl or a top-level one, an app identity cannot read its credential."""
    assert error_of({"x": CERT_APP}, default_vault=None) == (
        f"{WHERE}: keyVaultUrl is missing (set it here or at the top level of ROTATOR_CONFIG)"
    )


def test_long_names_and_keys_are_cut_short_in_errors() -> None:
    """A long identity name or unknown key is repeated at most 60 characters long."""
    name = "bad name " * 12
    assert error_of({name: CERT_APP}) == (
        f"ROTATOR_CONFIG: identities: {truncate(name, 60)!r} is not an identity name "
        "(1-64 letters, digits, '.', '_' and '-')"
    )
    key = "k" * 100
    assert error_of({"x": {**CERT_APP, key: 1}}) == (
        f"{WHERE}: unknown key {truncate(key, 60)!r} (allowed: credential, tenantId, clientId, "
        "applicationObjectId, clientCertificate, clientSecret, keyVaultUrl, graphEndpoint, "
        "authorityHost, apiVersion, maxParallel, keepAlive, keepAliveGraceDays)"
    )


def test_the_upper_bounds_are_accepted() -> None:
    """maxParallel 64 and keepAliveGraceDays 365 are within their ranges."""
    entry = {**CERT_APP, "maxParallel": 64, "keepAliveGraceDays": 365}
    (identity,) = parse_identities({"x": entry}, default_vault=VAULT)
    assert (identity.max_parallel, identity.keep_alive_grace_days) == (64, 365)


@pytest.mark.parametrize(
    "tenant",
    [
        "contoso.onmicrosoft.com",
        "CONTOSO.onmicrosoft.com",
        "a.io",  # 4 characters, the shortest
        "login-1.contoso.co.uk",
        f"{'a' * 63}.com",  # a label of 63 characters
        f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 61}",  # 253 characters
        "00000000-0000-0000-0000-00000000000a",
        "ABCDEF01-2345-6789-abcd-ef0123456789",
    ],
)
def test_a_tenant_guid_or_domain_is_accepted(tenant: str) -> None:
    """A tenant is a GUID (either case) or a dotted domain of 4 to 253 characters."""
    assert tenant_id(tenant, "tenantId") == tenant


@pytest.mark.parametrize(
    "tenant",
    [
        "contoso",  # no dot: not a domain
        "a.b",  # 3 characters
        "contoso.c",  # a top-level domain of one letter
        "contoso.c0m",  # a digit in the top-level domain
        "contoso..com",
        ".contoso.com",
        "contoso.com.",
        "con_toso.com",
        "contoso.com/x",
        "contoso.onmicrosoft.com\n",
        f"{'a' * 64}.com",  # a label of 64 characters
        f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 62}",  # 254 characters
        "0000000-0000-0000-0000-00000000000a",  # a GUID one digit short
        "00000000-0000-0000-0000-00000000000g",
        "00000000-0000-0000-00000000000a",  # three groups
        "00000000-0000-0000-0000-0000-00000000000a",  # five groups
        "000000000000-0000-0000-00000000000a",
        "{00000000-0000-0000-0000-00000000000a}",
        "common",
        "Organizations",
        "consumers",
    ],
)
def test_anything_else_is_not_a_tenant(tenant: str) -> None:
    """A name without a dot (``contoso``), a malformed domain or GUID is refused."""
    with pytest.raises(ConfigurationError, match="tenantId is not a tenant GUID or domain"):
        tenant_id(tenant, "tenantId")


@pytest.mark.parametrize(
    "client",
    [
        "0000000-0000-0000-0000-00000000000a",
        "00000000-0000-0000-0000-00000000000g",
        "00000000-0000-0000-00000000000a",
        "00000000000000000000000000000000a",
        "contoso.onmicrosoft.com",
    ],
)
def test_a_client_id_must_be_a_guid(client: str) -> None:
    """An application (client) id that is not exactly a GUID is refused."""
    assert error_of({"x": {**CERT_APP, "clientId": client}}) == (
        f"{WHERE}: clientId is not an application (client) id, a GUID (the value is not shown)"
    )
