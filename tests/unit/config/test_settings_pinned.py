"""Settings: the checks, boundaries and messages that mutation testing showed loose (today's behaviour)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rotator.config.settings import Settings
from rotator.config.state_location import default_state_dir
from rotator.config.targets import check_key_vault_version, parse_targets
from rotator.config.urls import https_url, shown_url
from rotator.errors import ConfigurationError
from rotator.model import BasicTarget, CertificateTarget
from rotator.text import truncate
from tests.unit.config.test_settings import VAULT, config, env, error_of, in_azure

CERT = {"id": "c1", "certificate": "x"}
TENANT = "contoso.onmicrosoft.com"
CLIENT = "00000000-0000-0000-0000-000000000001"


def settings_error(document: Any = None, **extra: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env(config(CERT) if document is None else document, **extra))
    return str(caught.value)


def basic(**fields: Any) -> dict[str, Any]:
    return {"id": "c2", "basic": {"username": "svc", "passwordSecret": "pw", **fields}}


# -- reading the environment ---------------------------------------------------------------


def test_from_env_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping the settings come from ``os.environ``."""
    for name in list(os.environ):
        if name.startswith(("ROTATOR_", "AZURE_", "AzureWebJobs")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ROTATOR_CONFIG", json.dumps(config(CERT)))
    monkeypatch.setenv("ROTATOR_MAX_PARALLEL", "7")
    assert Settings.from_env().max_parallel == 7


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("ROTATOR_MAX_PARALLEL", "1", "max_parallel", 1),
        ("ROTATOR_MAX_PARALLEL", "64", "max_parallel", 64),
        ("ROTATOR_HTTP_TIMEOUT", "1", "http_timeout", 1.0),
        ("ROTATOR_HTTP_TIMEOUT", "300", "http_timeout", 300.0),
        ("ROTATOR_VERIFY_TIMEOUT", "2.5", "verify_timeout", 2.5),
        ("ROTATOR_EXPIRY_WARNING_DAYS", "0", "expiry_warning_days", 0),
        ("ROTATOR_EXPIRY_WARNING_DAYS", "3650", "expiry_warning_days", 3650),
    ],
)
def test_number_settings_accept_their_bounds(
    name: str, value: str, attribute: str, expected: float
) -> None:
    """Both ends of every range are accepted, and fractions where a number may have one."""
    settings = Settings.from_env(env(config(CERT), **{name: value}))
    assert getattr(settings, attribute) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "ROTATOR_MAX_PARALLEL",
            "2.5",
            "ROTATOR_MAX_PARALLEL='2.5': expected a whole number from 1 to 64",
        ),
        (
            "ROTATOR_HTTP_TIMEOUT",
            "301",
            "ROTATOR_HTTP_TIMEOUT='301': expected a number from 1 to 300",
        ),
        (
            "ROTATOR_HTTP_TIMEOUT",
            "0.5",
            "ROTATOR_HTTP_TIMEOUT='0.5': expected a number from 1 to 300",
        ),
    ],
)
def test_number_settings_refuse_fractions_and_values_out_of_range(
    name: str, value: str, message: str
) -> None:
    """A whole-number setting refuses a fraction; every number setting refuses its outside."""
    assert settings_error(**{name: value}) == message


def test_the_pkcs12_profile_error_lists_the_choices() -> None:
    """An unknown PKCS#12 profile names both profiles."""
    assert settings_error(ROTATOR_PKCS12_PROFILE="des") == (
        "ROTATOR_PKCS12_PROFILE='des': expected one of legacy-3des, aes256"
    )


def test_the_state_container_is_read_and_blank_means_the_default() -> None:
    """ROTATOR_STATE_CONTAINER names the blob container; blank or unset is ``rotator-state``."""
    document = config(CERT)
    assert (
        Settings.from_env(env(document, ROTATOR_STATE_CONTAINER=" ops ")).state_container == "ops"
    )
    assert Settings.from_env(env(document, ROTATOR_STATE_CONTAINER=" ")).state_container == (
        "rotator-state"
    )
    assert Settings.from_env(env(document)).state_container == "rotator-state"


def test_the_blob_service_uri_selects_the_blob_store() -> None:
    """AzureWebJobsStorage__blobServiceUri is used as given (an https root, trailing slash dropped)."""
    settings = Settings.from_env(
        in_azure(
            config(CERT), AzureWebJobsStorage__blobServiceUri="https://fn.blob.core.windows.net/"
        )
    )
    assert settings.state_blob_uri == "https://fn.blob.core.windows.net"
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(in_azure(config(CERT), AzureWebJobsStorage__blobServiceUri="http://fn"))
    assert str(caught.value) == (
        "AzureWebJobsStorage__blobServiceUri: 'http://fn' is not an https URL"
    )


