"""Settings and the targets file: everything wrong is a ConfigurationError naming key and connector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from rotator.config.settings import Settings
from rotator.config.targets import check_key_vault_version, parse_targets
from rotator.emulator import pki
from rotator.errors import ConfigurationError
from rotator.model import BasicTarget, CertificateTarget, InstallMode, Pkcs12Profile

VAULT = "https://contoso-kv.vault.azure.net"


def config(*connectors: Any, **top: Any) -> dict[str, Any]:
    return {"keyVaultUrl": VAULT, "connectors": list(connectors), **top}


def env(document: Any, **extra: str) -> dict[str, str]:
    return {"ROTATOR_CONFIG": json.dumps(document), "ROTATOR_STATE_DIR": "/tmp/x", **extra}


def error_of(document: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_targets(document)
    return str(caught.value)


def test_parses_certificate_and_basic_targets() -> None:
    """Both target kinds parse into their dataclasses with the vault inherited from the top."""
    targets = parse_targets(
        config(
            {"id": "c1", "certificate": "api-cert", "mode": "overlap"},
            {"id": "c2", "basic": {"username": "svc", "passwordSecret": "api-pw"}},
        )
    )
    assert targets == (
        CertificateTarget("c1", VAULT, "api-cert", InstallMode.OVERLAP),
        BasicTarget("c2", VAULT, "svc", "api-pw"),
    )


def test_connector_vault_overrides_top_level_and_trailing_slash_is_dropped() -> None:
    """A connector's own keyVaultUrl wins over the top-level one."""
    (target,) = parse_targets(
        config({"id": "c1", "certificate": "x", "keyVaultUrl": "https://other.vault.azure.net/"})
    )
    assert target.key_vault_url == "https://other.vault.azure.net"


def test_mode_defaults_to_replace() -> None:
    """Without a mode, a certificate is installed with replace."""
    (target,) = parse_targets(config({"id": "c1", "certificate": "x"}))
    assert isinstance(target, CertificateTarget)
    assert target.mode is InstallMode.REPLACE


def test_unknown_key_names_the_key_and_connector() -> None:
    """A typo in a connector is reported with the key and the connector id."""
    message = error_of(config({"id": "c1", "certificate": "x", "mdoe": "replace"}))
    assert "'mdoe'" in message
    assert "'c1'" in message


def test_unknown_top_level_key_is_refused() -> None:
    """Unknown keys at the top are refused too."""
    assert "'vault'" in error_of(config({"id": "c1", "certificate": "x"}, vault="y"))


def test_missing_id_is_refused() -> None:
    """A connector without an id says which entry it is."""
    assert "connectors[0]" in error_of(config({"certificate": "x"}))


def test_duplicate_connector_id_is_refused() -> None:
    """The same connector twice would be rotated twice per run."""
    message = error_of(config({"id": "c1", "certificate": "x"}, {"id": "c1", "certificate": "y"}))
    assert "duplicate" in message
    assert "'c1'" in message


def test_certificate_and_basic_together_are_refused() -> None:
    """A connector has exactly one credential kind."""
    message = error_of(
        config({"id": "c1", "certificate": "x", "basic": {"username": "u", "passwordSecret": "p"}})
    )
    assert "exactly one" in message


def test_bad_vault_url_is_refused() -> None:
    """Key Vault URLs must be https roots."""
    assert "https" in error_of(config({"id": "c1", "certificate": "x"}, keyVaultUrl="http://kv"))
    message = error_of(
        config({"id": "c1", "certificate": "x", "keyVaultUrl": "https://kv.vault.azure.net/a"})
    )
    assert "vault root" in message


def test_missing_vault_url_is_refused() -> None:
    """Without any keyVaultUrl the connector cannot be resolved."""
    message = error_of({"connectors": [{"id": "c1", "certificate": "x"}]})
    assert "keyVaultUrl" in message


def test_basic_username_with_colon_is_refused() -> None:
    """RFC 7617 basic auth cannot carry a ':' in the user-id."""
    message = error_of(config({"id": "c1", "basic": {"username": "a:b", "passwordSecret": "p"}}))
    assert "':'" in message
    assert "'c1'" in message


def test_invalid_object_name_is_refused() -> None:
    """Key Vault names are letters, digits and dashes."""
    assert "not a Key Vault object name" in error_of(config({"id": "c1", "certificate": "a_b"}))


