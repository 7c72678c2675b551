"""The Graph identity: settings of the three modes, and which credential Graph gets."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError

from rotator.azure.app_credential import KeyVaultAppCredential
from rotator.azure.credentials import graph_credential
from rotator.azure.entra import authority_options
from rotator.azure.keyvault import SecretValue
from rotator.config.settings import GraphCredentialMode, Settings
from rotator.emulator import pki
from rotator.errors import ConfigurationError, CredentialError, KeyVaultError
from rotator.model import VersionInfo

VAULT = "https://contoso-kv.vault.azure.net"
GRAPH_VAULT = "https://graph-kv.vault.azure.net"
TENANT = str(uuid.uuid4())
CLIENT = str(uuid.uuid4())
NOW = pki.utcnow()
DAY = dt.timedelta(days=1)


def env(**extra: str) -> dict[str, str]:
    document = {"keyVaultUrl": VAULT, "connectors": [{"id": "c1", "certificate": "api-cert"}]}
    return {"ROTATOR_CONFIG": json.dumps(document), "ROTATOR_STATE_DIR": "/tmp/x", **extra}


def client_mode(kind: str, **extra: str) -> dict[str, str]:
    """The settings of client-``kind`` mode (certificate 'graph-app', secret 'graph-app-secret')."""
    mode = {
        "ROTATOR_GRAPH_CREDENTIAL": f"client-{kind}",
        "ROTATOR_GRAPH_TENANT_ID": TENANT,
        "ROTATOR_GRAPH_CLIENT_ID": CLIENT,
        f"ROTATOR_GRAPH_CLIENT_{kind.upper()}": "graph-app"
        + ("-secret" if kind == "secret" else ""),
    }
    return env(**{**mode, **extra})


def certificate_mode(**extra: str) -> dict[str, str]:
    return client_mode("certificate", **extra)


def secret_mode(**extra: str) -> dict[str, str]:
    return client_mode("secret", **extra)


def error_of(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(environ)
    return str(caught.value)


def without(environ: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k != name}


@dataclass
class FakeVault:
    """A vault in memory with the reading surface of KeyVaultClient."""

    vault_url: str = GRAPH_VAULT
    certificates: dict[str, list[VersionInfo]] = field(default_factory=dict)
    secrets: dict[str, list[VersionInfo]] = field(default_factory=dict)
    values: dict[tuple[str, str], SecretValue] = field(default_factory=dict)
    reads: int = 0

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        self.reads += 1
        return list(self.certificates.get(name, []))

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        self.reads += 1
        return list(self.secrets.get(name, []))

    def get_secret(self, name: str, version: str) -> SecretValue:
        self.reads += 1
        return self.values[(name, version)]

    def add_certificate(
        self, name: str, leaf: pki.Issued, *, age: int, include_key: bool = True
    ) -> str:
        version = uuid.uuid4().hex
        self.certificates.setdefault(name, []).append(
            VersionInfo(
                name=name,
                version=version,
                enabled=True,
                created_on=NOW - age * DAY,
                not_before=leaf.certificate.not_valid_before_utc,
                expires_on=leaf.certificate.not_valid_after_utc,
                thumbprint=leaf.thumbprint,
            )
        )
        key = leaf.key if include_key else None
        self.values[(name, version)] = SecretValue(
            pki.pem_bundle(key, leaf.certificate), "application/x-pem-file"
        )
        return version

    def add_secret(self, name: str, value: str) -> str:
        version = uuid.uuid4().hex
        self.secrets.setdefault(name, []).append(
            VersionInfo(name=name, version=version, enabled=True, created_on=NOW - DAY)
        )
        self.values[(name, version)] = SecretValue(value, None)
        return version


class NoCredential:
    """A default credential that must never be asked for a token in these tests."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("the default credential was used")


def app_credential(environ: dict[str, str], vault: FakeVault) -> KeyVaultAppCredential:
    credential = graph_credential(Settings.from_env(environ), NoCredential(), lambda url: vault)
    assert isinstance(credential, KeyVaultAppCredential)
    return credential


# -- settings ----------------------------------------------------------------------------------


def test_default_mode_needs_no_graph_setting() -> None:
    """Without ROTATOR_GRAPH_CREDENTIAL the default chain is used with the public authority."""
    settings = Settings.from_env(env())
    assert settings.graph_credential is GraphCredentialMode.DEFAULT
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.graph_key_vault_url is None


def test_unknown_mode_is_named_with_the_choices() -> None:
    """An unknown ROTATOR_GRAPH_CREDENTIAL lists the three modes."""
    message = error_of(env(ROTATOR_GRAPH_CREDENTIAL="managed-identity"))
    assert "ROTATOR_GRAPH_CREDENTIAL='managed-identity'" in message
    assert "client-certificate" in message