def test_default_state_dir_prefers_localappdata_then_home() -> None:
    """On Windows the data directory is under LOCALAPPDATA; elsewhere without XDG, ~/.local/share."""
    assert default_state_dir(
        {"LOCALAPPDATA": "C:/Users/a/AppData/Local", "XDG_DATA_HOME": "/d"}
    ) == (Path("C:/Users/a/AppData/Local/rotator"))
    assert default_state_dir({}) == Path.home() / ".local" / "share" / "rotator"


def test_an_unknown_connector_lists_the_configured_ones_or_none() -> None:
    """The lookup error lists every configured connector, or says there is none."""
    two = Settings(
        targets=(CertificateTarget("c1", VAULT, "x"), CertificateTarget("c2", VAULT, "y"))
    )
    with pytest.raises(ConfigurationError) as caught:
        two.target("nope")
    assert str(caught.value) == (
        "connector 'nope' is not configured in ROTATOR_CONFIG (configured: c1, c2)"
    )
    with pytest.raises(ConfigurationError, match=r"\(configured: none\)$"):
        Settings(targets=()).target("nope")


# -- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://kv.vault.azure.net?x=1",
            "'https://kv.vault.azure.net?x=1' has a query or fragment; give only the URL",
        ),
        (
            "https://kv.vault.azure.net#top",
            "'https://kv.vault.azure.net#top' has a query or fragment; give only the URL",
        ),
        ("https://", "'https:' is not an https URL"),  # echoed without its slashes
        (
            "https://kv.vault.azure.net:99999",
            "'https://kv.vault.azure.net:99999' has an invalid port (1-65535)",
        ),
    ],
)
def test_a_vault_url_with_query_fragment_no_host_or_bad_port_is_refused(
    url: str, message: str
) -> None:
    """Only a plain https URL with a host (and a valid port, if any) is a vault URL."""
    assert error_of(config(CERT, keyVaultUrl=url)) == f"ROTATOR_CONFIG: keyVaultUrl: {message}"


def test_only_trailing_slashes_are_dropped_from_a_url() -> None:
    """``https://VAULTX//`` becomes ``https://VAULTX``: other trailing characters stay."""
    (target,) = parse_targets(config(CERT, keyVaultUrl="https://VAULTX//"))
    assert target.key_vault_url == "https://VAULTX"


def test_a_url_that_is_not_text_names_its_type_and_where() -> None:
    """A keyVaultUrl given as a number is refused naming the key and the connector."""
    assert error_of(config(CERT, keyVaultUrl=42)) == (
        "ROTATOR_CONFIG: keyVaultUrl: expected an https URL, got int"
    )
    entry = {**CERT, "keyVaultUrl": "http://kv"}
    assert error_of(config(entry)) == (
        "ROTATOR_CONFIG: connectors[0] (connector 'c1'): keyVaultUrl: 'http://kv' is not an https URL"
    )


# -- the targets document --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            [],
            "ROTATOR_CONFIG: the top level must be a JSON object such as "
            '{"connectors": [...]} (a list is not a configuration document: list the connectors '
            "under it)",
        ),
        ("c1", 'ROTATOR_CONFIG: the top level must be a JSON object such as {"connectors": [...]}'),
        (
            config(CERT, vault="y"),
            "ROTATOR_CONFIG: the top level: unknown key 'vault' "
            "(allowed: connectors, identities, keyVaultUrl, probe)",
        ),
        (
            {"keyVaultUrl": VAULT, "connectors": []},
            "ROTATOR_CONFIG: 'connectors' must be a non-empty list",
        ),
        (config("c1"), "ROTATOR_CONFIG: connectors[0] must be an object"),
        (
            config({"id": "c1", "certificate": "bad name!"}),
            "ROTATOR_CONFIG: connectors[0] (connector 'c1'): certificate: 'bad name!' is not a Key "
            "Vault object name (1-127 letters, digits and '-')",
        ),
        (
            config({**basic(), "mode": "overlap"}),
            "ROTATOR_CONFIG: connectors[0] (connector 'c2'): 'mode' applies only to certificates",
        ),
        (
            config({"id": "c2", "basic": "svc:pw"}),
            "ROTATOR_CONFIG: connectors[0] (connector 'c2'): 'basic' must be an object",
        ),
        (
            config(basic(password="x")),
            "ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic: unknown key 'password' "
            "(allowed: passwordSecret, username)",
        ),
        (
            config(basic(username="")),
            "ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic.username is missing or empty",
        ),
        (
            config(basic(username="a:b")),
            "ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic.username must not contain ':' "
            "(HTTP basic auth cannot carry it, RFC 7617)",
        ),
        (
            config(basic(passwordSecret="p_w")),
            "ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic.passwordSecret: 'p_w' is not a "
            "Key Vault object name (1-127 letters, digits and '-')",
        ),
    ],
)
def test_a_wrong_targets_document_says_exactly_what_and_where(document: Any, message: str) -> None:
    """Every refusal of the targets document is one sentence naming the key and the connector."""
    assert error_of(document) == message