def test_unknown_mode_is_refused() -> None:
    """Only replace and overlap exist."""
    assert "'swap'" in error_of(config({"id": "c1", "certificate": "x", "mode": "swap"}))


def test_config_is_required() -> None:
    """Without ROTATOR_CONFIG nothing can run."""
    with pytest.raises(ConfigurationError, match="ROTATOR_CONFIG is not set"):
        Settings.from_env({})


def test_config_may_be_a_file(tmp_path: Path) -> None:
    """ROTATOR_CONFIG may name a JSON file."""
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(config({"id": "c1", "certificate": "x"})))
    settings = Settings.from_env({"ROTATOR_CONFIG": str(path)})
    assert settings.targets[0].connector_id == "c1"


def test_unreadable_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A missing file says which path it tried."""
    with pytest.raises(ConfigurationError, match="cannot read"):
        Settings.from_env({"ROTATOR_CONFIG": str(tmp_path / "nope.json")})


def test_invalid_json_says_where() -> None:
    """Broken JSON reports line and column."""
    with pytest.raises(ConfigurationError, match="line 1 column"):
        Settings.from_env({"ROTATOR_CONFIG": "{not json"})


def test_defaults() -> None:
    """Defaults match the documented table."""
    settings = Settings.from_env(env(config({"id": "c1", "certificate": "x"})))
    assert settings.graph_endpoint == "https://graph.microsoft.com"
    assert settings.graph_api_version == "beta"
    assert settings.graph_scope == "https://graph.microsoft.com/.default"
    assert settings.keyvault_verify_challenge_resource is True
    assert settings.pkcs12_profile is Pkcs12Profile.LEGACY_3DES
    assert settings.ca_bundle is None
    assert settings.probe_ca_bundle is None


def test_the_probe_ca_bundle_is_read_apart_from_the_ca_bundle(tmp_path: Path) -> None:
    """ROTATOR_PROBE_CA_BUNDLE is read into probe_ca_bundle only, and checked like the other."""
    ca = tmp_path / "api-ca.pem"
    ca.write_bytes(pki.make_ca().certificate.public_bytes(serialization.Encoding.PEM))
    document = config({"id": "c1", "certificate": "x"})
    settings = Settings.from_env(env(document, ROTATOR_PROBE_CA_BUNDLE=str(ca)))
    assert settings.probe_ca_bundle == ca
    assert settings.ca_bundle is None
    with pytest.raises(ConfigurationError, match="ROTATOR_PROBE_CA_BUNDLE"):
        Settings.from_env(env(document, ROTATOR_PROBE_CA_BUNDLE=str(tmp_path / "missing.pem")))


def test_overrides_are_read(tmp_path: Path) -> None:
    """Every ROTATOR_* setting is read and validated."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.make_ca().certificate.public_bytes(serialization.Encoding.PEM))
    settings = Settings.from_env(
        env(
            config({"id": "c1", "certificate": "x"}),
            ROTATOR_GRAPH_ENDPOINT="https://graph.microsoft.us/",
            ROTATOR_GRAPH_API_VERSION="v1.0",
            ROTATOR_CA_BUNDLE=str(ca),
            ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE="false",
            ROTATOR_PKCS12_PROFILE="aes256",
        )
    )
    assert settings.graph_scope == "https://graph.microsoft.us/.default"
    assert settings.graph_api_version == "v1.0"
    assert settings.ca_bundle == ca
    assert settings.keyvault_verify_challenge_resource is False
    assert settings.pkcs12_profile is Pkcs12Profile.AES256
    assert settings.state_dir == Path("/tmp/x")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ROTATOR_GRAPH_API_VERSION", "v2", "beta, v1.0"),
        ("ROTATOR_PKCS12_PROFILE", "des", "legacy-3des"),
        ("ROTATOR_KEYVAULT_VERIFY_CHALLENGE_RESOURCE", "maybe", "true or false"),
        ("ROTATOR_GRAPH_ENDPOINT", "http://graph", "https"),
        ("ROTATOR_CA_BUNDLE", "/nonexistent/ca.pem", "no such file"),
        ("ROTATOR_VERIFY_TIMEOUT", "soon", "expected a number from 0 to 300"),
        ("ROTATOR_MAX_PARALLEL", "0", "expected a whole number from 1 to 64"),
        ("ROTATOR_EXPIRY_WARNING_DAYS", "abc", "expected a whole number from 0 to 3650"),
        ("ROTATOR_HTTP_TIMEOUT", "-1", "expected a number"),
    ],
)
def test_invalid_setting_names_itself(name: str, value: str, fragment: str) -> None:
    """Each invalid setting is reported by its environment name."""
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env(config({"id": "c1", "certificate": "x"}), **{name: value}))
    assert name in str(caught.value) or "ROTATOR_GRAPH_ENDPOINT" in str(caught.value)
    assert fragment in str(caught.value)


