"""Key Vault events through a Storage queue (issue 22), end to end: Azurite's queue service,
a stand-in for the host's queue listener (queue_host.py), ``rotate_on_keyvault_queue`` from
function_app.py, and the emulator's Key Vault and Graph."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueServiceClient

import function_app
from rotator.emulator import Emulator, pki
from rotator.functions.queue_message import QueueMessageError
from rotator.functions.service import RotationFailedError

from .conftest import AZURITE_ACCOUNT, AZURITE_KEY, start_azurite, stop_group
from .queue_host import QueueHost, QueueSettings
from .support import environment, graph_writes, seed_certificate

QUEUE = function_app.KEYVAULT_EVENTS_QUEUE
POISON = f"{QUEUE}-poison"
TOPIC = "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv"


@pytest.fixture(scope="module")
def azurite_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's queue service on a loopback port it picked; yields its connection string."""
    process, port = start_azurite(tmp_path_factory.mktemp("azurite-queue"), "queue")
    try:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        stop_group(process)


@pytest.fixture
def queues(azurite_queue: str) -> QueueServiceClient:
    """The service with ``keyvault-events`` empty and no poison queue (as after a deployment)."""
    service = QueueServiceClient.from_connection_string(azurite_queue)
    for name in (QUEUE, POISON):
        try:
            service.delete_queue(name)
        except Exception as exc:  # not there yet
            if "QueueNotFound" not in str(exc):
                raise
    service.create_queue(QUEUE)
    return service


@pytest.fixture
def host(queues: QueueServiceClient) -> QueueHost:
    """The listener as host.json configures it, retrying at once instead of after visibilityTimeout."""
    return QueueHost(queues, QUEUE, function_app.rotate_on_keyvault_queue, retry_after_seconds=0)


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Queue CA")


@dataclass
class Scene:
    """A connector bound to certificate api-cert (two versions in Key Vault, none in Graph yet),
    the function app's settings pointed at the emulator, the queues and the listener."""

    emu: Emulator
    connector_id: str
    versions: list[str]
    leaves: list[pki.Issued]
    queues: QueueServiceClient
    host: QueueHost

    def put(self, message: dict[str, Any] | str, *, encoding: str = "base64") -> None:
        put(self.queues, message, encoding=encoding)

    def event(self, version: int, *, event_id: str | None = None) -> dict[str, Any]:
        return grid_event(self.emu, self.versions[version], event_id=event_id)

    def installed(self) -> list[str]:
        return [c.thumbprint for c in self.emu.graph.connector(self.connector_id).certificates]


@pytest.fixture
def scene(
    azure_env: Emulator,
    ca: pki.Issued,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    queues: QueueServiceClient,
    host: QueueHost,
) -> Scene:
    seeded = seed_certificate(azure_env, "api-cert", ca, [{"age": 10}, {"age": 1}])
    connector_id = azure_env.graph.add_connector("API", "https://api.test")
    for key, value in environment(
        azure_env, tmp_path / "state", {"id": connector_id, "certificate": "api-cert"}
    ).items():
        monkeypatch.setenv(key, value)
    return Scene(azure_env, connector_id, seeded.versions, seeded.leaves, queues, host)