@pytest.mark.parametrize("username", ["bell\x07", "unit\x1fsep", "del\x7f", "new\nline"])
def test_a_username_with_a_control_character_is_refused(username: str) -> None:
    """C0 control characters and DEL cannot go into a basic-auth header."""
    assert error_of(config(basic(username=username))) == (
        "ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic.username contains a control character"
    )


@pytest.mark.parametrize("username", ["svc account", "dienst-\u00e4", "~svc!"])
def test_a_username_with_spaces_or_non_ascii_letters_is_accepted(username: str) -> None:
    """Space and printable characters beyond ASCII are not control characters."""
    (target,) = parse_targets(config(basic(username=username)))
    assert isinstance(target, BasicTarget)
    assert target.username == username


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("svc\u0085", "0085"),  # NEL, a C1 control
        ("svc\x9b[31m", "009B"),  # CSI, a C1 control
        ("svc\u2028x", "2028"),  # line separator
        ("svc\u2029x", "2029"),  # paragraph separator
        ("s\u200bvc", "200B"),  # zero-width space
        ("s\u200dvc", "200D"),  # zero-width joiner
        ("\ufeffsvc", "FEFF"),  # zero-width no-break space (BOM)
        ("svc\u2060", "2060"),  # word joiner
        ("svc\u200f", "200F"),  # right-to-left mark
        ("svc\u202e", "202E"),  # right-to-left override
        ("svc\u2067x", "2067"),  # right-to-left isolate
        ("svc\u061c", "061C"),  # Arabic letter mark
    ],
)
def test_a_username_with_an_invisible_or_line_breaking_character_is_refused(
    username: str, code: str
) -> None:
    """C1 controls (NEL among them), line and paragraph separators, zero-width and bidi
    characters would send a name other than the one shown: refused, the code point named."""
    assert error_of(config(basic(username=username))) == (
        f"ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic.username contains "
        f"U+{code}, a control, line-separator, zero-width or bidirectional character "
        "(it would send a name other than the one shown)"
    )


@pytest.mark.parametrize("username", [" ", "   ", "\u00a0", " \u3000 "])
def test_a_username_of_only_spaces_is_refused(username: str) -> None:
    """A username of spaces alone (any Unicode space) is no name at all."""
    assert error_of(config(basic(username=username))) == (
        "ROTATOR_CONFIG: connectors[0] (connector 'c2'): basic.username is only spaces"
    )


def test_connector_ids_that_differ_only_in_case_are_refused() -> None:
    """Graph's ids are case-insensitive GUIDs: two spellings would race on one connector."""
    upper = "6B1A0C2E-3F4D-4E5A-8B6C-7D8E9F0A1B2C"
    assert error_of(
        config({"id": upper, "certificate": "x"}, {"id": upper.lower(), "certificate": "y"})
    ) == (
        f"ROTATOR_CONFIG: connectors[1] (connector {upper.lower()!r}): duplicate connector id: "
        f"it differs from {upper!r} only in case, and Graph's connector ids are case-insensitive "
        "(both would rotate one connector)"
    )


# -- config file -----------------------------------------------------------------------------


def test_a_missing_config_file_names_the_path_and_the_os_reason(tmp_path: Path) -> None:
    """The error names the file tried and the operating system's reason."""
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"ROTATOR_CONFIG": str(path)})
    assert (
        str(caught.value) == f"ROTATOR_CONFIG: cannot read {str(path)!r}: No such file or directory"
    )