def test_target_lookup_of_unknown_connector_lists_known_ones() -> None:
    """Asking for an unconfigured connector names the configured ones."""
    settings = Settings.from_env(env(config({"id": "c1", "certificate": "x"})))
    with pytest.raises(ConfigurationError, match=r"'nope' is not configured.*c1"):
        settings.target("nope")


def in_azure(document: Any, **extra: str) -> dict[str, str]:
    """The settings of a Function App in Azure: no ROTATOR_STATE_DIR."""
    return {"ROTATOR_CONFIG": json.dumps(document), **extra}


def test_function_storage_selects_the_blob_state_store() -> None:
    """AzureWebJobsStorage (either form) selects the blob store; the key never shows in repr."""
    document = config({"id": "c1", "certificate": "x"})
    secret_key = "AccountKey=c2VjcmV0LWtleQ=="
    by_string = Settings.from_env(
        in_azure(document, AzureWebJobsStorage=f"AccountName=a;{secret_key}")
    )
    assert by_string.state_connection_string is not None
    assert secret_key not in repr(by_string)
    by_identity = Settings.from_env(in_azure(document, AzureWebJobsStorage__accountName="fnstore"))
    assert by_identity.state_blob_uri == "https://fnstore.blob.core.windows.net"
    assert Settings.from_env(in_azure(document)).state_blob_uri is None


def test_blob_service_uri_names_the_state_store_account_in_a_national_cloud() -> None:
    """AzureWebJobsStorage__blobServiceUri is used as given (no public-cloud suffix), before the name."""
    document = config({"id": "c1", "certificate": "x"})
    government = "https://fnstore.blob.core.usgovcloudapi.net"
    alone = Settings.from_env(
        in_azure(document, AzureWebJobsStorage__blobServiceUri=f"{government}/")
    )
    assert alone.state_blob_uri == government
    both = Settings.from_env(
        in_azure(
            document,
            AzureWebJobsStorage__blobServiceUri=government,
            AzureWebJobsStorage__accountName="fnstore",
        )
    )
    assert both.state_blob_uri == government


def test_default_state_dir_follows_xdg() -> None:
    """Without ROTATOR_STATE_DIR the store lives in the per-user data directory."""
    settings = Settings.from_env(
        {
            "ROTATOR_CONFIG": json.dumps(config({"id": "c1", "certificate": "x"})),
            "XDG_DATA_HOME": "/data",
        }
    )
    assert settings.state_dir == Path("/data/rotator")


def test_ca_bundle_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    """A CA bundle that cannot be loaded is a configuration error, not a TLS traceback later."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="not a PEM bundle"):
        Settings.from_env(env(config({"id": "c1", "certificate": "x"}), ROTATOR_CA_BUNDLE=str(ca)))


def test_a_client_secret_given_by_mistake_is_never_echoed() -> None:
    """Putting the app's secret value where its Key Vault name belongs: the error hides the value."""
    value = "Abc8Q~canary.secret_value-with~tilde"
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(
            env(
                config({"id": "c1", "certificate": "x"}),
                ROTATOR_GRAPH_CREDENTIAL="client-secret",
                ROTATOR_GRAPH_TENANT_ID="contoso.onmicrosoft.com",
                ROTATOR_GRAPH_CLIENT_ID="00000000-0000-0000-0000-000000000001",
                ROTATOR_GRAPH_CLIENT_SECRET=value,
            )
        )
    assert value not in str(caught.value)
    assert "not its value" in str(caught.value)


def test_graph_endpoint_must_be_a_root() -> None:
    """A version in ROTATOR_GRAPH_ENDPOINT would give a wrong token scope and URLs: refused."""
    with pytest.raises(ConfigurationError, match="without a path"):
        Settings.from_env(
            env(
                config({"id": "c1", "certificate": "x"}),
                ROTATOR_GRAPH_ENDPOINT="https://graph.microsoft.com/v1.0",
            )
        )


