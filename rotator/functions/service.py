"""What each trigger does, independent of Azure Functions: timer, Key Vault event, HTTP calls.

``function_app.py`` turns the host's objects into the arguments here and the results back into
log lines or HTTP responses; every rule lives here so it can be tested without a host.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotator.errors import RotatorError
from rotator.events import emit
from rotator.functions.queue_message import QueueMessageError, parse_queue_message
from rotator.functions.triggers import (
    HANDLED_EVENT_TYPES,
    EventError,
    EventKind,
    KeyVaultEvent,
    RequestError,
    parse_keyvault_event,
    parse_rotate_request,
    targets_for_event,
)
from rotator.model import (
    Outcome,
    PolicyKeyTarget,
    RotationReport,
    RotationRequest,
    TargetKind,
    TargetOutcome,
)
from rotator.rotation import Rotator, WorkerInit, utcnow
from rotator.steps import policy
from rotator.text import truncate

log = logging.getLogger("rotator")


class RotationFailedError(RotatorError):
    """A run had failed targets; raised by event handling so Event Grid delivers again."""


@dataclass(frozen=True)
class HtmlAnswer:
    """An HTTP status, an HTML page (no secret in it) and the headers that go with it."""

    status: int
    html: str
    headers: dict[str, str]


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP status and JSON body, free of any secret."""

    status: int
    body: dict[str, Any]


def run_timer(
    rotator: Rotator,
    *,
    now: dt.datetime | None = None,
    worker_init: WorkerInit | None = None,
) -> RotationReport:
    """Reconcile every target; warn for each whose newest credential expires within
    ``ROTATOR_EXPIRY_WARNING_DAYS`` with nothing newer in Key Vault."""
    warning_days = rotator.settings.expiry_warning_days
    # each identity first keeps its own Graph credential alive (the rotations use it), in its
    # own worker: a tenant that is slow to answer delays only its own connectors
    report = rotator.rotate(
        RotationRequest(trigger="timer"),
        worker_init=worker_init,
        before_identity=lambda name: rotator.keep_alive([name]),
    )
    now = now or utcnow()
    for outcome in report.outcomes:  # whatever the outcome: a held lease must not hide an expiry
        if outcome.expires_on is not None:
            days = policy.days_until(outcome.expires_on, now)
            if days is not None and days < warning_days:
                _expiry_event(outcome, logging.WARNING, "rotation.expiry_warning", days)
    return report


def run_event(
    rotator: Rotator,
    *,
    event_id: str,
    event_type: str,
    data: Any,
    worker_init: WorkerInit | None = None,
) -> RotationReport | None:
    """Handle one Key Vault event; None when there is nothing to do.

    New version: rotate the bound targets now. Near expiry / expired: rotate if Key Vault holds
    something newer and usable, else log ``rotation.expiry_warning`` / ``rotation.expired``.
    Rotation always goes to the newest usable version, never to the event's own, so a replayed or
    late event cannot roll a connector back.

    Raises:
        RotationFailedError: a target failed (a service still failing after the retries), or a
            new-version event found the connector busy (the running rotation may have listed the
            versions before this one existed), so the delivery is retried. Malformed events are
            logged and not raised.
    """
    try:
        event = parse_keyvault_event(event_id=event_id, event_type=event_type, data=data)
    except EventError as exc:
        _malformed(exc, eventId=truncate(str(event_id)), eventType=truncate(str(event_type)))
        return None
    if event.kind is EventKind.IGNORED:
        _ignored(event.event_id, event.event_type)
        return None
    return _handle_event(rotator, event, worker_init)