def test_invalid_json_in_a_file_names_the_file(tmp_path: Path) -> None:
    """Broken JSON in a targets file is reported with the file's path, line and column."""
    path = tmp_path / "targets.json"
    path.write_text('{"connectors": [}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"ROTATOR_CONFIG": str(path)})
    assert str(caught.value) == (
        f"{path} cannot be used: not valid JSON: Expecting value at line 1 column 17"
    )


# -- Graph identity --------------------------------------------------------------------------


def identity(**extra: str) -> dict[str, str]:
    return {
        "ROTATOR_GRAPH_TENANT_ID": TENANT,
        "ROTATOR_GRAPH_CLIENT_ID": CLIENT,
        **extra,
    }


def test_each_client_mode_keeps_only_its_own_key_vault_name() -> None:
    """client-certificate sets the certificate name only, client-secret the secret name only."""
    by_certificate = Settings.from_env(
        env(
            config(CERT),
            **identity(
                ROTATOR_GRAPH_CREDENTIAL="client-certificate",
                ROTATOR_GRAPH_CLIENT_CERTIFICATE="app-cert",
            ),
        )
    )
    assert (
        by_certificate.graph_client_certificate_name,
        by_certificate.graph_client_secret_name,
    ) == (
        "app-cert",
        None,
    )
    assert by_certificate.graph_key_vault_url == VAULT
    by_secret = Settings.from_env(
        env(
            config(CERT),
            **identity(
                ROTATOR_GRAPH_CREDENTIAL="client-secret", ROTATOR_GRAPH_CLIENT_SECRET="app-secret"
            ),
        )
    )
    assert (by_secret.graph_client_certificate_name, by_secret.graph_client_secret_name) == (
        None,
        "app-secret",
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"ROTATOR_GRAPH_CREDENTIAL": "password"},
            "ROTATOR_GRAPH_CREDENTIAL='password': expected default, client-certificate or "
            "client-secret (the last resort)",
        ),
        (
            {"ROTATOR_GRAPH_CREDENTIAL": "client-secret", "ROTATOR_GRAPH_CLIENT_ID": CLIENT},
            "ROTATOR_GRAPH_TENANT_ID is not set: ROTATOR_GRAPH_CREDENTIAL=client-secret needs the "
            "directory (tenant) id of the B2C / External ID tenant that holds the connectors",
        ),
        (
            identity(
                ROTATOR_GRAPH_CREDENTIAL="client-secret", ROTATOR_GRAPH_TENANT_ID="not a tenant"
            ),
            "ROTATOR_GRAPH_TENANT_ID is not a tenant GUID or domain such as contoso.onmicrosoft.com "
            "(the value is not shown: it may be a secret pasted into the wrong setting)",
        ),
        (
            identity(ROTATOR_GRAPH_CREDENTIAL="client-secret", ROTATOR_GRAPH_TENANT_ID="common"),
            "ROTATOR_GRAPH_TENANT_ID is not a tenant GUID or domain such as contoso.onmicrosoft.com "
            "(the value is not shown: it may be a secret pasted into the wrong setting)",
        ),
        (
            {"ROTATOR_GRAPH_CREDENTIAL": "client-secret", "ROTATOR_GRAPH_TENANT_ID": TENANT},
            "ROTATOR_GRAPH_CLIENT_ID is not set: ROTATOR_GRAPH_CREDENTIAL=client-secret needs the "
            "application (client) id of the app registered in that tenant",
        ),
        (
            identity(ROTATOR_GRAPH_CREDENTIAL="client-secret", ROTATOR_GRAPH_CLIENT_ID="app"),
            "ROTATOR_GRAPH_CLIENT_ID is not an application (client) id, a GUID (the value is not "
            "shown: it may be a secret pasted into the wrong setting)",
        ),
        (
            identity(
                ROTATOR_GRAPH_CREDENTIAL="client-secret",
                ROTATOR_GRAPH_CLIENT_SECRET="app-secret",
                ROTATOR_GRAPH_KEYVAULT_URL="https://kv.vault.azure.net/secrets",
            ),
            "ROTATOR_GRAPH_KEYVAULT_URL='https://kv.vault.azure.net/secrets' must be a vault root "
            "such as https://NAME.vault.azure.net",
        ),
        (
            identity(
                ROTATOR_GRAPH_CREDENTIAL="client-secret",
                ROTATOR_GRAPH_CLIENT_SECRET="app-secret",
                ROTATOR_GRAPH_KEYVAULT_URL="http://kv",
            ),
            "ROTATOR_GRAPH_KEYVAULT_URL: 'http://kv' is not an https URL",
        ),
    ],
)
def test_graph_identity_refusals_are_exact(extra: dict[str, str], message: str) -> None:
    """Each wrong Graph identity setting is one sentence naming the setting and the fix."""
    assert settings_error(**extra) == message