@pytest.mark.parametrize("missing", ["ROTATOR_GRAPH_TENANT_ID", "ROTATOR_GRAPH_CLIENT_ID"])
def test_client_modes_name_the_missing_id(missing: str) -> None:
    """Both client modes need the tenant id and the client id; the missing one is named."""
    assert error_of(without(certificate_mode(), missing)).startswith(f"{missing} is not set")
    assert error_of(without(secret_mode(), missing)).startswith(f"{missing} is not set")


def test_client_id_must_be_a_guid() -> None:
    """An app name (or a secret pasted there) instead of the client id is refused unechoed."""
    message = error_of(certificate_mode(ROTATOR_GRAPH_CLIENT_ID="Ab1~x.Q-pasted-secret"))
    assert message.startswith("ROTATOR_GRAPH_CLIENT_ID is not an application (client) id")
    assert "Ab1~x.Q-pasted-secret" not in message


def test_multi_tenant_alias_is_not_a_tenant() -> None:
    """'common' cannot be used: client credentials need the B2C tenant itself."""
    message = error_of(certificate_mode(ROTATOR_GRAPH_TENANT_ID="common"))
    assert message.startswith("ROTATOR_GRAPH_TENANT_ID is not a tenant GUID or domain")


def test_tenant_may_be_a_domain_name() -> None:
    """The tenant can be given as its onmicrosoft.com domain."""
    settings = Settings.from_env(
        certificate_mode(ROTATOR_GRAPH_TENANT_ID="contoso.onmicrosoft.com")
    )
    assert settings.graph_tenant_id == "contoso.onmicrosoft.com"


def test_certificate_mode_needs_the_certificate_name() -> None:
    """client-certificate without ROTATOR_GRAPH_CLIENT_CERTIFICATE names that setting."""
    message = error_of(without(certificate_mode(), "ROTATOR_GRAPH_CLIENT_CERTIFICATE"))
    assert message.startswith("ROTATOR_GRAPH_CLIENT_CERTIFICATE is not set")


def test_secret_mode_needs_the_secret_name() -> None:
    """client-secret without ROTATOR_GRAPH_CLIENT_SECRET names that setting."""
    message = error_of(without(secret_mode(), "ROTATOR_GRAPH_CLIENT_SECRET"))
    assert message.startswith("ROTATOR_GRAPH_CLIENT_SECRET is not set")


def test_a_secret_value_in_place_of_its_name_is_refused() -> None:
    """The setting holds a Key Vault name; something that is not a name is refused unechoed."""
    message = error_of(secret_mode(ROTATOR_GRAPH_CLIENT_SECRET="Ab1~x.Q"))
    assert "not a Key Vault secret name" in message
    assert "Ab1~x.Q" not in message


def test_the_other_client_credential_may_not_be_set_too() -> None:
    """A client secret beside client-certificate mode is a mistake, not a fallback."""
    message = error_of(certificate_mode(ROTATOR_GRAPH_CLIENT_SECRET="graph-app-secret"))
    assert message.startswith("ROTATOR_GRAPH_CLIENT_SECRET is set")


def test_client_settings_in_default_mode_are_refused() -> None:
    """A tenant id without a client mode is named: the operator forgot ROTATOR_GRAPH_CREDENTIAL."""
    message = error_of(env(ROTATOR_GRAPH_TENANT_ID=TENANT))
    assert message.startswith("ROTATOR_GRAPH_TENANT_ID is set but ROTATOR_GRAPH_CREDENTIAL")


def test_graph_vault_defaults_to_the_top_level_vault() -> None:
    """The app's credential is looked up in the config's keyVaultUrl unless a vault is given."""
    assert Settings.from_env(certificate_mode()).graph_key_vault_url == VAULT
    other = Settings.from_env(certificate_mode(ROTATOR_GRAPH_KEYVAULT_URL=f"{GRAPH_VAULT}/"))
    assert other.graph_key_vault_url == GRAPH_VAULT


def test_graph_vault_is_required_without_a_top_level_vault() -> None:
    """With only per-connector vaults, ROTATOR_GRAPH_KEYVAULT_URL must be given."""
    document = {"connectors": [{"id": "c1", "certificate": "x", "keyVaultUrl": VAULT}]}
    environ = {**certificate_mode(), "ROTATOR_CONFIG": json.dumps(document)}
    assert error_of(environ).startswith("ROTATOR_GRAPH_KEYVAULT_URL is not set")


@pytest.mark.parametrize(
    "value", ["http://login.microsoftonline.us", "https://login.microsoftonline.us/tenant"]
)
def test_authority_host_is_an_https_host(value: str) -> None:
    """ROTATOR_AUTHORITY_HOST is an https host without a path."""
    assert "ROTATOR_AUTHORITY_HOST" in error_of(env(ROTATOR_AUTHORITY_HOST=value))


# -- credential selection ------------------------------------------------------------------


