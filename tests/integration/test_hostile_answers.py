"""Hostile answers from Key Vault and Graph, over real sockets: the target ends failed, named.

The emulator's ``body`` fault answers a request with any text instead of the service. Every
malformed, mistyped, oversized or endless answer must end that target ``failed`` (or its status
entry carry the error) with a reason naming the service, the object and the field; nothing is
written to Graph on the strength of such an answer.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from rotator.azure.keyvault import MAX_PAGES
from rotator.emulator import Emulator, pki
from rotator.model import Outcome, RotationRequest, TargetOutcome
from rotator.standing import TargetStatus

from .support import graph_writes, make_rotator, requests, seed_certificate, seed_secret

pytestmark = pytest.mark.usefixtures("azure_env")


def basic_target(emu: Emulator) -> tuple[dict[str, Any], str]:
    """A basic-auth connector and its password secret (one version); the target and version."""
    (version,) = seed_secret(emu, "api-pw", [{"value": "pw-1"}]).versions
    connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="old")
    return {"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}}, version


def rotate(emu: Emulator, tmp_path: Path, target: dict[str, Any]) -> TargetOutcome:
    with make_rotator(emu, tmp_path, target) as rotator:
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    return outcome


def status(emu: Emulator, tmp_path: Path, target: dict[str, Any]) -> TargetStatus:
    with make_rotator(emu, tmp_path, target) as rotator:
        (entry,) = rotator.status().targets
    return entry


def answer(emu: Emulator, service: str, path: str, body: Any) -> None:
    """Every GET of ``path`` (a regex) is answered 200 with ``body`` (JSON unless text)."""
    text = body if isinstance(body, str) else json.dumps(body)
    emu.faults.add(service=service, method="GET", path=path, body=text)


def secret_item(emu: Emulator, version: str, **attributes: Any) -> dict[str, Any]:
    return {
        "id": f"{emu.vault_url}/secrets/api-pw/{version}",
        "attributes": {"enabled": True, "created": 1764000000, **attributes},
    }


@pytest.mark.parametrize(
    ("attributes", "fragment"),
    [
        ({"enabled": "false"}, "attributes.enabled is 'false' (a string), expected true or false"),
        ({"created": "yesterday"}, "attributes.created is 'yesterday' (a string), expected Unix"),
    ],
)
def test_a_version_attribute_of_the_wrong_type_fails_the_target_and_writes_nothing(
    emu: Emulator, tmp_path: Path, attributes: dict[str, Any], fragment: str
) -> None:
    """ "enabled": "false" or created: "yesterday" is not believed: failed, naming the field."""
    target, version = basic_target(emu)
    page = {"value": [secret_item(emu, version, **attributes)], "nextLink": None}
    answer(emu, "vault", "/secrets/api-pw/versions$", page)
    outcome = rotate(emu, tmp_path, target)
    assert outcome.outcome is Outcome.FAILED
    assert "Key Vault secret 'api-pw': Key Vault's version list: value[0]" in (outcome.reason or "")
    assert fragment in (outcome.reason or "")
    assert graph_writes(emu) == []


@pytest.mark.parametrize(("value", "kind"), [(12345, "a number"), ({"a": 1}, "an object")])
def test_a_secret_value_that_is_not_text_is_never_sent_as_a_password(
    emu: Emulator, tmp_path: Path, value: Any, kind: str
) -> None:
    """A value of 12345 or {"a": 1} ends the target failed; Graph never gets "12345"."""
    target, version = basic_target(emu)
    bundle = {**secret_item(emu, version), "value": value}
    answer(emu, "vault", f"/secrets/api-pw/{version}$", bundle)
    outcome = rotate(emu, tmp_path, target)
    assert outcome.outcome is Outcome.FAILED
    assert f"has 'value' {kind}, expected a string; nothing was sent" in (outcome.reason or "")
    assert graph_writes(emu) == []
    assert not emu.graph.password_matches(target["id"], "12345")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("<html><body>Sign in to continue</body></html>", "version list is not usable JSON"),
        ({"value": "versions", "nextLink": None}, "has 'value' 'versions' (a string)"),
        ([{"id": "x"}], "version list is [{'id': 'x'}] (an array), expected a JSON object"),
    ],
)
def test_a_version_list_that_is_not_one_is_a_status_error_not_an_exception(
    emu: Emulator, tmp_path: Path, body: Any, fragment: str
) -> None:
    """HTML with status 200, 'value' as a string, a JSON array: status answers with the error."""
    target, _ = basic_target(emu)
    answer(emu, "vault", "/secrets/api-pw/versions$", body)
    entry = status(emu, tmp_path, target)
    assert entry.in_sync is None
    assert fragment in (entry.error or "")


@pytest.mark.parametrize(
    ("x5t", "outcome", "fragment"),
    [
        (
            "not-a-thumbprint",
            Outcome.FAILED,
            "x5t is 'not-a-thumbprint' (a string), expected a SHA-1 thumbprint in base64url",
        ),
        (
            base64.urlsafe_b64encode(b"\x11" * 20).decode().rstrip("="),
            Outcome.REFUSED,
            f"lists {'11' * 20} for this version; re-import the certificate",
        ),
    ],
)
def test_a_bad_or_mismatched_x5t_never_reaches_graph(
    emu: Emulator, tmp_path: Path, x5t: str, outcome: Outcome, fragment: str
) -> None:
    """An x5t that is no thumbprint fails the target; one of another certificate is refused."""
    ca = pki.make_ca("Hostile CA")
    (version,) = seed_certificate(emu, "api-cert", ca, [{"age": 1}]).versions
    item = {
        "id": f"{emu.vault_url}/certificates/api-cert/{version}",
        "x5t": x5t,
        "attributes": {"enabled": True, "created": 1764000000},
    }
    answer(emu, "vault", "/certificates/api-cert/versions$", {"value": [item], "nextLink": None})
    connector = emu.graph.add_connector("API", "https://api.test")
    result = rotate(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    assert result.outcome is outcome
    assert fragment in (result.reason or "")
    assert graph_writes(emu) == []


def test_a_next_link_that_leads_back_to_itself_stops_after_the_page_limit(
    emu: Emulator, tmp_path: Path
) -> None:
    """A nextLink pointing at its own page is followed MAX_PAGES times, then the target fails."""
    target, _ = basic_target(emu)
    loop = f"{emu.vault_url}/secrets/api-pw/versions?$skiptoken=again"
    answer(emu, "vault", "/secrets/api-pw/versions$", {"value": [], "nextLink": loop})
    outcome = rotate(emu, tmp_path, target)
    assert outcome.outcome is Outcome.FAILED
    assert f"Key Vault's version list goes on past {MAX_PAGES} pages" in (outcome.reason or "")
    assert len(requests(emu, service="vault", path="/secrets/api-pw/versions")) == MAX_PAGES


@pytest.mark.parametrize(
    ("configuration", "fragment"),
    [
        ("basic", "authenticationConfiguration as a string, expected an object"),
        (["basic"], "authenticationConfiguration as an array, expected an object"),
    ],
)
def test_an_authentication_configuration_of_the_wrong_type_is_a_status_error(
    emu: Emulator, tmp_path: Path, configuration: Any, fragment: str
) -> None:
    """Graph answering authenticationConfiguration as a string or list: status names the field."""
    target, _ = basic_target(emu)
    body = {"id": target["id"], "displayName": "API", "authenticationConfiguration": configuration}
    answer(emu, "graph", f"/apiConnectors/{target['id']}$", body)
    entry = status(emu, tmp_path, target)
    assert entry.in_sync is None
    assert f"connector {target['id']}: Microsoft Graph sent {fragment}" in (entry.error or "")


@pytest.mark.parametrize("not_after", ["garbage", 10**20, "1.5e9"])
def test_a_not_after_that_is_not_a_time_fails_the_rotation(
    emu: Emulator, tmp_path: Path, not_after: Any
) -> None:
    """notAfter of "garbage", 10**20 or "1.5e9" ends the target failed with the field named."""
    target, _ = basic_target(emu)
    certificate = {"thumbprint": "A" * 40, "notBefore": 0, "notAfter": not_after, "isActive": True}
    configuration = {
        "@odata.type": "#microsoft.graph.clientCertificateAuthentication",
        "certificateList": [certificate],
    }
    answer(
        emu,
        "graph",
        f"/apiConnectors/{target['id']}$",
        {"authenticationConfiguration": configuration},
    )
    outcome = rotate(emu, tmp_path, target)
    assert outcome.outcome is Outcome.FAILED
    assert "authenticationConfiguration.certificateList[0].notAfter" in (outcome.reason or "")
    assert graph_writes(emu) == []
