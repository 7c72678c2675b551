"""The use case: every requested connector, each under its lease and isolated from the others,
through plan → package → probe → apply → verify → record; one report at the end.

Targets run in parallel (``ROTATOR_MAX_PARALLEL``), each under its connector's lease in the state
store, so the timer, an event and a manual call never rotate one connector at the same time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from rotator import status
from rotator.azure import wiring
from rotator.azure.entra import entra_accepts
from rotator.errors import ConfigurationError, RotationInProgressError
from rotator.events import emit
from rotator.keepalive.renew import KeepAlive, KeepAliveReport
from rotator.model import (
    CertificateTarget,
    Outcome,
    RotationReport,
    RotationRequest,
    StatusReport,
    Target,
    TargetOutcome,
    VersionInfo,
)
from rotator.state.records import ConnectorRecord, Pin, StateStore
from rotator.steps import apply, leases, package, plan, probe, record, verify
from rotator.steps.context import Steps, utcnow
from rotator.steps.progress import Progress

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.azure.graph import GraphConnectorClient
    from rotator.azure.keyvault import KeyVaultClient
    from rotator.config.settings import Settings

__all__ = ["Rotator", "WorkerInit", "rotate_connector", "utcnow"]

log = logging.getLogger("rotator")

_LOG_LEVEL = {
    Outcome.ROTATED: logging.INFO,
    Outcome.UP_TO_DATE: logging.INFO,
    Outcome.DRY_RUN: logging.INFO,
    Outcome.SKIPPED: logging.INFO,
    Outcome.DEFERRED: logging.INFO,
    Outcome.REFUSED: logging.WARNING,
    Outcome.FAILED: logging.ERROR,
}
_T = TypeVar("_T")

WorkerInit = Callable[[], None]
"""Run at the start of every worker thread (the Function uses it to tie logs to the invocation)."""


def rotate_connector(steps: Steps, target: Target, request: RotationRequest) -> TargetOutcome:
    """One connector, under its lease; whatever goes wrong ends as this connector's outcome."""
    run = Progress(target, tenant_id=steps.tenant(target))
    try:
        with steps.state.lease(target.connector_id) as lease:
            run.lease = lease
            try:
                outcome = _rotate(steps, target, request, run)
            except Exception as exc:  # one broken connector must not stop the others
                outcome = run.failed(exc)
            if not request.dry_run and outcome.outcome not in (
                Outcome.UP_TO_DATE,
                Outcome.ROTATED,
                Outcome.DEFERRED,
            ):
                record.failure(steps.state, outcome, request, steps.clock())
            return outcome
    except RotationInProgressError as exc:  # the holder rotates and writes the history
        return leases.blocked(steps, target, exc, run)
    except Exception as exc:  # the lease itself could not be taken (or released)
        return run.failed(exc)


def _rotate(steps: Steps, target: Target, request: RotationRequest, run: Progress) -> TargetOutcome:
    """The steps of one connector's rotation, in order."""
    vault = steps.vault(target.key_vault_url)
    versions = _versions(vault, target)
    stored = steps.state.read(target.connector_id)
    choice = plan.choose(target, versions, request, stored, steps.clock())
    record.pin_cleared(target, choice)
    connector = steps.graph(target).get_connector(target.connector_id)
    now = steps.clock()
    wanted = plan.make(target, choice, versions, stored, connector, request, now)
    run.at(wanted.versions[-1])
    run.defer(wanted.deferred, wanted.deferred_reason())
    if wanted.in_sync and not request.force:
        record.keep_pin(steps.state, wanted, stored, request)
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


def _versions(vault: KeyVaultClient, target: Target) -> list[VersionInfo]:
    if isinstance(target, CertificateTarget):
        return vault.list_certificate_versions(target.certificate)
    return vault.list_secret_versions(target.password_secret)


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
        """The targets named (all when none are named), in configuration order.

        Raises:
            ConfigurationError: a named connector is not configured.
        """
        if not connector_ids:
            return self.settings.targets
        wanted = {self.settings.target(cid).connector_id for cid in connector_ids}
        return tuple(t for t in self.settings.targets if t.connector_id in wanted)

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
        targets = self.select(request.connector_ids)
        if request.version and len(targets) != 1:
            raise ConfigurationError("a pinned --version needs exactly one --connector")
        started = self._clock()
        outcomes = self._each(
            targets,
            lambda t: rotate_connector(self._steps, t, request),
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
        self, connector_ids: Sequence[str] = (), *, worker_init: WorkerInit | None = None
    ) -> StatusReport:
        """What each target's connector holds against what a rotation would install now.

        Raises:
            ConfigurationError: a named connector is not configured.
        """
        targets = self.select(connector_ids)
        return StatusReport(
            self._each(targets, lambda t: status.connector_status(self._steps, t), worker_init)
        )

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

    def history(self, connector_id: str) -> ConnectorRecord:
        """What the state store keeps about a connector (applied version, pin, history).

        Raises:
            ConfigurationError: the connector is not configured.
        """
        self.settings.target(connector_id)
        return self._state.read(connector_id)

    def unpin(self, connector_id: str, *, requested_by: str | None = None) -> Pin | None:
        """Clear a rollback pin (under the connector's lease); the next run goes back to the
        newest usable version.

        Raises:
            ConfigurationError: the connector is not configured.
            RotationInProgressError: a rotation of the connector is running; try again.
        """
        self.settings.target(connector_id)
        return record.unpin(self._state, connector_id, requested_by=requested_by)

    def _each(
        self,
        targets: Sequence[Target],
        work: Callable[[Target], _T],
        worker_init: WorkerInit | None,
        *,
        before: Callable[[str], object] | None = None,
    ) -> tuple[_T, ...]:
        """``work`` for every target, results in target order. Each identity runs its targets in a
        pool of its own (``maxParallel`` at once), all identities side by side: a tenant that
        throttles or hangs holds only its own workers."""
        groups: dict[str, list[int]] = {}
        for index, target in enumerate(targets):
            groups.setdefault(target.identity, []).append(index)
        results: list[_T | None] = [None] * len(targets)

        def run_group(indexes: list[int]) -> None:
            identity = targets[indexes[0]].identity
            if before is not None:
                before(identity)
            cap = self.settings.for_identity(identity).max_parallel
            workers = min(cap, len(indexes))
            if workers <= 1:
                for index in indexes:
                    results[index] = work(targets[index])
                return
            with ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="rotator", initializer=worker_init
            ) as pool:
                for index, result in zip(
                    indexes, pool.map(work, [targets[i] for i in indexes]), strict=True
                ):
                    results[index] = result

        if len(groups) == 1:
            run_group(next(iter(groups.values())))
        else:
            with ThreadPoolExecutor(
                max_workers=len(groups),
                thread_name_prefix="rotator-identity",
                initializer=worker_init,
            ) as identities:
                list(identities.map(run_group, groups.values()))
        return tuple(r for r in results if r is not None)

    def _vault(self, url: str) -> KeyVaultClient:
        key = url.rstrip("/").lower()
        with self._vaults_lock:
            if key not in self._vaults:
                self._vaults[key] = self._keyvault_factory(url)
            return self._vaults[key]