def run_queue_message(
    rotator: Rotator,
    body: bytes,
    *,
    message_id: str | None = None,
    dequeue_count: int | None = None,
    worker_init: WorkerInit | None = None,
) -> RotationReport | None:
    """Handle one message of the queue ``keyvault-events`` (Event Grid wrote it, either schema):
    the same handling as ``run_event``; None when there is nothing to do.

    Raises:
        QueueMessageError: the message holds no readable Key Vault event (logged as
            ``rotation.event_malformed``); the host retries it, then moves it to the poison
            queue ``keyvault-events-poison`` after host.json's ``maxDequeueCount``.
        RotationFailedError: as ``run_event``; the host makes the message visible again after
            host.json's ``visibilityTimeout`` and retries it.
    """
    try:
        queued = parse_queue_message(body)
        if queued.event_type not in HANDLED_EVENT_TYPES:
            _ignored(queued.event_id, queued.event_type)
            return None
        event = parse_keyvault_event(
            event_id=queued.event_id, event_type=queued.event_type, data=queued.data
        )
    except EventError as exc:
        _malformed(
            exc,
            delivery="queue",
            messageId=truncate(repr(message_id), 80),
            dequeueCount=dequeue_count,
            action="the host retries it, then moves it to the poison queue; read it there",
        )
        raise QueueMessageError(f"queue message {truncate(repr(message_id), 80)}: {exc}") from exc
    return _handle_event(rotator, event, worker_init)


def _malformed(exc: EventError, **where: Any) -> None:
    emit(log, logging.ERROR, "rotation.event_malformed", **where, reason=str(exc))


def _ignored(event_id: str, event_type: str) -> None:
    emit(
        log,
        logging.INFO,
        "rotation.event_ignored",
        eventId=truncate(str(event_id)),
        eventType=truncate(str(event_type)),
    )


def _handle_event(
    rotator: Rotator, event: KeyVaultEvent, worker_init: WorkerInit | None
) -> RotationReport | None:
    """Rotate the targets bound to the event's object (see ``run_event``)."""
    own = _keep_alive_identities(rotator, event)
    if own:  # the certificate rotator itself authenticates with: register its new version
        rotator.keep_alive(own)
    targets = targets_for_event(rotator.settings.all_targets, event)
    if not targets and own:
        return None
    if not targets:
        emit(
            log,
            logging.INFO,
            "rotation.event_unbound",
            eventId=truncate(event.event_id),
            eventType=truncate(event.event_type),
            vault=truncate(event.vault_url),
            object=truncate(event.object_name),
        )
        return None
    report = rotator.rotate(
        RotationRequest(
            connector_ids=tuple(
                t.connector_id for t in targets if not isinstance(t, PolicyKeyTarget)
            ),
            trigger=f"event:{event.short_type}",
            key_sets=tuple(t.key_set for t in targets if isinstance(t, PolicyKeyTarget)),
        ),
        worker_init=worker_init,
    )
    if event.kind is not EventKind.NEW_VERSION:
        _expiry_events(report, event)
    failed = [o.connector_id for o in report.outcomes if o.outcome is Outcome.FAILED]
    if event.kind is EventKind.NEW_VERSION:
        failed += [o.connector_id for o in report.outcomes if o.outcome is Outcome.SKIPPED]
    if failed:
        raise RotationFailedError(
            f"event {truncate(event.event_id)}: rotation failed or was busy for {', '.join(failed)}; "
            "its delivery will be retried (Event Grid, or the queue trigger)"
        )
    return report


def _keep_alive_identities(rotator: Rotator, event: KeyVaultEvent) -> tuple[str, ...]:
    """The keep-alive identities whose own certificate the event is about."""
    if event.kind is EventKind.IGNORED or event.object_name is None:
        return ()
    names = []
    for name in rotator.settings.identity_names:
        identity = rotator.settings.for_identity(name)
        vault = (identity.graph_key_vault_url or "").rstrip("/").lower()
        if (
            identity.keep_alive
            and identity.graph_client_certificate_name
            and identity.graph_client_certificate_name.lower() == event.object_name.lower()
            and vault == (event.vault_url or "").rstrip("/").lower()
        ):
            names.append(name)
    return tuple(names)


def _expiry_events(report: RotationReport, event: KeyVaultEvent) -> None:
    """After a near-expiry/expired event: alert where nothing newer than the event's version exists."""
    now = utcnow()
    for outcome in report.outcomes:
        nothing_newer = outcome.outcome is Outcome.REFUSED or (
            outcome.key_vault_version is not None
            and event.version is not None
            and outcome.key_vault_version.lower() == event.version.lower()
        )
        if not nothing_newer:
            continue
        expires_on = outcome.expires_on or event.expires_on
        days = policy.days_until(expires_on, now)
        if event.kind is EventKind.EXPIRED or (days is not None and days < 0):
            _expiry_event(outcome, logging.ERROR, "rotation.expired", days, expires_on)
        else:
            _expiry_event(outcome, logging.WARNING, "rotation.expiry_warning", days, expires_on)


