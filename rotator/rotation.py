"""The use case: every requested connector and policy key, each under its lease and isolated
from the others, through plan → package → probe → apply → verify → record; one report at the end.

Targets run in parallel (``ROTATOR_MAX_PARALLEL``), each under its own lease in the state store,
so the timer, an event and a manual call never rotate one target at the same time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from rotator import status
from rotator.azure import wiring
from rotator.azure.entra import entra_accepts
from rotator.azure.keysets import KeySetClient
from rotator.errors import ConfigurationError, RotationInProgressError
from rotator.events import emit
from rotator.keepalive.renew import KeepAlive, KeepAliveReport
from rotator.model import (
    AnyTarget,
    Outcome,
    PolicyKeyTarget,
    RotationReport,
    RotationRequest,
    Target,
    TargetOutcome,
    target_name,
)
from rotator.standing import StatusReport
from rotator.state.records import ConnectorRecord, Pin, StateStore, state_key
from rotator.steps import (
    apply,
    keyset_apply,
    keyset_plan,
    keyset_probe,
    keyset_verify,
    leases,
    package,
    plan,
    pool,
    probe,
    record,
    verify,
)
from rotator.steps.context import Steps, utcnow
from rotator.steps.progress import Progress, TargetT

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.azure.graph import GraphConnectorClient
    from rotator.azure.keyvault import KeyVaultClient
    from rotator.config.settings import Settings

__all__ = ["Rotator", "WorkerInit", "rotate_target", "utcnow"]

log = logging.getLogger("rotator")

_LOG_LEVEL = {**dict.fromkeys(Outcome, logging.INFO), Outcome.REFUSED: logging.WARNING}
_LOG_LEVEL[Outcome.FAILED] = logging.ERROR  # every other outcome (deferred too) at INFO
_NOT_A_FAILURE = (Outcome.UP_TO_DATE, Outcome.ROTATED, Outcome.DEFERRED)  # not in the history
_T = TypeVar("_T")
UseCase = Callable[[Steps, TargetT, RotationRequest, Progress[TargetT]], TargetOutcome]

WorkerInit = Callable[[], None]
"""Run at the start of every worker thread (the Function uses it to tie logs to the invocation)."""


def rotate_target(steps: Steps, target: AnyTarget, request: RotationRequest) -> TargetOutcome:
    """One target, a connector or a policy key, through its own steps under its lease."""
    if isinstance(target, PolicyKeyTarget):
        return _leased(steps, Progress(target, steps.tenant(target)), request, _rotate_key_set)
    return _leased(steps, Progress(target, steps.tenant(target)), request, _rotate)


def _leased(
    steps: Steps, run: Progress[TargetT], request: RotationRequest, use_case: UseCase[TargetT]
) -> TargetOutcome:
    """``use_case`` under the target's lease; whatever goes wrong ends as its outcome."""
    target = run.target
    try:
        with steps.state.lease(state_key(target.target_kind, target_name(target))) as lease:
            run.lease = lease
            try:
                outcome = use_case(steps, target, request, run)
            except Exception as exc:  # one broken target must not stop the others
                outcome = run.failed(exc)
            if outcome.outcome not in _NOT_A_FAILURE and not request.dry_run:
                record.failure(steps.state, outcome, request, steps.clock())
            return outcome
    except RotationInProgressError as exc:  # the holder rotates and writes the history
        return leases.blocked(steps, target, exc, run)
    except Exception as exc:  # the lease itself could not be taken (or released)
        return run.failed(exc)


def _rotate(steps: Steps, target: Target, request: RotationRequest, run: Progress) -> TargetOutcome:
    """The steps of one connector's rotation, in order."""
    vault = steps.vault(target.key_vault_url)
    versions = plan.versions_of(vault, target)
    stored = steps.state.read(target.connector_id)
    choice = plan.choose(target, versions, request, stored, steps.clock())
    record.pin_cleared(target, choice)
    connector = steps.graph(target).get_connector(target.connector_id)
    now, run.display_name = steps.clock(), connector.display_name  # the report names it
    wanted = plan.make(target, choice, versions, stored, connector, request, now)
    run.at(wanted.versions[-1])
    run.defer(wanted.deferred, wanted.deferred_reason())
    if wanted.in_sync and not request.force:
        record.keep_pin(steps.state, target, wanted.pin, stored, request)
        if wanted.deferred is not None:
            return run.outcome(Outcome.DEFERRED, wanted.deferred_reason())
        return run.outcome(Outcome.UP_TO_DATE, wanted.in_sync_reason())
    profile = steps.settings.pkcs12_profile
    change = package.change_for(
        vault, wanted, connector, now=now, profile=profile, force=request.force
    )
    run.packaged(change)
    change = probe.approve(steps, change, connector, request, run)
    if request.dry_run:
        return run.outcome(
            Outcome.DRY_RUN, f"would {change.describe(connector, now)}; nothing was written"
        )
    apply.write(steps.graph(target), change, run)
    verify.confirm(
        steps.graph(target),
        target.connector_id,
        change,
        timeout=steps.settings.verify_timeout,
        clock=steps.clock,
        sleep=steps.sleep,
    )
    summary = change.describe(connector, now, done=True)
    record.rotation(steps.state, request, run, wanted.pin, steps.clock(), summary=summary)
    return run.outcome(Outcome.ROTATED, "; ".join([summary, *run.notes]))