def grid_event(emu: Emulator, version: str, *, event_id: str | None = None) -> dict[str, Any]:
    """A CertificateNewVersionCreated event in the Event Grid schema, as the system topic sends it."""
    now = dt.datetime.now(dt.UTC)
    return {
        "id": event_id or str(uuid.uuid4()),
        "topic": TOPIC,
        "subject": "api-cert",
        "eventType": "Microsoft.KeyVault.CertificateNewVersionCreated",
        "eventTime": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "Id": f"{emu.vault_url}/certificates/api-cert/{version}",
            "VaultName": "kv",
            "ObjectType": "Certificate",
            "ObjectName": "api-cert",
            "Version": version,
            "NBF": int(now.timestamp()) - 86400,
            "EXP": int(now.timestamp()) + 365 * 86400,
        },
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def cloud_event(emu: Emulator, version: str) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema (eventDeliverySchema CloudEventSchemaV1_0)."""
    return {
        "id": str(uuid.uuid4()),
        "source": TOPIC,
        "specversion": "1.0",
        "type": "Microsoft.KeyVault.CertificateNewVersionCreated",
        "subject": "api-cert",
        "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "id": f"{emu.vault_url}/certificates/api-cert/{version}",
            "vaultName": "kv",
            "objectType": "Certificate",
            "objectName": "api-cert",
            "version": version,
            "nbf": None,
            "exp": None,
        },
    }


def put(service: QueueServiceClient, message: dict[str, Any] | str, *, encoding: str) -> None:
    """Write a message as Event Grid does: one event as JSON, base64-encoded or as plain text
    (the sources disagree on which: see rotator/functions/queue_message.py)."""
    text = message if isinstance(message, str) else json.dumps(message)
    if encoding == "base64":
        text = base64.b64encode(text.encode("utf-8")).decode("ascii")
    service.get_queue_client(QUEUE).send_message(text)


def messages(service: QueueServiceClient, name: str) -> list[str]:
    """The texts left in queue ``name`` (peeked, not dequeued)."""
    client = service.get_queue_client(name)
    try:
        return [m.content for m in client.peek_messages(max_messages=32)]
    except Exception as exc:
        if "QueueNotFound" in str(exc):
            return []
        raise


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    # `rotator` is set on the record by the log call's extra=, which LogRecord's type cannot know
    return [r.rotator for r in caplog.records if getattr(r, "rotator", {}).get("event") == name]  # type: ignore[attr-defined]


def test_host_json_reads_the_queue_as_event_grid_writes_it() -> None:
    """messageEncoding none (the function decodes base64 itself), 5 dequeues, retries spaced out."""
    settings = QueueSettings.from_host_json()
    assert settings == QueueSettings(
        max_dequeue_count=5, visibility_timeout_seconds=300, message_encoding="none"
    )


@pytest.mark.parametrize("encoding", ["base64", "plain"])
def test_event_written_to_the_queue_rotates_the_connector(
    scene: Scene,
    encoding: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An Event Grid schema event on the queue installs the newest certificate; the message is gone."""
    caplog.set_level(logging.INFO, logger="rotator")
    scene.put(scene.event(1), encoding=encoding)
    (delivery,) = scene.host.run_until_idle()
    assert delivery.error is None
    assert scene.installed() == [scene.leaves[1].thumbprint]
    assert messages(scene.queues, QUEUE) == []
    assert messages(scene.queues, POISON) == []
    (summary,) = events(caplog, "rotation.run_completed")
    assert summary["trigger"] == "event:CertificateNewVersionCreated"


def test_cloud_event_on_the_queue_rotates_the_connector(
    scene: Scene,
) -> None:
    """A CloudEvents 1.0 message (camelCase data, null NBF/EXP) rotates like the Event Grid schema."""
    scene.put(cloud_event(scene.emu, scene.versions[1]))
    (delivery,) = scene.host.run_until_idle()
    assert delivery.error is None
    assert scene.installed() == [scene.leaves[1].thumbprint]


