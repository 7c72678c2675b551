"""Where the state lives (ROTATOR_STATE_DIR wins over AzureWebJobsStorage), and the smaller
settings fixes of issue 21: inline JSON starting with ``[``, the JSON error wording, the hint of a
stale emulator CA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rotator.config.settings import Settings
from rotator.config.state_location import StateLocation, state_location
from rotator.config.targets import load_config
from rotator.errors import ConfigurationError
from rotator.hints import EMULATOR_CA_FILE
from rotator.text import JsonLimitError, load_json
from tests.unit.config.test_settings import config

DOCUMENT = json.dumps(config({"id": "c1", "certificate": "x"}))
KEY = "AccountKey=c2VjcmV0LWtleQ=="


def test_state_dir_wins_over_the_function_storage_connection_string() -> None:
    """With ROTATOR_STATE_DIR and AzureWebJobsStorage both set, the state is the directory."""
    settings = Settings.from_env(
        {
            "ROTATOR_CONFIG": DOCUMENT,
            "ROTATOR_STATE_DIR": "/srv/state",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        }
    )
    assert settings.state_dir == Path("/srv/state")
    assert settings.state_connection_string is None
    assert settings.state_blob_uri is None


@pytest.mark.parametrize(
    "storage",
    [
        {"AzureWebJobsStorage__accountName": "fnstore"},
        {"AzureWebJobsStorage__blobServiceUri": "https://fnstore.blob.core.windows.net"},
    ],
)
def test_state_dir_wins_over_identity_based_function_storage(storage: dict[str, str]) -> None:
    """ROTATOR_STATE_DIR also wins over the identity-based storage settings."""
    assert state_location({"ROTATOR_STATE_DIR": "/s", **storage}) == StateLocation(Path("/s"))


def test_without_state_dir_the_function_storage_is_the_state_store() -> None:
    """In Azure (ROTATOR_STATE_DIR unset) AzureWebJobsStorage still selects the blob store."""
    found = state_location({"AzureWebJobsStorage": KEY, "XDG_DATA_HOME": "/d"})
    assert found == StateLocation(Path("/d/rotator"), connection_string=KEY)
    assert KEY not in repr(found)


def test_a_blank_state_dir_does_not_count_as_set() -> None:
    """ROTATOR_STATE_DIR of blanks is unset: the function storage is used."""
    found = state_location({"ROTATOR_STATE_DIR": "  ", "AzureWebJobsStorage__accountName": "a"})
    assert found.blob_uri == "https://a.blob.core.windows.net"


@pytest.mark.parametrize("raw", ["[]", "  [ ]", '[{"id": "c1", "certificate": "x"}]'])
def test_a_config_starting_with_a_bracket_is_json_not_a_path(raw: str) -> None:
    """ROTATOR_CONFIG='[]' is read as JSON and refused as a list, not as a missing file."""
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"ROTATOR_CONFIG": raw, "ROTATOR_STATE_DIR": "/s"})
    message = str(caught.value)
    assert "a list is not a configuration document" in message
    assert "cannot read" not in message


def test_an_unterminated_string_is_reported_without_a_doubled_at() -> None:
    """Python's "Unterminated string starting at" does not become "starting at at line"."""
    with pytest.raises(JsonLimitError) as caught:
        load_json('{"connectors": "abc', max_bytes=100)
    assert str(caught.value) == ("not valid JSON: Unterminated string starting at line 1 column 16")


def test_a_missing_emulator_ca_says_the_emulator_is_not_running(tmp_path: Path) -> None:
    """A stale env file's ROTATOR_CA_BUNDLE (the emulator's CA, gone) says what to do."""
    gone = tmp_path / "rotator-emulator-x" / EMULATOR_CA_FILE
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"ROTATOR_CONFIG": DOCUMENT, "ROTATOR_CA_BUNDLE": str(gone)})
    message = str(caught.value)
    assert message.startswith(f"ROTATOR_CA_BUNDLE={str(gone)!r}: no such file; ")
    assert "the emulator that wrote these settings is not running any more" in message
    assert "./dev emulator" in message


def test_another_missing_ca_bundle_gets_no_emulator_hint(tmp_path: Path) -> None:
    """Any other missing CA bundle is only "no such file"."""
    gone = tmp_path / "corporate-ca.pem"
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"ROTATOR_CONFIG": DOCUMENT, "ROTATOR_CA_BUNDLE": str(gone)})
    assert str(caught.value) == f"ROTATOR_CA_BUNDLE={str(gone)!r}: no such file"


def test_the_emulator_writes_its_ca_under_the_name_the_hint_knows() -> None:
    """The hint recognises the emulator's CA by the file name the emulator really uses."""
    from rotator.emulator.app import CA_FILE

    assert CA_FILE == EMULATOR_CA_FILE


@pytest.mark.parametrize(
    ("storage", "uri"),
    [
        ({"AzureWebJobsStorage__accountName": "fn"}, "https://fn.blob.core.windows.net"),
        ({"AzureWebJobsStorage__blobServiceUri": "https://b.example/"}, "https://b.example"),
    ],
)
def test_the_blob_store_keeps_the_per_user_directory_beside_it(
    storage: dict[str, str], uri: str
) -> None:
    """With the identity-based storage settings the directory is still the per-user one."""
    found = state_location({**storage, "XDG_DATA_HOME": "/d"})
    assert found == StateLocation(Path("/d/rotator"), blob_uri=uri)


def test_load_config_reads_json_after_leading_blanks_itself() -> None:
    """load_config, called with the raw value, skips blanks before the ``[`` or ``{``."""
    assert load_config("\n  [1]") == [1]
    assert load_config('  {"a": 1}') == {"a": 1}