# -- after the split of settings.py (targets.py, urls.py) and the probe --------------------


def test_probing_private_addresses_is_off_unless_allowed() -> None:
    """ROTATOR_PROBE_ALLOW_PRIVATE is false by default, read as a boolean, and named when wrong."""
    assert Settings.from_env(env(config(CERT))).probe_allow_private is False
    allowed = Settings.from_env(env(config(CERT), ROTATOR_PROBE_ALLOW_PRIVATE="TRUE"))
    assert allowed.probe_allow_private is True
    assert settings_error(ROTATOR_PROBE_ALLOW_PRIVATE="maybe") == (
        "ROTATOR_PROBE_ALLOW_PRIVATE='maybe': expected true or false"
    )


def test_a_connector_vault_that_is_not_a_root_is_refused_exactly() -> None:
    """A vault URL with a path names the connector and the form of a vault root."""
    entry = {**CERT, "keyVaultUrl": "https://kv.vault.azure.net/keys"}
    assert error_of(config(entry)) == (
        "ROTATOR_CONFIG: connectors[0] (connector 'c1'): keyVaultUrl: "
        "'https://kv.vault.azure.net/keys' must be a vault root such as https://NAME.vault.azure.net"
    )


def test_an_object_name_that_is_not_text_names_its_type() -> None:
    """A certificate name given as a number is shown by its type, not as a name."""
    assert error_of(config({"id": "c1", "certificate": 42})) == (
        "ROTATOR_CONFIG: connectors[0] (connector 'c1'): certificate: 'int' is not a Key Vault "
        "object name (1-127 letters, digits and '-')"
    )


def test_a_wrong_probe_names_the_connector() -> None:
    """A connector's probe that is not an object is refused naming the connector."""
    assert error_of(config({**CERT, "probe": "yes"})) == (
        "ROTATOR_CONFIG: connectors[0] (connector 'c1'): 'probe' must be an object or false"
    )


def test_a_key_vault_version_id_is_checked_and_stripped() -> None:
    """A version id is 32 letters and digits; anything else is refused naming where it came from."""
    assert check_key_vault_version(" 0123456789abcdef0123456789ABCDEF ", "--version") == (
        "0123456789abcdef0123456789ABCDEF"
    )
    with pytest.raises(ConfigurationError) as caught:
        check_key_vault_version("v1", "--version")
    assert str(caught.value) == (
        "--version 'v1' is not a Key Vault version id (32 letters and digits, "
        "as `rotator status` and the portal show it)"
    )


@pytest.mark.parametrize("port", ["1", "65535"])
def test_both_ends_of_the_port_range_are_accepted(port: str) -> None:
    """Ports 1 and 65535 are valid; the URL is kept as given."""
    assert (
        https_url(f"https://kv.vault.azure.net:{port}", "x") == f"https://kv.vault.azure.net:{port}"
    )


def test_port_zero_and_user_info_are_refused_exactly() -> None:
    """Port 0 is refused; a URL with user info is refused without repeating it."""
    with pytest.raises(ConfigurationError) as caught:
        https_url("https://kv:0", "x")
    assert str(caught.value) == "x: 'https://kv:0' has an invalid port (1-65535)"
    with pytest.raises(ConfigurationError) as caught:
        https_url("https://user:secret@kv", "x")
    assert str(caught.value) == (
        "x: the URL carries a user name or password ('user:password@'); remove it "
        "(the value is not shown)"
    )


def test_a_url_with_user_info_is_never_shown() -> None:
    """An error shows a URL only when it holds no user info."""
    assert shown_url("https://user:secret@kv") == "<not shown>"
    assert shown_url("https://kv.vault.azure.net") == "https://kv.vault.azure.net"


# -- identities (issue 11) -------------------------------------------------------------------

APP = {
    "credential": "client-certificate",
    "tenantId": TENANT,
    "clientId": CLIENT,
    "clientCertificate": "graph-app",
}
OBJECT_ID = "00000000-0000-0000-0000-00000000000b"


def with_identities(identities: dict[str, Any], *connectors: dict[str, Any]) -> dict[str, Any]:
    return config(*connectors, identities=identities)