def test_azure_authority_host_is_honoured_when_rotator_has_none() -> None:
    """azure-identity's AZURE_AUTHORITY_HOST (e.g. US Gov) applies when ROTATOR_AUTHORITY_HOST is unset."""
    settings = Settings.from_env(
        env(
            config({"id": "c1", "certificate": "x"}),
            AZURE_AUTHORITY_HOST="https://login.microsoftonline.us",
        )
    )
    assert settings.authority_host == "https://login.microsoftonline.us"


# -- ids, names and versions cannot reach another object (issue 9, class 2) ----------------


@pytest.mark.parametrize(
    "connector_id",
    [
        "x/../REAL",
        "../../../v1.0/identity/apiConnectors/REAL",
        "REAL/",
        "REAL#x",
        "REAL?$x=1",
        "REAL%2F",
        ".",
        "..",
        "REAL\n",
        "a b",
        "x" * 257,
    ],
)
def test_connector_id_that_could_address_another_object_is_refused(connector_id: str) -> None:
    """An id is letters, digits, '-', '_' and '.' only, never '.' or '..', so no URL can escape."""
    message = error_of(config({"id": connector_id, "certificate": "x"}))
    assert "is not a connector id (1-256 letters, digits, '-', '_' and '.'" in message


def test_connector_id_of_letters_digits_dash_underscore_and_dots_is_accepted() -> None:
    """A GUID and a dotted name with '_' and '-' are valid connector ids."""
    targets = parse_targets(
        config(
            {"id": "6f0b9c2e-3a1d-4e5f-8a7b-0c1d2e3f4a5b", "certificate": "x"},
            {"id": "api.v2_prod-1", "certificate": "y"},
        )
    )
    assert [t.connector_id for t in targets] == [
        "6f0b9c2e-3a1d-4e5f-8a7b-0c1d2e3f4a5b",
        "api.v2_prod-1",
    ]


def test_refused_connector_id_is_echoed_cut_short() -> None:
    """A 5 MB id is named by its first 200 characters and its length."""
    message = error_of(config({"id": "x/" * 2_500_000, "certificate": "x"}))
    assert "(5000000 characters)" in message
    assert len(message) < 1000


def test_object_name_with_a_trailing_newline_is_refused() -> None:
    """A newline after a valid name does not slip past the check (fullmatch, not '$')."""
    message = error_of(config({"id": "c1", "certificate": "api-cert\n"}))
    assert "'api-cert\\n' is not a Key Vault object name (1-127 letters, digits and '-')" in message


def test_object_name_longer_than_127_characters_is_refused() -> None:
    """Key Vault names are at most 127 characters."""
    message = error_of(
        config({"id": "c1", "basic": {"username": "u", "passwordSecret": "a" * 128}})
    )
    assert "is not a Key Vault object name" in message


def test_object_name_of_127_characters_and_leading_digit_is_accepted() -> None:
    """1-127 of 0-9, a-z, A-Z and '-' are all valid, a digit first included."""
    (target,) = parse_targets(config({"id": "c1", "certificate": "1" + "a-" * 63}))
    assert target.key_vault_object == "1" + "a-" * 63


def test_version_id_is_accepted_and_stripped() -> None:
    """A 32-character version id passes the version check, surrounding spaces dropped."""
    assert check_key_vault_version(" 0123456789abcdef0123456789ABCDEF ", "--version") == (
        "0123456789abcdef0123456789ABCDEF"
    )


@pytest.mark.parametrize("version", ["abc", "../secrets/other", "0" * 31 + "/", "0" * 33])
def test_version_that_is_not_a_key_vault_version_id_is_refused(version: str) -> None:
    """A rollback version is 32 letters and digits; anything else names the option."""
    with pytest.raises(ConfigurationError) as caught:
        check_key_vault_version(version, "--version")
    assert "--version" in str(caught.value)
    assert "is not a Key Vault version id (32 letters and digits" in str(caught.value)


def test_unknown_connector_lookup_echoes_the_id_cut_short() -> None:
    """Asking for a 5000-character connector names it by 200 characters and its length."""
    settings = Settings.from_env(env(config({"id": "c1", "certificate": "x"})))
    with pytest.raises(ConfigurationError) as caught:
        settings.target("q" * 5000)
    assert "'" + "q" * 200 + "… (5000 characters)'" in str(caught.value)


