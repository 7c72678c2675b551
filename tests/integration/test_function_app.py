"""The Azure Function as the host sees it: real azure.functions objects, end to end against the emulator."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from rotator.emulator import Emulator, pki
from rotator.functions.service import RotationFailedError
from rotator.state.local import LocalStateStore

from .support import (
    InvocationContext,
    environment,
    graph_writes,
    requests,
    seed_certificate,
    seed_secret,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    """The functions the host indexes (get_functions() may be called once per app)."""
    found: dict[str, Any] = {}
    for function in function_app.app.get_functions():
        name = function.get_function_name()
        assert name is not None, function
        found[name] = function
    return found


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Function CA")


@pytest.fixture
def configure(
    azure_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., None]:
    """Point the function app's settings at the emulator with these connectors."""

    def apply(*connectors: dict[str, Any], **overrides: str) -> None:
        for key, value in environment(
            azure_env, tmp_path / "state", *connectors, **overrides
        ).items():
            monkeypatch.setenv(key, value)

    return apply


def call(functions: dict[str, Any], name: str, *args: Any) -> Any:
    return functions[name].get_user_function()(*args, context=InvocationContext())


def grid_event(
    event_type: str, object_url: str, *, event_id: str | None = None, **data: Any
) -> func.EventGridEvent:
    """An Event Grid schema event as the host hands it over."""
    name, version = object_url.rstrip("/").split("/")[-2:]
    payload = {
        "Id": object_url,
        "VaultName": "kv",
        "ObjectType": "x",
        "ObjectName": name,
        "Version": version,
        "NBF": None,
        "EXP": None,
        **data,
    }
    return func.EventGridEvent(
        id=event_id or str(uuid.uuid4()),
        data=payload,
        topic="/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv",
        subject=name,
        event_type=f"Microsoft.KeyVault.{event_type}",
        event_time=dt.datetime.now(dt.UTC),
        data_version="1",
    )


def cloud_event(event_type: str, object_url: str, **data: Any) -> func.CloudEvent:
    """The same event in the CloudEvents 1.0 schema, camelCase data."""
    name, version = object_url.rstrip("/").split("/")[-2:]
    return func.CloudEvent(
        id=str(uuid.uuid4()),
        source="/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv",
        type=f"Microsoft.KeyVault.{event_type}",
        specversion="1.0",
        data={"id": object_url, "objectName": name, "version": version, **data},
        subject=name,
    )