def test_for_identity_takes_every_graph_field_of_the_identity() -> None:
    """An identity's settings carry its name, credential names, vault, endpoints and keep-alive."""
    identity = {
        **APP,
        "keyVaultUrl": "https://app-kv.vault.azure.net",
        "graphEndpoint": "https://graph.microsoft.us",
        "authorityHost": "https://login.microsoftonline.us",
        "keepAlive": True,
        "applicationObjectId": OBJECT_ID,
        "keepAliveGraceDays": 3,
    }
    document = with_identities({"gov": identity}, {**CERT, "identity": "gov"})
    gov = Settings.from_env(env(document)).for_identity("gov")
    assert (gov.identity_name, gov.graph_client_id) == ("gov", CLIENT)
    assert (gov.graph_client_certificate_name, gov.graph_client_secret_name) == ("graph-app", None)
    assert gov.graph_key_vault_url == "https://app-kv.vault.azure.net"
    assert gov.graph_endpoint == "https://graph.microsoft.us"
    assert gov.authority_host == "https://login.microsoftonline.us"
    assert (gov.application_object_id, gov.keep_alive, gov.keep_alive_grace_days) == (
        OBJECT_ID,
        True,
        3,
    )


def test_for_identity_falls_back_to_the_default_authority_and_keeps_a_secret_name() -> None:
    """Without its own authority an identity uses the settings'; a secret identity names its secret."""
    identity = {
        "credential": "client-secret",
        "tenantId": TENANT,
        "clientId": CLIENT,
        "clientSecret": "graph-secret",
    }
    document = with_identities({"s": identity}, {**CERT, "identity": "s"})
    settings = Settings.from_env(env(document, AZURE_AUTHORITY_HOST="https://login.example.test"))
    secret = settings.for_identity("s")
    assert secret.authority_host == "https://login.example.test"
    assert (secret.graph_client_certificate_name, secret.graph_client_secret_name) == (
        None,
        "graph-secret",
    )


def test_an_unknown_identity_name_is_cut_short_in_the_error() -> None:
    """Asking for an identity that is not configured repeats at most 60 characters of its name."""
    settings = Settings.from_env(env(config(CERT)))
    name = "n" * 100
    with pytest.raises(ConfigurationError) as caught:
        settings.for_identity(name)
    assert str(caught.value) == f"identity {truncate(name, 60)!r} is not configured"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            config({**CERT, "identity": "ghost"}),
            "ROTATOR_CONFIG: connector 'c1' uses identity 'ghost', which 'identities' does not define",
        ),
        (
            with_identities({"zeta": APP, "alpha": APP}, CERT),
            "ROTATOR_CONFIG: identity 'alpha' is defined but no connector uses it",
        ),
        (
            config({**CERT, "identity": ""}),
            "ROTATOR_CONFIG: connectors[0] (connector 'c1'): 'identity' must be an identity name",
        ),
        (
            config({**CERT, "identity": 7}),
            "ROTATOR_CONFIG: connectors[0] (connector 'c1'): 'identity' must be an identity name",
        ),
    ],
)
def test_identity_references_are_checked_exactly(document: dict[str, Any], message: str) -> None:
    """A connector's identity must be named and defined, and every defined identity used."""
    assert settings_error(document) == message


def test_the_default_identity_defined_twice_is_refused_exactly() -> None:
    """ROTATOR_GRAPH_CREDENTIAL and identities.default both defining the default is one error."""
    document = with_identities({"default": APP}, CERT)
    message = settings_error(
        document,
        **identity(ROTATOR_GRAPH_CREDENTIAL="client-secret", ROTATOR_GRAPH_CLIENT_SECRET="s"),
    )
    assert message == (
        "both ROTATOR_GRAPH_CREDENTIAL and ROTATOR_CONFIG's identities.default define the default "
        "identity; keep one"
    )


@pytest.mark.parametrize(
    ("spelling", "value"),
    [
        *[("1", True), ("true", True), ("Yes", True), (" ON ", True), ("on", True)],
        *[("0", False), ("false", False), ("No", False), (" OFF ", False), ("off", False)],
    ],
)
def test_every_boolean_spelling_is_read(spelling: str, value: bool) -> None:
    """A boolean setting reads 1/true/yes/on as true and 0/false/no/off as false, in any case."""
    parsed = Settings.from_env(env(config(CERT), ROTATOR_PROBE_ALLOW_PRIVATE=spelling))
    assert parsed.probe_allow_private is value