def test_default_mode_gives_graph_the_default_credential() -> None:
    """In default mode Graph uses the very credential Key Vault uses."""
    default = NoCredential()
    chosen = graph_credential(Settings.from_env(env()), default, lambda url: FakeVault())
    assert chosen is default


def test_client_mode_reads_nothing_until_a_token_is_needed() -> None:
    """Building the app credential opens no vault (no I/O when the Rotator is wired)."""
    opened: list[str] = []

    def open_vault(url: str) -> FakeVault:
        opened.append(url)
        return FakeVault()

    credential = graph_credential(Settings.from_env(certificate_mode()), NoCredential(), open_vault)
    assert isinstance(credential, KeyVaultAppCredential)
    assert opened == []


@pytest.mark.parametrize(
    ("host", "discovery_off"),
    [
        ("https://login.microsoftonline.com", False),
        ("https://login.microsoftonline.us", False),
        ("https://login.chinacloudapi.cn", False),
        ("https://login.contoso-stack.local", True),
        ("https://127.0.0.1:8443", True),
    ],
)
def test_instance_discovery_is_off_only_for_unknown_authorities(
    host: str, discovery_off: bool
) -> None:
    """Known clouds keep MSAL's defaults; any other authority skips the public-cloud lookup."""
    options = authority_options(Settings.from_env(env(ROTATOR_AUTHORITY_HOST=host)))
    assert options["authority"] == host
    assert options["disable_instance_discovery"] is discovery_off


def test_certificate_mode_uses_the_newest_usable_version() -> None:
    """The newest usable version by created date is the app's certificate, not list order."""
    vault = FakeVault()
    newer, older = pki.make_leaf("graph-app"), pki.make_leaf("graph-app")
    version = vault.add_certificate("graph-app", newer, age=1)
    vault.add_certificate("graph-app", older, age=30)
    source = app_credential(certificate_mode(), vault).resolve()
    assert (source.version, source.thumbprint) == (version, newer.thumbprint)
    assert (source.client_id, source.tenant_id) == (CLIENT, TENANT)
    assert source.expires_on == newer.certificate.not_valid_after_utc


def test_missing_certificate_names_the_setting() -> None:
    """A certificate absent from the vault is a KeyVaultError naming the setting and the vault."""
    with pytest.raises(KeyVaultError) as caught:
        app_credential(certificate_mode(), FakeVault()).resolve()
    assert caught.value.status == 404
    assert str(caught.value).startswith("ROTATOR_GRAPH_CLIENT_CERTIFICATE (certificate 'graph-app'")
    assert "ROTATOR_GRAPH_KEYVAULT_URL" in str(caught.value)


def test_expired_client_certificate_says_to_add_and_register_a_new_one() -> None:
    """An expired certificate is refused with the fix: a new version, uploaded to the app."""
    vault = FakeVault()
    expired = pki.make_leaf("graph-app", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    vault.add_certificate("graph-app", expired, age=400)
    with pytest.raises(CredentialError) as caught:
        app_credential(certificate_mode(), vault).resolve()
    message = str(caught.value)
    assert "ROTATOR_GRAPH_CLIENT_CERTIFICATE" in message
    assert "1 expired" in message
    assert f"uploaded to app {CLIENT} in tenant {TENANT}" in message


def test_certificate_without_exportable_key_is_refused() -> None:
    """A backing secret without the private key cannot sign assertions: refused by name."""
    vault = FakeVault()
    vault.add_certificate("graph-app", pki.make_leaf("graph-app"), age=1, include_key=False)
    with pytest.raises(CredentialError, match="ROTATOR_GRAPH_CLIENT_CERTIFICATE"):
        app_credential(certificate_mode(), vault).resolve()


def test_secret_mode_uses_the_newest_secret_version() -> None:
    """client-secret reads the newest usable version of the named secret."""
    vault = FakeVault()
    version = vault.add_secret("graph-app-secret", "not-a-real-secret")
    source = app_credential(secret_mode(), vault).resolve()
    assert source.version == version
    assert source.thumbprint is None


def test_empty_client_secret_is_refused() -> None:
    """An empty secret version is refused before any token request."""
    vault = FakeVault()
    vault.add_secret("graph-app-secret", "  ")
    with pytest.raises(CredentialError, match="is empty"):
        app_credential(secret_mode(), vault).resolve()


def test_token_failure_from_key_vault_is_an_authentication_error_naming_the_setting() -> None:
    """get_token keeps the TokenCredential contract: ClientAuthenticationError, with the fix."""
    with pytest.raises(ClientAuthenticationError) as caught:
        app_credential(secret_mode(), FakeVault()).get_token("https://graph.microsoft.com/.default")
    assert "ROTATOR_GRAPH_CLIENT_SECRET (secret 'graph-app-secret'" in str(caught.value.message)
    assert isinstance(caught.value.__cause__, KeyVaultError)