def http(
    method: str,
    route: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    raw = (
        body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    )
    return func.HttpRequest(
        method,
        f"https://app.azurewebsites.net/api/{route}",
        headers=headers or {},
        params=params or {},
        body=raw,
    )


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The structured data of every rotator event of that name."""
    # `rotator` is set on the record by the log call's extra=, which LogRecord's type cannot know
    return [r.rotator for r in caplog.records if getattr(r, "rotator", {}).get("event") == name]  # type: ignore[attr-defined]


def cert_setup(
    emu: Emulator, ca: pki.Issued, specs: list[dict[str, Any]] | None = None
) -> tuple[str, list[str], list[pki.Issued]]:
    seeded = seed_certificate(emu, "api-cert", ca, specs or [{"age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test")
    return connector, seeded.versions, seeded.leaves


# -- what the host indexes -----------------------------------------------------------------


def test_host_indexes_the_five_functions_with_their_triggers(functions: dict[str, Any]) -> None:
    """Names, trigger types, routes, methods, auth levels and the schedule are what operators rely on."""
    assert set(functions) == {
        "rotate_on_schedule",
        "rotate_on_keyvault_event",
        "rotate_on_keyvault_queue",
        "rotate_now",
        "rotation_status",
    }
    bindings = {
        name: json.loads(f.get_function_json())["bindings"] for name, f in functions.items()
    }
    timer = bindings["rotate_on_schedule"][0]
    assert (timer["type"], timer["schedule"], timer["useMonitor"], timer["runOnStartup"]) == (
        "timerTrigger",
        "0 0 */6 * * *",
        True,
        False,
    )
    assert bindings["rotate_on_keyvault_event"][0]["type"] == "eventGridTrigger"
    queue = bindings["rotate_on_keyvault_queue"][0]
    # the names infra/main.bicep creates: the queue, and the KeyVaultEventsQueue__* settings
    assert (queue["type"], queue["queueName"], queue["connection"], queue["name"]) == (
        "queueTrigger",
        "keyvault-events",
        "KeyVaultEventsQueue",
        "msg",
    )
    for name, route, method in (
        ("rotate_now", "rotate", "POST"),
        ("rotation_status", "status", "GET"),
    ):
        trigger = bindings[name][0]
        assert (trigger["type"], trigger["route"], trigger["methods"], trigger["authLevel"]) == (
            "httpTrigger",
            route,
            [method],
            "FUNCTION",
        )


def test_timer_has_an_exponential_retry_policy(functions: dict[str, Any]) -> None:
    """Function-level retry exists for timers; the reconcile is idempotent, so it is on."""
    policy = functions["rotate_on_schedule"].get_settings_dict("retry_policy")
    assert policy["strategy"] == "exponential_backoff"
    assert policy["max_retry_count"] == "3"


def test_schedule_comes_from_the_app_setting() -> None:
    """ROTATOR_SCHEDULE changes the NCRONTAB the host indexes."""
    code = "import function_app, json; print([json.loads(f.get_function_json())['bindings'][0].get('schedule') for f in function_app.app.get_functions()][0])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "ROTATOR_SCHEDULE": "0 */5 * * * *"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "0 */5 * * * *"


def test_importing_function_app_loads_neither_the_azure_sdk_nor_rotator() -> None:
    """Cold start pays only for azure.functions: the SDK and rotator load on the first call."""
    code = "import sys, function_app; print(sorted(m for m in sys.modules if m.startswith(('azure.identity', 'azure.keyvault', 'httpx', 'cryptography', 'rotator'))))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- timer -----------------------------------------------------------------------------------


def test_timer_reconciles_and_logs_a_summary(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The timer rotates what is behind and logs rotation.run_completed with trigger and counts."""
    connector, _versions, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_schedule",
        TimerRequest(past_due=False, schedule_status={}, schedule={}),
    )
    (summary,) = events(caplog, "rotation.run_completed")
    assert (summary["trigger"], summary["rotated"], summary["failed"]) == ("timer", 1, 0)
    assert any(
        r.getMessage().startswith('rotation.run_completed trigger="timer"') for r in caplog.records
    )
    assert emu.graph.connector(connector).certificates[0].thumbprint


def test_timer_warns_about_a_credential_close_to_expiry(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the newest usable credential expires within the warning window, a WARNING names it."""
    connector, versions, _ = cert_setup(emu, ca, [{"age": 300, "valid": (-300, 10)}])
    configure({"id": connector, "certificate": "api-cert"}, ROTATOR_EXPIRY_WARNING_DAYS="30")
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_schedule",
        TimerRequest(past_due=False, schedule_status={}, schedule={}),
    )
    (warning,) = events(caplog, "rotation.expiry_warning")
    assert (warning["connectorId"], warning["keyVaultObject"], warning["keyVaultVersion"]) == (
        connector,
        "api-cert",
        versions[0],
    )
    assert warning["daysLeft"] in (9, 10)
    assert [
        r.levelname for r in caplog.records if r.getMessage().startswith("rotation.expiry_warning")
    ] == ["WARNING"]


def test_timer_does_not_warn_when_expiry_is_far(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No warning for a credential valid beyond the window."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_schedule",
        TimerRequest(past_due=False, schedule_status={}, schedule={}),
    )
    assert events(caplog, "rotation.expiry_warning") == []


def test_timer_raises_when_a_rotation_failed(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """A failed target makes the run fail, so the host's retry policy runs it again."""
    cert_setup(emu, ca)
    configure({"id": "missing-connector", "certificate": "api-cert"})
    with pytest.raises(RotationFailedError, match="1 connector"):
        call(
            functions,
            "rotate_on_schedule",
            TimerRequest(past_due=False, schedule_status={}, schedule={}),
        )


# -- Key Vault events ------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [grid_event, cloud_event])
def test_new_certificate_version_event_rotates_now(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    schema: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """CertificateNewVersionCreated rotates the bound connector, in either event schema."""
    connector, versions, leaves = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_keyvault_event",
        schema(
            "CertificateNewVersionCreated", f"{emu.vault_url}/certificates/api-cert/{versions[0]}"
        ),
    )
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[0].thumbprint
    ]
    (summary,) = events(caplog, "rotation.run_completed")
    assert summary["trigger"] == "event:CertificateNewVersionCreated"