def _rotate_key_set(
    steps: Steps, target: PolicyKeyTarget, request: RotationRequest, run: Progress[PolicyKeyTarget]
) -> TargetOutcome:
    """The steps of one policy key's rotation, in order (append only: a key is added beside the
    others, never replaced)."""
    vault = steps.vault(target.key_vault_url)
    stored = steps.state.read(state_key(target.target_kind, target.key_set))
    choice = plan.choose(target, plan.versions_of(vault, target), request, stored, steps.clock())
    record.pin_cleared(target, choice)
    run.at(choice.version)
    key_sets = KeySetClient(steps.graph(target))
    active = key_sets.get_active_key(target.key_set)
    if active and keyset_plan.in_sync(target, choice.version, active, stored) and not request.force:
        run.key_id = active.kid
        record.keep_pin(steps.state, target, choice.pin, stored, request)
        reason = keyset_plan.in_sync_reason(choice.version, active, choice.pin)
        return run.outcome(Outcome.UP_TO_DATE, reason)
    now, before = steps.clock(), key_sets.get_key_set(target.key_set)
    own = frozenset(k.kid for k in stored.uploaded_keys)
    wanted = keyset_plan.make(target, choice.version, choice.pin, before, request, now, own)
    change = keyset_apply.package(vault, wanted, before, run, now=now)
    change = keyset_probe.approve(steps, change, request, run)
    if request.dry_run:
        return run.outcome(Outcome.DRY_RUN, f"would {change.describe()}; nothing was written")
    written = keyset_apply.upload(key_sets, change, run)
    record.uploaded(steps.state, run, written.kid if written else None, steps.clock())
    timeout = steps.settings.verify_timeout
    active = keyset_verify.confirm(
        key_sets, change, written, timeout=timeout, clock=steps.clock, sleep=steps.sleep
    )
    run.key_id, summary = active.kid, change.describe(done=True)
    record.rotation(steps.state, request, run, wanted.pin, steps.clock(), summary=summary)
    return run.outcome(Outcome.ROTATED, "; ".join([summary, *run.notes]))