# -- URLs and the configuration document (issue 9, class 8) --------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://kv.vault.azure.net:0", "has an invalid port (1-65535)"),
        ("https://kv.vault.azure.net:65536", "has an invalid port (1-65535)"),
        ("https://kv.vault.azure.net:+443", "is not an https URL"),
        ("https://kv.vault.azure.net\\evil.example", "contains a backslash, a space or a control"),
        ("https://kv.vault.azure.net /", "contains a backslash, a space or a control"),
        ("https://kv\n.vault.azure.net", "contains a backslash, a space or a control"),
        ("https://kv.vault.azure.net\x00", "contains a backslash, a space or a control"),
        ("https://kv.vault.azure.net\x1b[2J", "contains a backslash, a space or a control"),
        ("https://kv.vault.azure.net%2Fevil", "contains a percent-encoded character"),
        ("https://kv.vault.azure.net/?api-version=1", "has a query or fragment"),
        ("https://kv.vault.azure.net#x", "has a query or fragment"),
        ("https://kv_vault.azure.net", "is not an https URL"),
    ],
)
def test_vault_url_a_parser_could_read_two_ways_is_refused(url: str, fragment: str) -> None:
    """Ports outside 1-65535, backslashes, spaces, controls, '%', queries and fragments are refused."""
    assert fragment in error_of(config({"id": "c1", "certificate": "x"}, keyVaultUrl=url))


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:Pa55-canary@kv.vault.azure.net",
        "https://kv.vault.azure.net%2F@evil.example",
        "https://Pa55-canary@kv.vault.azure.net/",
    ],
)
def test_vault_url_with_user_info_is_refused_without_echoing_it(url: str) -> None:
    """A user:password@ in the vault URL is refused and the password appears nowhere."""
    message = error_of(config({"id": "c1", "certificate": "x"}, keyVaultUrl=url))
    assert "carries a user name or password" in message
    assert "Pa55-canary" not in message
    assert "evil" not in message


@pytest.mark.parametrize("name", ["ROTATOR_GRAPH_ENDPOINT", "ROTATOR_AUTHORITY_HOST"])
def test_graph_and_authority_urls_with_user_info_are_refused_without_echoing_it(name: str) -> None:
    """The Graph and token-authority URLs follow the same rule as vault URLs."""
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(
            env(config({"id": "c1", "certificate": "x"}), **{name: "https://u:Pa55-canary@h.test"})
        )
    assert f"{name}: the URL carries a user name or password" in str(caught.value)
    assert "Pa55-canary" not in str(caught.value)


def test_graph_endpoint_with_a_port_out_of_range_is_refused() -> None:
    """Port 0 in ROTATOR_GRAPH_ENDPOINT fails when the settings are read, not at run time."""
    with pytest.raises(ConfigurationError, match="has an invalid port"):
        Settings.from_env(
            env(config({"id": "c1", "certificate": "x"}), ROTATOR_GRAPH_ENDPOINT="https://g.test:0")
        )


def test_duplicate_key_in_the_configuration_is_refused() -> None:
    """A key given twice is an error naming it, not last-one-wins."""
    text = (
        '{"keyVaultUrl": "https://a.vault.azure.net", "connectors": [{"id": "c1", '
        '"certificate": "x"}], "keyVaultUrl": "https://b.vault.azure.net"}'
    )
    with pytest.raises(ConfigurationError, match="duplicate key 'keyVaultUrl'"):
        Settings.from_env({"ROTATOR_CONFIG": text, "ROTATOR_STATE_DIR": "/tmp/x"})


def test_duplicate_key_inside_a_connector_is_refused() -> None:
    """Two ids in one connector entry are an error too."""
    text = '{"keyVaultUrl": "https://a.vault.azure.net", "connectors": [{"id": "a", "id": "b", "certificate": "x"}]}'
    with pytest.raises(ConfigurationError, match="duplicate key 'id'"):
        Settings.from_env({"ROTATOR_CONFIG": text, "ROTATOR_STATE_DIR": "/tmp/x"})


def test_configuration_nested_too_deeply_is_refused() -> None:
    """A configuration nested 1000 levels deep is a ConfigurationError, not a RecursionError."""
    text = '{"connectors": ' + "[" * 1000 + "]" * 1000 + "}"
    with pytest.raises(ConfigurationError, match="nested deeper than 32 levels"):
        Settings.from_env({"ROTATOR_CONFIG": text, "ROTATOR_STATE_DIR": "/tmp/x"})