def test_new_secret_version_event_rotates_the_basic_connector(
    emu: Emulator, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """SecretNewVersionCreated installs the new password."""
    seeded = seed_secret(emu, "api-pw", [{"value": "pw-from-event", "age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="old")
    configure({"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}})
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event(
            "SecretNewVersionCreated", f"{emu.vault_url}/secrets/api-pw/{seeded.versions[0]}"
        ),
    )
    assert emu.graph.password_matches(connector, "pw-from-event")


def test_replayed_event_is_a_no_op(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """Event Grid delivers at least once: the second delivery writes nothing."""
    connector, versions, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    event = grid_event(
        "CertificateNewVersionCreated", f"{emu.vault_url}/certificates/api-cert/{versions[0]}"
    )
    call(functions, "rotate_on_keyvault_event", event)
    emu.clear_journal()
    call(functions, "rotate_on_keyvault_event", event)
    assert graph_writes(emu) == []
    assert requests(emu, service="vault", path="/secrets/") == []


def test_older_event_after_a_newer_one_never_rolls_back(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """Out-of-order delivery: the event for an older version leaves the newest certificate in place."""
    connector, versions, leaves = cert_setup(emu, ca, [{"age": 10}, {"age": 1}])
    configure({"id": connector, "certificate": "api-cert"})
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event(
            "CertificateNewVersionCreated", f"{emu.vault_url}/certificates/api-cert/{versions[1]}"
        ),
    )
    emu.clear_journal()
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event(
            "CertificateNewVersionCreated", f"{emu.vault_url}/certificates/api-cert/{versions[0]}"
        ),
    )
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[1].thumbprint
    ]
    assert graph_writes(emu) == []


def test_event_for_another_vault_is_ignored_with_one_info_line(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event from a vault no target uses touches nothing and logs event_unbound."""
    connector, versions, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    emu.clear_journal()
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event(
            "CertificateNewVersionCreated",
            f"https://other-kv.vault.azure.net/certificates/api-cert/{versions[0]}",
        ),
    )
    assert emu.journal() == []
    assert len(events(caplog, "rotation.event_unbound")) == 1


def test_vault_url_matches_case_insensitively_and_without_trailing_slash(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """The event's vault host in another case still matches the configured vault."""
    connector, versions, leaves = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert", "keyVaultUrl": emu.vault_url + "/"})
    url = f"{emu.vault_url.upper().replace('HTTPS', 'https')}/certificates/API-CERT/{versions[0]}"
    call(functions, "rotate_on_keyvault_event", grid_event("CertificateNewVersionCreated", url))
    assert emu.graph.connector(connector).certificates[0].thumbprint == leaves[0].thumbprint


def test_malformed_event_is_logged_and_not_retried(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed event is logged with its id and reason; the function returns normally."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    event = func.EventGridEvent(
        id="bad-event-1",
        data={"ObjectName": "api-cert"},
        topic="t",
        subject="api-cert",
        event_type="Microsoft.KeyVault.CertificateNewVersionCreated",
        event_time=None,
        data_version="1",
    )
    call(functions, "rotate_on_keyvault_event", event)
    (logged,) = events(caplog, "rotation.event_malformed")
    assert logged["eventId"] == "bad-event-1"
    assert "data.Id is missing" in logged["reason"]


@pytest.mark.parametrize("event_type", ["KeyNewVersionCreated", "VaultAccessPolicyChanged"])
def test_key_and_policy_events_are_ignored(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
    event_type: str,
) -> None:
    """Key events and access-policy changes are acknowledged with an INFO line."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    emu.clear_journal()
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event(event_type, f"{emu.vault_url}/keys/api-cert/{'0' * 32}"),
    )
    assert len(events(caplog, "rotation.event_ignored")) == 1
    assert emu.journal() == []


def test_near_expiry_with_a_newer_version_rotates(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NearExpiry for the installed version rotates to the newer one Key Vault already holds."""
    connector, versions, leaves = cert_setup(
        emu, ca, [{"age": 300, "valid": (-300, 20)}, {"age": 1}]
    )
    emu.graph.install_certificate(connector, leaves[0])
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event("CertificateNearExpiry", f"{emu.vault_url}/certificates/api-cert/{versions[0]}"),
    )
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[1].thumbprint
    ]
    assert events(caplog, "rotation.expiry_warning") == []


def test_near_expiry_without_anything_newer_warns(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NearExpiry when the expiring version is the newest: WARNING rotation.expiry_warning."""
    connector, versions, leaves = cert_setup(emu, ca, [{"age": 300, "valid": (-300, 20)}])
    emu.graph.install_certificate(connector, leaves[0])
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event("CertificateNearExpiry", f"{emu.vault_url}/certificates/api-cert/{versions[0]}"),
    )
    (warning,) = events(caplog, "rotation.expiry_warning")
    assert warning["connectorId"] == connector
    assert warning["daysLeft"] in (19, 20)


def test_expired_without_anything_newer_is_an_error(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Expired with no usable version left: ERROR rotation.expired naming connector and object."""
    connector, versions, leaves = cert_setup(emu, ca, [{"age": 300, "valid": (-300, -1)}])
    emu.graph.install_certificate(connector, leaves[0])
    configure({"id": connector, "certificate": "api-cert"})
    caplog.set_level(logging.INFO, logger="rotator")
    call(
        functions,
        "rotate_on_keyvault_event",
        grid_event("CertificateExpired", f"{emu.vault_url}/certificates/api-cert/{versions[0]}"),
    )
    (expired,) = events(caplog, "rotation.expired")
    assert (expired["connectorId"], expired["keyVaultObject"]) == (connector, "api-cert")
    assert [
        r.levelname for r in caplog.records if r.getMessage().startswith("rotation.expired")
    ] == ["ERROR"]
    assert graph_writes(emu) == []


def test_transient_failure_raises_so_event_grid_redelivers(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """Graph still failing after the client's retries makes the function fail (and Event Grid retry)."""
    connector, versions, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    emu.faults.add(service="graph", method="GET", status=503, retry_after="0")
    with pytest.raises(RotationFailedError, match="delivery will be retried"):
        call(
            functions,
            "rotate_on_keyvault_event",
            grid_event(
                "CertificateNewVersionCreated",
                f"{emu.vault_url}/certificates/api-cert/{versions[0]}",
            ),
        )


# -- HTTP --------------------------------------------------------------------------------------


def test_rotate_now_answers_the_json_report(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """POST /api/rotate for one connector answers 200 with the report."""
    connector, versions, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    response = call(functions, "rotate_now", http("POST", "rotate", {"connectorId": connector}))
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["outcomes"][0]["outcome"] == "rotated"
    assert body["outcomes"][0]["keyVaultVersion"] == versions[0]
    assert body["trigger"] == "http"


def test_forced_emergency_rotation_replaces_and_records_reason_and_principal(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    tmp_path: Path,
) -> None:
    """force on an overlap connector still replaces (the compromised certificate leaves at once)."""
    connector, _versions, leaves = cert_setup(emu, ca)
    emu.graph.install_certificate(connector, pki.make_leaf("compromised", issuer=ca))
    configure({"id": connector, "certificate": "api-cert", "mode": "overlap"})
    response = call(
        functions,
        "rotate_now",
        http(
            "POST",
            "rotate",
            {"connectorId": connector, "force": True, "reason": "INC-1 key leaked"},
            {"x-ms-client-principal-name": "alice@contoso.com"},
        ),
    )
    assert response.status_code == 200, response.get_body()
    assert [c.thumbprint for c in emu.graph.connector(connector).certificates] == [
        leaves[0].thumbprint
    ]
    entry = LocalStateStore(tmp_path / "state").read(connector).history[-1]
    assert (entry.trigger, entry.reason, entry.requested_by) == (
        "http",
        "INC-1 key leaked",
        "alice@contoso.com",
    )


def test_rotate_now_dry_run(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """dryRun answers 200 with outcome dry-run and writes nothing."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    response = call(
        functions, "rotate_now", http("POST", "rotate", {"connectorId": "all", "dryRun": True})
    )
    assert response.status_code == 200
    assert json.loads(response.get_body())["outcomes"][0]["outcome"] == "dry-run"
    assert graph_writes(emu) == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"not json", 400, None),
        ({"connectorId": "CONNECTOR", "force": True}, 400, "reason"),
        ({"connectorId": "all", "version": "abc"}, 400, "version"),
        ({"connectorId": "CONNECTOR", "colour": "red"}, 400, "colour"),
        ({"connectorId": "unknown-connector"}, 404, "connectorId"),
    ],
)
def test_rotate_now_rejects_bad_requests(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    body: Any,
    status: int,
    field: str | None,
) -> None:
    """A bad body gets 400 (or 404 for an unknown connector) naming the field, and changes nothing."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    if isinstance(body, dict):
        body = {k: (connector if v == "CONNECTOR" else v) for k, v in body.items()}
    response = call(functions, "rotate_now", http("POST", "rotate", body))
    assert response.status_code == status
    error = json.loads(response.get_body())["error"]
    assert error.get("field") == field
    assert error["message"]
    assert graph_writes(emu) == []


def test_rotate_now_answers_502_when_a_rotation_failed(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """A failed rotation (Graph 403) is a 502 with the reason and Graph's request-id."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    emu.identity.graph_roles = set()
    response = call(functions, "rotate_now", http("POST", "rotate", {"connectorId": connector}))
    assert response.status_code == 502
    outcome = json.loads(response.get_body())["outcomes"][0]
    assert "APIConnectors.ReadWrite.All" in outcome["reason"]
    assert outcome["requestId"]


def test_rotation_status_reports_without_secrets(
    emu: Emulator, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """GET /api/status answers the status report; the password appears nowhere."""
    seed_secret(emu, "api-pw", [{"value": "status-canary-password", "age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="old")
    configure({"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}})
    call(functions, "rotate_now", http("POST", "rotate", {"connectorId": connector}))
    response = call(functions, "rotation_status", http("GET", "status"))
    assert response.status_code == 200
    text = response.get_body().decode()
    assert json.loads(text)["targets"][0]["inSync"] is True
    assert "status-canary-password" not in text


def test_http_answers_carry_the_fields_of_the_command_lines_json(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """POST /api/rotate names the connector (displayName); GET /api/status carries the same
    fields as `status --json` (displayName, lastOutcome, attention), still 200."""
    from .test_cli import run

    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    rotated = call(functions, "rotate_now", http("POST", "rotate", {"connectorId": connector}))
    assert json.loads(rotated.get_body())["outcomes"][0]["displayName"] == "API"
    response = call(functions, "rotation_status", http("GET", "status"))
    assert response.status_code == 200
    (target,) = json.loads(response.get_body())["targets"]
    assert target["displayName"] == "API"
    assert (target["lastOutcome"]["outcome"], target["lastOutcome"]["trigger"]) == (
        "rotated",
        "http",
    )
    assert target["attention"] == "ok"
    cli = run(dict(os.environ), "status", "--json")
    assert cli.returncode == 0, cli.stderr
    (from_cli,) = json.loads(cli.stdout)["targets"]
    assert set(from_cli) == set(target)
    assert from_cli["lastOutcome"] == target["lastOutcome"]


def test_rotation_status_answers_the_page_to_a_browser(
    emu: Emulator, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """GET /api/status with a browser's Accept header answers the HTML page with a CSP that
    forbids scripts and fetches; the password appears nowhere."""
    seed_secret(emu, "api-pw", [{"value": "page-canary-password", "age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="old")
    configure({"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}})
    call(functions, "rotate_now", http("POST", "rotate", {"connectorId": connector}))
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = call(
        functions, "rotation_status", http("GET", "status", headers={"Accept": browser})
    )
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_body().decode()
    assert page.startswith("<!DOCTYPE html>")
    assert f'data-connector="{connector}" data-attention="ok"' in page
    assert "page-canary-password" not in page


def test_the_http_status_page_has_the_overview_most_urgent_first(
    emu: Emulator, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """GET /api/status?format=html renders the same overview as `status --html`: the connector
    that is behind first, each row named by Graph's display name and linking to its card."""
    seed_secret(emu, "pw-a", [{"value": "a" * 20, "age": 1}])
    seed_secret(emu, "pw-b", [{"value": "b" * 20, "age": 1}])
    ok = emu.graph.add_connector("Orders API", "https://a.test", username="svc", password="old")
    behind = emu.graph.add_connector("Profile API", "https://b.test", username="svc", password="o")
    configure(
        {"id": ok, "basic": {"username": "svc", "passwordSecret": "pw-a"}},
        {"id": behind, "basic": {"username": "svc", "passwordSecret": "pw-b"}},
    )
    call(functions, "rotate_now", http("POST", "rotate", {"connectorId": ok}))
    page = call(functions, "rotation_status", http("GET", "status", params={"format": "html"}))
    text = page.get_body().decode()
    rows = re.findall(r'<tr class="\w+" data-attention="(\w+)" data-target="([^"]+)">', text)
    assert rows == [("behind", behind), ("ok", ok)]
    cards = re.findall(r'<section class="card \w+" id="([\w-]+)" data-connector="([^"]+)"', text)
    assert [c for _, c in cards] == [behind, ok]
    for anchor, _ in cards:
        assert f'<a href="#{anchor}">' in text
    assert f'<a href="#connector-{behind}">Profile API</a>' in text
    assert f'<a href="#connector-{ok}">Orders API</a>' in text


def test_rotation_status_format_parameter_chooses_html_or_json(
    emu: Emulator, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """?format=html answers the page to any client; ?format=json the report even to a browser;
    curl's */* gets JSON."""
    seed_secret(emu, "api-pw", [{"value": "x" * 20, "age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="old")
    configure({"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}})
    page = call(functions, "rotation_status", http("GET", "status", params={"format": "html"}))
    assert page.mimetype == "text/html"
    forced = call(
        functions,
        "rotation_status",
        http("GET", "status", headers={"Accept": "text/html"}, params={"format": "json"}),
    )
    assert json.loads(forced.get_body())["targets"][0]["connectorId"] == connector
    curl = call(functions, "rotation_status", http("GET", "status", headers={"Accept": "*/*"}))
    assert curl.mimetype == "application/json"


def test_the_status_page_forbids_framing_in_its_csp_header(
    emu: Emulator, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """GET /api/status?format=html sends frame-ancestors 'none' in a real CSP header (a <meta>
    policy cannot carry it), so no other site can frame the page; it loads and runs nothing."""
    seed_secret(emu, "api-pw", [{"value": "x" * 20, "age": 1}])
    connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="old")
    configure({"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}})
    page = call(functions, "rotation_status", http("GET", "status", params={"format": "html"}))
    policy = [part.strip() for part in page.headers["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy


def test_configuration_error_is_a_500_with_the_reason(
    functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken ROTATOR_CONFIG answers 500 saying what is wrong, not a traceback."""
    monkeypatch.setenv("ROTATOR_CONFIG", "{broken")
    response = call(functions, "rotation_status", http("GET", "status"))
    assert response.status_code == 500
    assert "not valid JSON" in json.loads(response.get_body())["error"]["message"]


def test_rotate_now_answers_409_while_another_rotation_holds_the_connector(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    tmp_path: Path,
) -> None:
    """A manual call during the timer's rotation of the same connector: 409, skipped, no write."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    with LocalStateStore(tmp_path / "state").lease(connector):
        response = call(functions, "rotate_now", http("POST", "rotate", {"connectorId": connector}))
    assert response.status_code == 409
    outcome = json.loads(response.get_body())["outcomes"][0]
    assert outcome["outcome"] == "skipped"
    assert "rotation in progress" in outcome["reason"]
    assert graph_writes(emu) == []


def test_rotation_status_check_runs_the_preflight(
    emu: Emulator, ca: pki.Issued, functions: dict[str, Any], configure: Callable[..., None]
) -> None:
    """GET /api/status?check=true answers rotator check's report and writes nothing."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    emu.identity.graph_roles = set()
    response = call(functions, "rotation_status", http("GET", "status", params={"check": "true"}))
    assert response.status_code == 200
    report = json.loads(response.get_body())
    assert report["ok"] is False
    assert "APIConnectors.ReadWrite.All" in response.get_body().decode()
    assert graph_writes(emu) == []


EVENT_EFFECTS = {
    "CertificateNewVersionCreated": "rotated",
    "SecretNewVersionCreated": "rotated",
    "CertificateNearExpiry": "rotation.expiry_warning",
    "SecretNearExpiry": "rotation.expiry_warning",
    "CertificateExpired": "rotation.expired",
    "SecretExpired": "rotation.expired",
}


@pytest.mark.parametrize("schema", [grid_event, cloud_event], ids=["eventgrid", "cloudevents"])
@pytest.mark.parametrize("event_type", list(EVENT_EFFECTS))
def test_every_handled_event_type_in_both_schemas(
    emu: Emulator,
    ca: pki.Issued,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
    event_type: str,
    schema: Callable[..., Any],
) -> None:
    """Each of the six Key Vault event types, in either schema, does what the README says."""
    caplog.set_level(logging.INFO, logger="rotator")
    if event_type.startswith("Certificate"):
        valid = {"NewVersionCreated": (-1, 365), "NearExpiry": (-300, 20), "Expired": (-300, -1)}
        spec = valid[event_type.removeprefix("Certificate")]
        connector, versions, _ = cert_setup(emu, ca, [{"age": 300, "valid": spec}])
        configure({"id": connector, "certificate": "api-cert"})
        url = f"{emu.vault_url}/certificates/api-cert/{versions[0]}"
    else:
        expired = event_type == "SecretExpired"
        seeded = seed_secret(emu, "api-pw", [{"value": "pw-event", "age": 1, "expired": expired}])
        if event_type == "SecretNearExpiry":  # a secret expiring in 20 days, nothing newer
            emu.reset()
            seeded.versions[:] = [
                emu.vault.add_secret_version(
                    "api-pw", "pw-event", expires_on=pki.utcnow() + dt.timedelta(days=20)
                )
            ]
        connector = emu.graph.add_connector("API", "https://api.test", username="svc", password="o")
        configure({"id": connector, "basic": {"username": "svc", "passwordSecret": "api-pw"}})
        url = f"{emu.vault_url}/secrets/api-pw/{seeded.versions[0]}"
    call(functions, "rotate_on_keyvault_event", schema(event_type, url))
    effect = EVENT_EFFECTS[event_type]
    if effect == "rotated":
        (summary,) = events(caplog, "rotation.run_completed")
        assert (summary["trigger"], summary["rotated"]) == (f"event:{event_type}", 1)
    else:
        (alert,) = events(caplog, effect)
        assert alert["connectorId"] == connector


# -- hostile sizes and nesting (issue 9, class 6) ------------------------------------------


@pytest.fixture
def one_connector(emu: Emulator, ca: pki.Issued, configure: Callable[..., None]) -> str:
    """One certificate connector configured, its certificate in Key Vault; its id."""
    connector, _, _ = cert_setup(emu, ca)
    configure({"id": connector, "certificate": "api-cert"})
    return connector


def test_rotate_now_answers_400_to_a_body_nested_1000_levels(
    emu: Emulator, functions: dict[str, Any], one_connector: str
) -> None:
    """A 2 KB body nested 1000 levels deep is a short 400, not a RecursionError and a 500."""
    raw = b'{"connectorId": "all", "reason": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = call(functions, "rotate_now", http("POST", "rotate", raw))
    assert response.status_code == 400
    assert json.loads(response.get_body())["error"] == {
        "code": "badRequest",
        "message": "the body must be a JSON object (nested deeper than 32 levels)",
    }
    assert graph_writes(emu) == []


def test_rotate_now_answers_413_to_a_body_over_the_limit(
    emu: Emulator, functions: dict[str, Any], one_connector: str
) -> None:
    """A 5 MB body is refused with 413 and a one-line message, before it is parsed."""
    raw = json.dumps({"connectorId": one_connector, "reason": "r" * 5_000_000}).encode()
    response = call(functions, "rotate_now", http("POST", "rotate", raw))
    assert response.status_code == 413
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "payloadTooLarge"
    assert error["message"] == f"the body is larger than 65536 bytes ({len(raw)} bytes)"


def test_rotate_now_echoes_a_huge_unknown_field_cut_short(
    emu: Emulator, functions: dict[str, Any], one_connector: str
) -> None:
    """A 60 KB unknown field name comes back as 200 characters and its length: a short 400."""
    body = {"connectorId": one_connector, "u" * 60_000: True}
    response = call(functions, "rotate_now", http("POST", "rotate", body))
    assert response.status_code == 400
    assert len(response.get_body()) < 1000
    assert json.loads(response.get_body())["error"]["field"] == "u" * 200 + "… (60000 characters)"


def test_an_event_with_a_huge_id_is_logged_on_a_short_line(
    emu: Emulator,
    functions: dict[str, Any],
    configure: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 2 MB event id is logged as 200 characters and its length, not as a 4 MB line."""
    caplog.set_level(logging.INFO, logger="rotator")
    configure({"id": emu.graph.add_connector("API", "https://api.test"), "certificate": "c"})
    key_event = grid_event(
        "KeyNewVersionCreated", f"{emu.vault_url}/keys/k/{'0' * 32}", event_id="i" * 2_000_000
    )
    call(functions, "rotate_on_keyvault_event", key_event)
    (ignored,) = events(caplog, "rotation.event_ignored")
    assert ignored["eventId"] == "i" * 200 + "… (2000000 characters)"
    assert max(len(r.getMessage()) for r in caplog.records) < 2000
