"""Azure Functions bindings (Python v2 model): timer, Key Vault events (Event Grid or a Storage
queue), HTTP.

Thin on purpose: each function turns the host's input into arguments for ``rotator.functions.service``
and its result into a log line or an HTTP response. rotator itself (and the Azure SDK behind it)
is imported on the first invocation, not when the host indexes this file, so a cold start pays
only for ``azure.functions``.
"""

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

if TYPE_CHECKING:
    from rotator.rotation import Rotator

DEFAULT_SCHEDULE = "0 0 */6 * * *"  # every 6 hours
# The queue the vault's system topic writes to when infra/main.bicep's eventDelivery is
# 'storageQueue', and the prefix of its identity-based connection settings
# (KeyVaultEventsQueue__queueServiceUri, __credential=managedidentity, __clientId):
# learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger
# ("Identity-based connections"). Failed messages go to "<queue>-poison" (same page).
KEYVAULT_EVENTS_QUEUE = "keyvault-events"
KEYVAULT_EVENTS_CONNECTION = "KeyVaultEventsQueue"

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

# rotator's events at INFO reach Application Insights; the Azure SDK's per-request INFO lines do not.
logging.getLogger("rotator").setLevel(logging.INFO)
logging.getLogger("azure").setLevel(logging.WARNING)

_lock = threading.Lock()
_cached: "tuple[Any, Rotator] | None" = None


def _rotator() -> "Rotator":
    """The process's Rotator, rebuilt only when the settings change (they are re-read each call)."""
    global _cached
    from rotator.config.settings import Settings
    from rotator.rotation import Rotator

    settings = Settings.from_env()
    with _lock:
        if _cached is None or _cached[0] != settings:
            # The previous Rotator may still serve a concurrent invocation: let it be collected.
            _cached = (settings, Rotator.from_settings(settings))
        return _cached[1]


def _worker_init(context: func.Context) -> "Callable[[], None]":
    """Tie the logs of rotator's worker threads to this invocation: the Python worker ships only
    logs it can attribute (Functions Python developer guide, "Logging from threads")."""

    def init() -> None:
        # typed as type[threading.local] by azure-functions; it is the worker's thread-local
        context.thread_local_storage.invocation_id = context.invocation_id  # type: ignore[attr-defined]

    return init


def _json_response(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2), status_code=status, mimetype="application/json"
    )


def _configuration_error(exc: Exception) -> func.HttpResponse:
    logging.getLogger("rotator").error("rotation.configuration_error %s", exc)
    return _json_response(500, {"error": {"code": "configurationError", "message": str(exc)}})


@app.function_name("rotate_on_schedule")
@app.timer_trigger(
    schedule=os.environ.get("ROTATOR_SCHEDULE", DEFAULT_SCHEDULE),
    arg_name="timer",
    run_on_startup=False,
    use_monitor=True,
)
@app.retry(
    strategy="exponential_backoff",
    max_retry_count="3",
    minimum_interval="00:00:30",
    maximum_interval="00:10:00",
)
def rotate_on_schedule(timer: func.TimerRequest, context: func.Context) -> None:
    """Reconcile every connector with Key Vault; warn about credentials close to expiry."""
    from rotator.functions import service

    report = service.run_timer(_rotator(), worker_init=_worker_init(context))
    failed = report.counts["failed"]
    if failed:  # the host's retry policy runs the (idempotent) reconcile again
        raise service.RotationFailedError(
            f"{failed} connector(s) failed; see rotation.target_completed"
        )


@app.function_name("rotate_on_keyvault_event")
@app.event_grid_trigger(arg_name="event")
def rotate_on_keyvault_event(event: func.EventGridEvent, context: func.Context) -> None:
    """Rotate the connectors bound to the vault object of a Key Vault event (either schema)."""
    from rotator.functions import service

    event_type = event.type if isinstance(event, func.CloudEvent) else event.event_type
    service.run_event(
        _rotator(),
        event_id=event.id,
        event_type=event_type,
        data=event.get_json(),
        worker_init=_worker_init(context),
    )


@app.function_name("rotate_on_keyvault_queue")
@app.queue_trigger(
    arg_name="msg", queue_name=KEYVAULT_EVENTS_QUEUE, connection=KEYVAULT_EVENTS_CONNECTION
)
def rotate_on_keyvault_queue(msg: func.QueueMessage, context: func.Context) -> None:
    """The same handling as ``rotate_on_keyvault_event``, for the events Event Grid writes to the
    queue. A message that holds no Key Vault event raises: the host retries it and then moves it
    to ``keyvault-events-poison`` (host.json ``extensions.queues``)."""
    from rotator.functions import service

    service.run_queue_message(
        _rotator(),
        msg.get_body(),
        message_id=msg.id,
        dequeue_count=msg.dequeue_count,
        worker_init=_worker_init(context),
    )


@app.function_name("rotate_now")
@app.route(route="rotate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def rotate_now(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Manual or emergency rotation: ``{"connectorId", "force", "dryRun", "version", "reason"}``."""
    from rotator.errors import ConfigurationError
    from rotator.functions import service

    try:
        answer = service.run_http_rotate(
            _rotator(), req.get_body(), dict(req.headers), worker_init=_worker_init(context)
        )
    except ConfigurationError as exc:
        return _configuration_error(exc)
    return _json_response(answer.status, answer.body)


@app.function_name("rotation_status")
@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def rotation_status(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Per connector: what Graph holds, the newest usable Key Vault version, days to expiry;
    with ``?check=true`` the preflight of ``rotator check`` (what is missing, and the fix); for
    a browser (``Accept: text/html``) or ``?format=html`` the status page."""
    from rotator.errors import ConfigurationError
    from rotator.functions import service

    check = req.params.get("check", "").lower() in ("1", "true", "yes")
    try:
        if not check and service.wants_html(req.headers.get("accept"), req.params.get("format")):
            page = service.run_http_status_page(_rotator(), worker_init=_worker_init(context))
            return func.HttpResponse(
                page.html, status_code=page.status, mimetype="text/html", headers=page.headers
            )
        answer = service.run_http_status(_rotator(), check=check, worker_init=_worker_init(context))
    except ConfigurationError as exc:
        return _configuration_error(exc)
    return _json_response(answer.status, answer.body)