def _expiry_event(
    outcome: TargetOutcome,
    level: int,
    event: str,
    days: int | None,
    expires_on: dt.datetime | None = None,
) -> None:
    name = (
        {"targetKind": outcome.target_kind.value, "keySet": outcome.connector_id}
        if outcome.target_kind is TargetKind.POLICY_KEY
        else {"connectorId": outcome.connector_id}
    )
    emit(
        log,
        level,
        event,
        **name,
        kind=outcome.kind.value,
        keyVaultObject=outcome.key_vault_object,
        keyVaultVersion=outcome.key_vault_version,
        expiresOn=(expires_on or outcome.expires_on),
        daysLeft=days,
        action="add a new version in Key Vault; rotator installs it on the next event or timer run",
    )


def run_http_rotate(
    rotator: Rotator,
    body: bytes,
    headers: Mapping[str, str],
    *,
    worker_init: WorkerInit | None = None,
) -> HttpAnswer:
    """``POST /api/rotate``: 200 all ok, 400 bad body, 404 unknown connector, 409 a rotation of
    that connector is in progress, 422 a credential refused, 502 a rotation failed; the body is
    the JSON report (or the error)."""
    try:
        request = parse_rotate_request(
            body,
            headers,
            [t.connector_id for t in rotator.settings.targets],
            [t.key_set for t in rotator.settings.policy_keys],
        )
    except RequestError as exc:
        code = {404: "notFound", 413: "payloadTooLarge"}.get(exc.status, "badRequest")
        error: dict[str, Any] = {"code": code, "message": str(exc)}
        if exc.field:
            error["field"] = exc.field
        return HttpAnswer(exc.status, {"error": error})
    emit(
        log,
        logging.WARNING if request.force else logging.INFO,
        "rotation.manual_requested",
        connectorIds=list(request.connector_ids) or ("all" if not request.key_sets else []),
        **({"keySets": list(request.key_sets)} if request.key_sets else {}),
        force=request.force,
        dryRun=request.dry_run,
        version=request.version,
        reason=request.reason,
        requestedBy=request.requested_by,
    )
    report = rotator.rotate(request, worker_init=worker_init)
    outcomes = {o.outcome for o in report.outcomes}
    status = 200
    if Outcome.FAILED in outcomes:
        status = 502
    elif Outcome.REFUSED in outcomes:
        status = 422
    elif Outcome.SKIPPED in outcomes:
        status = 409  # another run holds the connector's lease

    return HttpAnswer(status, report.to_json())


def run_http_status(
    rotator: Rotator, *, check: bool = False, worker_init: WorkerInit | None = None
) -> HttpAnswer:
    """``GET /api/status``: the status report (200 even when out of sync; it is a report).

    ``?check=true`` runs the preflight of ``rotator check`` instead: identity, permissions, Key
    Vault access, what a rotation would do, and the fix for each failure (nothing is written).
    """
    if check:
        from rotator.check.preflight import run_check

        return HttpAnswer(200, run_check(rotator.settings).to_json())
    return HttpAnswer(200, rotator.status(worker_init=worker_init).to_json())


def wants_html(accept: str | None, format_param: str | None) -> bool:
    """True when ``GET /api/status`` should answer the status page: ``?format=html``, or an
    ``Accept`` header that prefers ``text/html`` to JSON (a browser); ``?format=json`` wins."""
    if format_param:
        return format_param.strip().lower() == "html"
    media = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    if "text/html" not in media:
        return False
    return "application/json" not in media or media.index("text/html") < media.index(
        "application/json"
    )


def run_http_status_page(rotator: Rotator, *, worker_init: WorkerInit | None = None) -> HtmlAnswer:
    """``GET /api/status`` for a browser: the status page (200, like the JSON report), with a
    Content-Security-Policy that lets it load and run nothing."""
    from rotator.faces.render_html import CONTENT_SECURITY_POLICY_HEADER, render_status_page
    from rotator.faces.status_page import gather

    page = render_status_page(gather(rotator, worker_init=worker_init))
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY_HEADER,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return HtmlAnswer(200, page, headers)
