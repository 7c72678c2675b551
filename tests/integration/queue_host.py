"""A stand-in for the Functions host's queue listener, driving a handler of function_app.py
against Azurite's queue service (no Functions host runs here: shared/spec/platform.md).

What the host does with each message, as documented and as its listener is written:

- it takes a message with a visibility timeout, so no other instance sees it while the function
  runs, and the service counts the dequeue (``dequeueCount``);
- the function returns: the message is deleted;
- the function raises and ``dequeueCount`` < host.json ``maxDequeueCount``: the message becomes
  visible again after host.json ``visibilityTimeout`` (default zero) and is tried again;
- the function raises on the last allowed dequeue: the message is copied to the queue
  ``<queue>-poison`` (created if missing) and deleted;
- host.json ``messageEncoding`` ``base64`` (the default) decodes the text before the function
  sees it; ``none`` hands it over as stored.

Sources: learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger
("Poison messages", "Peek lock"), functions-bindings-storage-queue ("host.json settings":
maxDequeueCount 5, visibilityTimeout 00:00:00, messageEncoding base64 | none), and the WebJobs
SDK's ``QueueListener.ProcessMessageAsync`` (Azure/azure-webjobs-sdk: delete on success; on
failure ``DequeueCount >= MaxDequeueCount`` → copy to the poison queue and delete, else release).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from .support import InvocationContext

REPO = Path(__file__).resolve().parents[2]
# What the host holds a message for while the function runs (the WebJobs listener's 10 minutes).
RUN_VISIBILITY_SECONDS = 600


@dataclass(frozen=True)
class QueueSettings:
    """host.json ``extensions.queues``, with the documented defaults for what it leaves out."""

    max_dequeue_count: int = 5
    visibility_timeout_seconds: int = 0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, path: Path = REPO / "host.json") -> QueueSettings:
        queues = (
            json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
        )
        hours, minutes, seconds = queues.get("visibilityTimeout", "00:00:00").split(":")
        return cls(
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout_seconds=int(hours) * 3600 + int(minutes) * 60 + int(seconds),
            message_encoding=queues.get("messageEncoding", "base64"),
        )


@dataclass(frozen=True)
class Delivery:
    """One invocation: the message, its dequeue count, and the exception it raised (or None)."""

    message_id: str
    dequeue_count: int
    error: BaseException | None
    poisoned: bool = False


@dataclass
class QueueHost:
    """The listener for one queue and one handler (``function(msg, context=...)``).

    ``retry_after_seconds`` replaces host.json's visibilityTimeout so that a test does not wait
    for it (None keeps host.json's value)."""

    service: QueueServiceClient
    queue_name: str
    function: Callable[..., Any]
    settings: QueueSettings = field(default_factory=QueueSettings.from_host_json)
    retry_after_seconds: int | None = 0
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def queue(self) -> QueueClient:
        return self.service.get_queue_client(self.queue_name)

    @property
    def poison_queue(self) -> QueueClient:
        return self.service.get_queue_client(f"{self.queue_name}-poison")

    def run_once(self) -> Delivery | None:
        """Take one visible message (batchSize 1), invoke the function, settle the message."""
        message = self.queue.receive_message(visibility_timeout=RUN_VISIBILITY_SECONDS)
        if message is None:
            return None
        text: str = message.content
        try:
            body = self._decode(text)
            self.function(
                QueueMessage(  # type: ignore[no-untyped-call]  # the worker's class, untyped
                    id=message.id,
                    body=body,
                    dequeue_count=message.dequeue_count,
                    pop_receipt=message.pop_receipt,
                ),
                context=InvocationContext(),
            )
        except Exception as exc:  # what the host catches: any failure of binding or function
            delivery = self._failed(message, text, exc)
        else:
            self.queue.delete_message(message.id, message.pop_receipt)
            delivery = Delivery(message.id, int(message.dequeue_count or 0), None)
        self.deliveries.append(delivery)
        return delivery

    def run_until_idle(self, *, timeout: float = 30.0) -> list[Delivery]:
        """Process messages until none is visible (polling, no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        done: list[Delivery] = []
        while time.monotonic() < deadline:
            delivery = self.run_once()
            if delivery is None:
                return done
            done.append(delivery)
        raise AssertionError(f"queue {self.queue_name} still busy after {timeout} s: {done}")

    def _decode(self, text: str) -> bytes:
        if self.settings.message_encoding == "none":
            return text.encode("utf-8")
        return base64.b64decode(text, validate=True)  # binding fails: counts as a failed run

    def _failed(self, message: Any, text: str, exc: BaseException) -> Delivery:
        if int(message.dequeue_count or 0) >= self.settings.max_dequeue_count:
            poison = self.poison_queue
            try:
                poison.create_queue()
            except Exception as create_error:  # already there
                if "QueueAlreadyExists" not in str(create_error):
                    raise
            poison.send_message(text)
            self.queue.delete_message(message.id, message.pop_receipt)
            return Delivery(message.id, message.dequeue_count, exc, poisoned=True)
        delay = (
            self.settings.visibility_timeout_seconds
            if self.retry_after_seconds is None
            else self.retry_after_seconds
        )
        self.queue.update_message(message.id, message.pop_receipt, visibility_timeout=delay)
        return Delivery(message.id, message.dequeue_count, exc)