def test_malformed_message_is_poisoned_without_stopping_the_next_event(
    scene: Scene,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A message with no event fails maxDequeueCount times, lands in keyvault-events-poison as it
    was written, and the good event behind it still rotates."""
    garbage = base64.b64encode(b"<xml>not an event</xml>").decode("ascii")
    scene.queues.get_queue_client(QUEUE).send_message(garbage)
    scene.put(scene.event(1))
    deliveries = scene.host.run_until_idle()
    failed = [d for d in deliveries if d.error is not None]
    assert [d.dequeue_count for d in failed] == [1, 2, 3, 4, 5]
    assert all(isinstance(d.error, QueueMessageError) for d in failed)
    assert [d.poisoned for d in failed] == [False, False, False, False, True]
    assert messages(scene.queues, POISON) == [garbage]
    assert messages(scene.queues, QUEUE) == []
    assert scene.installed() == [scene.leaves[1].thumbprint]
    malformed = events(caplog, "rotation.event_malformed")
    assert [m["dequeueCount"] for m in malformed] == [1, 2, 3, 4, 5]
    assert {m["delivery"] for m in malformed} == {"queue"}
    assert "base64 of something other than JSON" in malformed[0]["reason"]


def test_event_with_unreadable_key_vault_data_is_poisoned(
    scene: Scene,
) -> None:
    """A well-formed envelope whose data names no Key Vault object is poisoned, nothing written."""
    event = scene.event(1)
    event["data"]["Id"] = "https://evil.test/not/a/vault/object"
    scene.put(event)
    deliveries = scene.host.run_until_idle()
    assert deliveries[-1].poisoned
    assert len(messages(scene.queues, POISON)) == 1
    assert scene.installed() == []
    assert graph_writes(scene.emu) == []


def test_redelivered_event_does_no_second_write(
    scene: Scene,
) -> None:
    """Event Grid delivers at least once: the same event twice writes to Graph once."""
    event = scene.event(1, event_id="same-event")
    scene.put(event)
    scene.put(event)
    first = scene.host.run_once()
    assert first is not None
    assert first.error is None
    scene.emu.clear_journal()
    second = scene.host.run_once()
    assert second is not None
    assert second.error is None
    assert graph_writes(scene.emu) == []
    assert scene.installed() == [scene.leaves[1].thumbprint]


def test_event_for_an_older_version_after_a_newer_one_never_rolls_back(
    scene: Scene,
) -> None:
    """Out-of-order messages: the older version's event leaves the newest certificate installed."""
    scene.put(scene.event(1))
    scene.put(scene.event(0))
    deliveries = scene.host.run_until_idle()
    assert [d.error for d in deliveries] == [None, None]
    assert scene.installed() == [scene.leaves[1].thumbprint]


def test_transient_failure_leaves_the_message_for_the_next_try(
    scene: Scene,
) -> None:
    """Graph failing makes the run raise; the message stays, and the next dequeue rotates."""
    scene.emu.faults.add(service="graph", method="GET", status=503, retry_after="0", times=4)
    scene.put(scene.event(1))
    first = scene.host.run_once()
    assert first is not None
    assert isinstance(first.error, RotationFailedError)
    assert not first.poisoned
    assert scene.host.run_until_idle()[-1].error is None
    assert scene.installed() == [scene.leaves[1].thumbprint]
    assert messages(scene.queues, POISON) == []


def test_listener_without_a_poison_queue_creates_it(queues: QueueServiceClient) -> None:
    """The driver behaves like the host: the poison queue is created on the first poisoned message."""
    calls: list[int] = []

    def always_fails(msg: Any, *, context: Any) -> None:
        calls.append(msg.dequeue_count)
        raise ValueError("boom")

    queues.get_queue_client(QUEUE).send_message("x")
    stub = QueueHost(queues, QUEUE, always_fails, QueueSettings(2, 0, "none"))
    deliveries: list[Any] = stub.run_until_idle()
    assert calls == [1, 2]
    assert deliveries[-1].poisoned
    assert messages(queues, POISON) == ["x"]


def test_a_host_that_decodes_base64_itself_still_rotates(scene: Scene) -> None:
    """Were host.json's messageEncoding ignored (the default base64), the function would get the
    decoded JSON of Event Grid's base64 message and rotate all the same."""
    scene.host.settings = QueueSettings(5, 0, "base64")
    scene.put(scene.event(1), encoding="base64")
    (delivery,) = scene.host.run_until_idle()
    assert delivery.error is None
    assert scene.installed() == [scene.leaves[1].thumbprint]