class Rotator:
    """Rotates and reports on the configured targets; the clients come from outside."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: GraphConnectorClient | Mapping[str, GraphConnectorClient],
        keyvault: Callable[[str], KeyVaultClient],
        state_store: StateStore,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        owned: Sequence[wiring.Closeable] = (),
    ) -> None:
        self.settings = settings
        self._owned = tuple(owned)  # closed with the rotator (e.g. a Graph app credential)
        # one Graph client per identity; a single client serves every identity (tests, check)
        names = {settings.identity_name, *settings.identity_names}
        self._graphs = dict(graph) if isinstance(graph, Mapping) else dict.fromkeys(names, graph)
        self._keyvault_factory = keyvault
        self._vaults: dict[str, KeyVaultClient] = {}
        self._vaults_lock = threading.Lock()
        self._state = state_store
        self._clock = clock
        self._steps = Steps(settings, self._graphs, self._vault, state_store, clock, sleep)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        credential: TokenCredential | None = None,
        graph_options: dict[str, Any] | None = None,
        keyvault_options: dict[str, Any] | None = None,
    ) -> Rotator:
        """Wire the real clients from settings (see ``wiring.from_settings``)."""
        wired = wiring.from_settings(
            settings,
            credential=credential,
            graph_options=graph_options,
            keyvault_options=keyvault_options,
        )
        return cls(
            settings,
            graph=wired.graphs,
            keyvault=wired.keyvault,
            state_store=wired.state_store,
            owned=wired.owned,
        )

    @property
    def steps(self) -> Steps:
        """The clients and clock this rotator's runs use (status page, tests)."""
        return self._steps

    def close(self) -> None:
        """Close every client this rotator opened."""
        for graph in {id(g): g for g in self._graphs.values()}.values():
            graph.close()
        for resource in self._owned:
            resource.close()
        for client in self._vaults.values():
            client.close()
        self._vaults.clear()

    def __enter__(self) -> Rotator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def select(self, connector_ids: Sequence[str]) -> tuple[Target, ...]:
        """The connectors named (all when none are named), in configuration order.

        Raises:
            ConfigurationError: a named connector is not configured.
        """
        if not connector_ids:
            return self.settings.targets
        wanted = {self.settings.target(cid).connector_id for cid in connector_ids}
        return tuple(t for t in self.settings.targets if t.connector_id in wanted)

    def select_all(
        self, connector_ids: Sequence[str], key_sets: Sequence[str] = ()
    ) -> tuple[AnyTarget, ...]:
        """The connectors and policy keys named (every target when none is named).

        Raises:
            ConfigurationError: a named connector or key set is not configured.
        """
        if not connector_ids and not key_sets:
            return self.settings.all_targets
        sets = {self.settings.policy_key(name).key_set for name in key_sets}
        chosen = self.select(connector_ids) if connector_ids else ()
        return (*chosen, *(t for t in self.settings.policy_keys if t.key_set in sets))

    def rotate(
        self,
        request: RotationRequest,
        *,
        worker_init: WorkerInit | None = None,
        before_identity: Callable[[str], object] | None = None,
    ) -> RotationReport:
        """Bring every requested target to the newest usable Key Vault version (or a pinned one).

        ``before_identity`` runs once per identity, in that identity's own worker, before its
        connectors (the timer's keep-alive: a slow tenant delays only its own connectors).

        Raises:
            ConfigurationError: unknown connector, or ``version`` without exactly one connector.
        """
        targets = self.select_all(request.connector_ids, request.key_sets)
        if request.version and len(targets) != 1:
            needs = "--connector or --key-set" if self.settings.policy_keys else "--connector"
            raise ConfigurationError(f"a pinned --version needs exactly one {needs}")
        started = self._clock()
        outcomes = self._each(
            targets,
            lambda t: rotate_target(self._steps, t, request),
            worker_init,
            before=before_identity,
        )
        for outcome in outcomes:  # logged here, on the caller's thread (the Functions worker
            # ships only logs of threads it knows)
            emit(
                log,
                _LOG_LEVEL[outcome.outcome],
                "rotation.target_completed",
                **outcome.to_json(),
                trigger=request.trigger,
            )
        report = RotationReport(outcomes, request.trigger, started, self._clock())
        emit(
            log,
            logging.INFO if report.ok else logging.ERROR,
            "rotation.run_completed",
            trigger=request.trigger,
            **report.counts,
            targets=len(outcomes),
            leaseStuck=sum(o.lease_stuck for o in outcomes),
            dryRun=request.dry_run,
            force=request.force,
            reason=request.reason,
            requestedBy=request.requested_by,
            seconds=round((self._clock() - started).total_seconds(), 3),
        )
        return report

    def status(
        self,
        connector_ids: Sequence[str] = (),
        *,
        worker_init: WorkerInit | None = None,
        key_sets: Sequence[str] = (),
    ) -> StatusReport:
        """What each target holds against what a rotation would install now.

        Raises:
            ConfigurationError: a named connector or key set is not configured.
        """
        targets = self.select_all(connector_ids, key_sets)
        days = self.settings.expiry_warning_days
        read = partial(status.target_status, self._steps, warning_days=days)
        return StatusReport(self._each(targets, read, worker_init))

    def keep_alive(self, identities: Sequence[str] = ()) -> tuple[KeepAliveReport, ...]:
        """Keep the Graph credential of each keep-alive identity (those named; all by default)
        registered on its application. Never raises: each report says what happened."""
        reports = []
        for name in identities or self.settings.identity_names:
            settings = self.settings.for_identity(name)
            if not settings.keep_alive or not settings.graph_key_vault_url:
                continue
            job = KeepAlive(
                settings,
                graph=self._graphs[name],
                vault=self._vault(settings.graph_key_vault_url),
                store=self._state,
                accepts=entra_accepts(settings),
                clock=self._clock,
                sleep=self._steps.sleep,
                confirm_within=settings.verify_timeout,
            )
            reports.append(job.run())
        return tuple(reports)

    def history(
        self, connector_id: str | None = None, *, key_set: str | None = None
    ) -> ConnectorRecord:
        """What the state store keeps about a connector or key set (applied, pin, history).

        Raises:
            ConfigurationError: the connector (or key set) is not configured.
        """
        return self._state.read(self._record_of(connector_id, key_set))

    def unpin(
        self,
        connector_id: str | None = None,
        *,
        requested_by: str | None = None,
        key_set: str | None = None,
    ) -> Pin | None:
        """Clear a rollback pin (under the target's lease); the next run goes back to the
        newest usable version.

        Raises:
            ConfigurationError: the connector (or key set) is not configured.
            RotationInProgressError: a rotation of the target is running; try again.
        """
        name = self._record_of(connector_id, key_set)
        return record.unpin(self._state, name, requested_by=requested_by)

    def _record_of(self, connector_id: str | None, key_set: str | None) -> str:
        if key_set is not None:
            return state_key(PolicyKeyTarget.target_kind, self.settings.policy_key(key_set).key_set)
        return self.settings.target(connector_id or "").connector_id

    def _each(
        self,
        targets: Sequence[AnyTarget],
        work: Callable[[AnyTarget], _T],
        worker_init: WorkerInit | None,
        *,
        before: Callable[[str], object] | None = None,
    ) -> tuple[_T, ...]:
        """``work`` for every target, results in target order, each identity in its own pool."""
        return pool.by_identity(
            targets,
            work,
            lambda identity: self.settings.for_identity(identity).max_parallel,
            worker_init,
            before=before,
        )

    def _vault(self, url: str) -> KeyVaultClient:
        key = url.rstrip("/").lower()
        with self._vaults_lock:
            if key not in self._vaults:
                self._vaults[key] = self._keyvault_factory(url)
            return self._vaults[key]
