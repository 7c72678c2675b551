"""The use case: for each target, plan → apply → verify, isolated from the others, one report at the end.

Targets run in parallel (``ROTATOR_MAX_PARALLEL``), each under its connector's lease in the state
store, so the timer, an event and a manual call never rotate one connector at the same time.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from rotator import pkcs12, policy, state
from rotator.errors import (
    ConfigurationError,
    CredentialError,
    GraphError,
    KeyVaultError,
    RotationInProgressError,
    RotatorError,
    VerificationError,
)
from rotator.events import emit
from rotator.model import (
    BasicTarget,
    CertificateTarget,
    ConnectorState,
    InstallMode,
    Outcome,
    RotationReport,
    RotationRequest,
    StatusReport,
    Target,
    TargetOutcome,
    TargetStatus,
    VersionInfo,
)
from rotator.state import (
    AppliedCredential,
    ConnectorRecord,
    HistoryEntry,
    Lease,
    Pin,
    StateStore,
    now_iso,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from rotator.graph import GraphConnectorClient
    from rotator.keyvault import KeyVaultClient
    from rotator.settings import Settings

log = logging.getLogger("rotator")

_LOG_LEVEL = {
    Outcome.ROTATED: logging.INFO,
    Outcome.UP_TO_DATE: logging.INFO,
    Outcome.DRY_RUN: logging.INFO,
    Outcome.SKIPPED: logging.INFO,
    Outcome.REFUSED: logging.WARNING,
    Outcome.FAILED: logging.ERROR,
}
_T = TypeVar("_T")


@runtime_checkable
class _Closeable(Protocol):
    def close(self) -> None: ...


WorkerInit = Callable[[], None]
"""Run at the start of every worker thread (the Function uses it to tie logs to the invocation)."""


def utcnow() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class _Run:
    """One target's run: what is known so far (so a failure can still say which version it was
    at), the lease it holds, and whether a write reached Graph."""

    lease: Lease | None = None
    version: str | None = None
    thumbprint: str | None = None
    not_after: dt.datetime | None = None
    expires_on: dt.datetime | None = None
    wrote: bool = False  # a write was accepted by Graph
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Install:
    """One certificate to put on a connector: its Key Vault version and the PFX Graph gets."""

    version: VersionInfo
    thumbprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    pfx: str  # base64 PKCS#12, encrypted with ``password``
    password: str

    def __repr__(self) -> str:
        return f"_Install(version={self.version.version!r}, thumbprint={self.thumbprint!r})"


@dataclass(frozen=True)
class _CertificatePlan:
    """What a certificate target needs, decided the same way by ``rotate`` and ``status``."""

    chosen: VersionInfo  # the version that should be active now
    pending: VersionInfo | None  # overlap: a future-dated version to pre-stage
    pin: Pin | None  # the pin in force after this run
    replace: bool  # install with PATCH (the list ends as exactly the plan)
    compact: bool  # overlap list holds expired certificates: replace it
    in_sync: bool

    @property
    def versions(self) -> list[VersionInfo]:
        """The versions the connector should hold, the one active now first."""
        return [self.chosen, *([self.pending] if self.pending else [])]


class Rotator:
    """Rotates and reports on the configured targets; the clients come from outside."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: GraphConnectorClient,
        keyvault: Callable[[str], KeyVaultClient],
        state_store: StateStore,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        owned: Sequence[_Closeable] = (),
    ) -> None:
        self.settings = settings
        self._owned = tuple(owned)  # closed with the rotator (e.g. a Graph app credential)
        self._graph = graph
        self._keyvault_factory = keyvault
        self._vaults: dict[str, KeyVaultClient] = {}
        self._vaults_lock = threading.Lock()
        self._state = state_store
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        credential: TokenCredential | None = None,
        graph_options: dict[str, Any] | None = None,
        keyvault_options: dict[str, Any] | None = None,
    ) -> Rotator:
        """Wire the real clients from settings: the default credential chain for Key Vault (and,
        unless configured otherwise, Graph), the blob or local state store.

        ``graph_options`` / ``keyvault_options`` tune the clients (retries, timeouts).
        """
        from rotator import credentials
        from rotator.graph import GraphConnectorClient

        ca = str(settings.ca_bundle) if settings.ca_bundle else None
        owned: list[_Closeable] = []
        if credential is None:
            credential = credentials.default_credential(settings)
            if isinstance(credential, _Closeable):
                owned.append(credential)
        verify = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        keyvault = credentials.keyvault_factory(settings, credential, **(keyvault_options or {}))
        graph_credential = credentials.graph_credential(settings, credential, keyvault)
        graph = GraphConnectorClient(
            settings.graph_endpoint,
            graph_credential,
            api_version=settings.graph_api_version,
            verify=verify,
            timeout=_http_timeout(settings.http_timeout),
            **(graph_options or {}),
        )
        if graph_credential is not credential and isinstance(graph_credential, _Closeable):
            owned.append(graph_credential)
        store = state_store_from_settings(settings, credential)
        owned.append(store)
        return cls(settings, graph=graph, keyvault=keyvault, state_store=store, owned=owned)

    def close(self) -> None:
        """Close every client this rotator opened."""
        self._graph.close()
        for resource in self._owned:
            resource.close()
        for client in self._vaults.values():
            client.close()
        self._vaults.clear()

    def __enter__(self) -> Rotator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rotate ----------------------------------------------------------------------------

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
        self, request: RotationRequest, *, worker_init: WorkerInit | None = None
    ) -> RotationReport:
        """Bring every requested target to the newest usable Key Vault version (or a pinned one).

        Raises:
            ConfigurationError: unknown connector, or ``version`` without exactly one connector.
        """
        targets = self.select(request.connector_ids)
        if request.version and len(targets) != 1:
            raise ConfigurationError("a pinned --version needs exactly one --connector")
        started = self._clock()
        outcomes = self._each(targets, lambda t: self._rotate_one(t, request), worker_init)
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
            dryRun=request.dry_run,
            force=request.force,
            reason=request.reason,
            requestedBy=request.requested_by,
            seconds=round((self._clock() - started).total_seconds(), 3),
        )
        return report

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
        with self._state.lease(connector_id):
            old = self._state.read(connector_id).pin
            if old is not None:
                state.set_pin(self._state, connector_id, None)
        if old is not None:
            emit(
                log,
                logging.WARNING,
                "rotation.pin_cleared",
                connectorId=connector_id,
                version=old.version,
                by=requested_by,
                why="unpinned by an operator",
            )
        return old

    def _each(
        self,
        targets: Sequence[Target],
        work: Callable[[Target], _T],
        worker_init: WorkerInit | None,
    ) -> tuple[_T, ...]:
        """``work`` for every target, at most ``max_parallel`` at once, results in target order."""
        workers = min(self.settings.max_parallel, len(targets))
        if workers <= 1:
            return tuple(work(target) for target in targets)
        with ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="rotator", initializer=worker_init
        ) as pool:
            return tuple(pool.map(work, targets))

    def _rotate_one(self, target: Target, request: RotationRequest) -> TargetOutcome:
        run = _Run()
        try:
            with self._state.lease(target.connector_id) as lease:
                run.lease = lease
                return self._rotate_leased(target, request, run)
        except RotationInProgressError as exc:  # the holder rotates and writes the history
            return self._outcome(target, Outcome.SKIPPED, run, str(exc))
        except RotatorError as exc:  # the lease itself could not be taken
            return self._outcome(target, Outcome.FAILED, run, str(exc))

    def _rotate_leased(self, target: Target, request: RotationRequest, run: _Run) -> TargetOutcome:
        try:
            if isinstance(target, CertificateTarget):
                outcome = self._rotate_certificate(target, request, run)
            else:
                outcome = self._rotate_basic(target, request, run)
        except CredentialError as exc:
            outcome = self._outcome(target, Outcome.REFUSED, run, str(exc))
        except GraphError as exc:
            unsure = exc.may_have_landed or run.wrote
            outcome = self._outcome(
                target,
                Outcome.FAILED,
                run,
                str(exc) + (" (a write may have landed; the next run checks)" if unsure else ""),
                request_id=exc.request_id,
                graph_status=exc.status,
                unverified=unsure,
            )
        except RotationInProgressError as exc:  # the lease was lost before a write
            outcome = self._outcome(target, Outcome.FAILED, run, str(exc), unverified=run.wrote)
        except VerificationError as exc:
            outcome = self._outcome(target, Outcome.FAILED, run, str(exc), unverified=True)
        except (RotatorError, OSError) as exc:
            outcome = self._outcome(target, Outcome.FAILED, run, str(exc), unverified=run.wrote)
        except Exception as exc:  # one broken target must not stop the others
            log.debug("rotation.unexpected_error", exc_info=True)
            outcome = self._outcome(
                target,
                Outcome.FAILED,
                run,
                f"unexpected {type(exc).__name__}: {exc}",
                unverified=run.wrote,
            )
        if outcome.outcome not in (Outcome.UP_TO_DATE, Outcome.ROTATED) and not request.dry_run:
            self._remember(target, outcome, request)
        return outcome

    def _plan_certificate(
        self,
        target: CertificateTarget,
        versions: list[VersionInfo],
        record: ConnectorRecord,
        request: RotationRequest,
        connector: ConnectorState,
        *,
        announce: bool,
    ) -> _CertificatePlan:
        """Which versions the connector should hold and how to get there (shared with status)."""
        now = self._clock()
        source = f"certificate '{target.certificate}' in {target.key_vault_url}"
        chosen, pin = self._choose(target, versions, request, record, source, announce=announce)
        # A rollback (a pin) and an emergency (force) must leave the connector on exactly that
        # certificate: overlap would keep a newer one active, or pre-stage one.
        replace = request.force or pin is not None or target.mode is InstallMode.REPLACE
        pending = None if replace else policy.pending_version(versions, chosen, now)
        held = {t.upper() for t in connector.thumbprints}
        compact = not replace and bool(policy.expired_entries(connector, now))
        plan = [chosen, *([pending] if pending else [])]
        if any(not v.thumbprint for v in plan):
            raise KeyVaultError(f"{source}: a version lists no thumbprint in Key Vault")
        if replace:
            in_sync = policy.certificate_in_sync(
                connector, chosen.thumbprint or "", InstallMode.REPLACE
            )
        else:
            in_sync = not compact and all((v.thumbprint or "").upper() in held for v in plan)
        return _CertificatePlan(chosen, pending, pin, replace or compact, compact, in_sync)

    def _rotate_certificate(
        self, target: CertificateTarget, request: RotationRequest, run: _Run
    ) -> TargetOutcome:
        now = self._clock()
        source = f"certificate '{target.certificate}' in {target.key_vault_url}"
        vault = self._vault(target.key_vault_url)
        versions = vault.list_certificate_versions(target.certificate)
        record = self._state.read(target.connector_id)
        connector = self._graph.get_connector(target.connector_id)
        plan = self._plan_certificate(target, versions, record, request, connector, announce=True)
        newest = plan.versions[-1]
        run.version, run.thumbprint = newest.version, newest.thumbprint
        run.not_after = run.expires_on = newest.expires_on
        if plan.in_sync and not request.force:
            self._keep_pin(target, plan.pin, record, request)
            return self._outcome(
                target, Outcome.UP_TO_DATE, run, self._in_sync_reason(plan.versions, plan.pin)
            )
        held = {t.upper() for t in connector.thumbprints}
        todo = (
            plan.versions
            if plan.replace
            else [v for v in plan.versions if (v.thumbprint or "").upper() not in held]
        )
        installs = [
            self._package(target, vault, v, now, future=False) for v in todo if v is plan.chosen
        ]
        if plan.pending in todo:
            try:
                installs.append(self._package(target, vault, plan.pending, now, future=True))
            except CredentialError as exc:  # a broken pre-stage must not block the current one
                emit(
                    log,
                    logging.WARNING,
                    "rotation.prestage_refused",
                    connectorId=target.connector_id,
                    reason=str(exc),
                )
                run.notes.append(f"pre-staging refused: {exc}")
                if not installs:
                    raise
        if not request.force:
            policy.check_not_shorter(
                connector,
                installs[0].not_after,
                source=f"{source} version {installs[0].version.version}",
            )
        run.version, run.thumbprint = installs[-1].version.version, installs[-1].thumbprint
        run.not_after = run.expires_on = installs[-1].not_after
        summary = self._plan_text(connector, installs, plan, now)
        if request.dry_run:
            return self._outcome(
                target, Outcome.DRY_RUN, run, f"would {summary}; nothing was written"
            )
        for index, install in enumerate(installs):
            self._ensure_lease(run)
            if plan.replace and index == 0:
                self._graph.update_authentication(
                    target.connector_id,
                    {
                        "@odata.type": "#microsoft.graph.pkcs12Certificate",
                        "pkcs12Value": install.pfx,
                        "password": install.password,
                    },
                )
            else:
                self._graph.upload_client_certificate(
                    target.connector_id,
                    install.pfx,
                    install.password,
                    thumbprint=install.thumbprint,
                )
            run.wrote = True
        verify_mode = (
            InstallMode.REPLACE if plan.replace and len(installs) == 1 else InstallMode.OVERLAP
        )
        self._verify(
            target.connector_id,
            lambda graph_state: next(
                (
                    problem
                    for install in installs
                    if (
                        problem := policy.certificate_mismatch(
                            graph_state,
                            thumbprint=install.thumbprint,
                            not_before=install.not_before,
                            not_after=install.not_after,
                            mode=verify_mode,
                            now=self._clock(),
                        )
                    )
                ),
                None,
            ),
        )
        summary = self._plan_text(connector, installs, plan, now, done=True)
        self._record_rotation(target, request, run, plan.pin, reason=summary)
        return self._outcome(target, Outcome.ROTATED, run, "; ".join([summary, *run.notes]))

    def _package(
        self,
        target: CertificateTarget,
        vault: KeyVaultClient,
        version: VersionInfo,
        now: dt.datetime,
        *,
        future: bool,
    ) -> _Install:
        """Read the private key of ``version``, validate it, and package it for Graph."""
        source = f"certificate '{target.certificate}' in {target.key_vault_url} version {version.version}"
        secret = vault.get_secret(target.certificate, version.version)
        bundle = pkcs12.load_secret(secret.value, secret.content_type, source=source)
        del secret
        pkcs12.validate(
            bundle,
            now=now,
            source=source,
            expected_thumbprint=version.thumbprint,
            allow_future=future,
        )
        password = pkcs12.new_password()
        pfx = pkcs12.to_pkcs12(bundle, password, self.settings.pkcs12_profile)
        return _Install(
            version=version,
            thumbprint=bundle.thumbprint,
            not_before=bundle.not_before,
            not_after=bundle.not_after,
            pfx=base64.b64encode(pfx).decode("ascii"),
            password=password,
        )

    @staticmethod
    def _plan_text(
        connector: ConnectorState,
        installs: Sequence[_Install],
        plan: _CertificatePlan,
        now: dt.datetime,
        *,
        done: bool = False,
    ) -> str:
        names = ", ".join(
            f"{i.thumbprint} (version {i.version.version}"
            + (
                f", pre-staged until {i.not_before:%Y-%m-%d %H:%M} UTC)"
                if i.not_before > now
                else ")"
            )
            for i in installs
        )
        replace, add = ("replaced", "added") if done else ("replace", "add")
        if plan.compact:
            return f"{replace} {connector.describe()} (it held expired certificates) with {names}"
        if plan.replace:
            return f"{replace} {connector.describe()} with {names}"
        return f"{add} {names} beside {connector.describe()}"

    def _rotate_basic(
        self, target: BasicTarget, request: RotationRequest, run: _Run
    ) -> TargetOutcome:
        source = f"secret '{target.password_secret}' in {target.key_vault_url}"
        vault = self._vault(target.key_vault_url)
        versions = vault.list_secret_versions(target.password_secret)
        record = self._state.read(target.connector_id)
        chosen, pin = self._choose(target, versions, request, record, source, announce=True)
        run.version, run.expires_on = chosen.version, chosen.expires_on
        connector = self._graph.get_connector(target.connector_id)
        if not request.force and self._basic_in_sync(target, connector, chosen.version, record):
            self._keep_pin(target, pin, record, request)
            return self._outcome(
                target, Outcome.UP_TO_DATE, run, self._in_sync_reason([chosen], pin)
            )
        password = vault.get_secret(target.password_secret, chosen.version).value
        if not password.strip():
            raise CredentialError(f"{source} version {chosen.version} is empty")
        if request.dry_run:
            return self._outcome(
                target,
                Outcome.DRY_RUN,
                run,
                f"would replace {connector.describe()} with version {chosen.version} "
                f"for {target.username!r}; nothing was written",
            )
        self._ensure_lease(run)
        self._graph.update_authentication(
            target.connector_id,
            {
                "@odata.type": "#microsoft.graph.basicAuthentication",
                "username": target.username,
                "password": password,
            },
        )
        run.wrote = True
        del password
        self._verify(
            target.connector_id,
            lambda graph_state: policy.basic_mismatch(graph_state, username=target.username),
        )
        summary = (
            f"replaced {connector.describe()} with version {chosen.version} for {target.username!r}"
        )
        self._record_rotation(target, request, run, pin, reason=summary)
        return self._outcome(target, Outcome.ROTATED, run, "; ".join([summary, *run.notes]))

    def _choose(
        self,
        target: Target,
        versions: list[VersionInfo],
        request: RotationRequest,
        record: ConnectorRecord,
        source: str,
        *,
        announce: bool,
    ) -> tuple[VersionInfo, Pin | None]:
        """The version to install and the pin in force after this run (if any).

        An explicit ``version`` pins it (a rollback). An existing pin holds until a version
        created after it is usable, or until the pinned version itself stops being usable
        (disabled, expired); then it gives way to the newest usable version.
        """
        if not versions:
            raise KeyVaultError(
                f"{source} was not found (it has no versions); check the name in ROTATOR_CONFIG",
                status=404,
            )
        now = self._clock()
        if request.version:
            chosen = policy.pinned_version(versions, request.version, now, source=source)
            newest = policy.newest_created(versions)
            return chosen, Pin(
                chosen.version,
                now_iso(now),
                request.reason,
                request.requested_by,
                now_iso(newest) if newest else None,
            )
        pin = record.pin
        if pin is not None:
            since = dt.datetime.fromisoformat(
                (pin.newest_created or pin.pinned_at).replace("Z", "+00:00")
            )
            newer = policy.pin_outlived(versions, since, now)
            pinned = next((v for v in versions if v.version.lower() == pin.version.lower()), None)
            unusable = (
                "is gone from Key Vault" if pinned is None else policy.unusable_reason(pinned, now)
            )
            if newer is None and pinned is not None and unusable is None:
                return pinned, pin
            if announce:
                why = (
                    f"version {newer.version} was added to Key Vault after the pin"
                    if newer
                    else f"the pinned version {pin.version} {unusable}"
                )
                emit(
                    log,
                    logging.WARNING,
                    "rotation.pin_cleared",
                    connectorId=target.connector_id,
                    version=pin.version,
                    why=why,
                )
        return policy.newest_usable(versions, now, source=source), None

    def _keep_pin(
        self, target: Target, pin: Pin | None, record: ConnectorRecord, request: RotationRequest
    ) -> None:
        """An up-to-date run still records a new pin, or the end of an outlived one (a dry run
        writes nothing, pins included)."""
        if pin != record.pin and not request.dry_run:
            state.set_pin(self._state, target.connector_id, pin)

    @staticmethod
    def _in_sync_reason(plan: Sequence[VersionInfo], pin: Pin | None) -> str:
        versions = ", ".join(
            f"{v.thumbprint} (version {v.version})" if v.thumbprint else f"version {v.version}"
            for v in plan
        )
        text = f"connector already holds {versions}"
        if pin is not None:
            text += f"; pinned since {pin.pinned_at}" + (f" ({pin.reason})" if pin.reason else "")
        return text

    def _basic_in_sync(
        self, target: BasicTarget, connector: ConnectorState, version: str, record: ConnectorRecord
    ) -> bool:
        applied = record.applied
        return (
            applied is not None
            and applied.key_vault_object == target.password_secret
            and applied.key_vault_url.lower() == target.key_vault_url.lower()
            and applied.version == version
            and policy.basic_mismatch(connector, username=target.username) is None
        )

    @staticmethod
    def _ensure_lease(run: _Run) -> None:
        if run.lease is not None:
            run.lease.ensure_held()

    def _record_rotation(
        self,
        target: Target,
        request: RotationRequest,
        run: _Run,
        pin: Pin | None,
        *,
        reason: str | None,
    ) -> None:
        """Record the verified write. Graph already holds it, so a failing store is a warning:
        the outcome stays ``rotated`` (a basic-auth connector is then rotated again next run)."""
        version = run.version or ""
        entry = self._history(Outcome.ROTATED, request, version, run.thumbprint, reason)
        applied = AppliedCredential(
            target.key_vault_url,
            target.key_vault_object,
            version,
            run.thumbprint,
            now_iso(self._clock()),
        )
        try:
            self._state.update(
                target.connector_id,
                lambda record: replace(record.with_entry(entry), applied=applied, pin=pin),
            )
        except (RotatorError, OSError) as exc:
            emit(
                log,
                logging.WARNING,
                "rotation.history_not_written",
                connectorId=target.connector_id,
                error=str(exc),
            )
            run.notes.append(f"the state store was not updated: {exc}")

    def _verify(
        self, connector_id: str, mismatch: Callable[[ConnectorState], str | None]
    ) -> ConnectorState:
        """Poll Graph until it shows what was written, or raise with what it showed last."""
        deadline = time.monotonic() + self.settings.verify_timeout
        delay, reads, problem = 0.25, 0, "no read"
        while True:
            reads += 1
            try:
                left = max(1.0, deadline - time.monotonic())
                graph_state = self._graph.get_connector(connector_id, within=left)
            except GraphError as exc:
                problem = f"the verification read failed: {exc}"
            else:
                found = mismatch(graph_state)
                if found is None:
                    return graph_state
                problem = found
            if time.monotonic() + delay > deadline:
                raise VerificationError(
                    f"connector {connector_id}: the write was accepted but not confirmed after "
                    f"{reads} read(s): {problem}; the next run checks again"
                )
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    # -- status ----------------------------------------------------------------------------

    def status(
        self, connector_ids: Sequence[str] = (), *, worker_init: WorkerInit | None = None
    ) -> StatusReport:
        """What each target's connector holds against what a rotation would install now.

        Raises:
            ConfigurationError: a named connector is not configured.
        """
        return StatusReport(self._each(self.select(connector_ids), self._status_one, worker_init))

    def _status_one(self, target: Target) -> TargetStatus:
        now = self._clock()
        base: dict[str, Any] = {
            "connector_id": target.connector_id,
            "kind": target.kind,
            "key_vault_object": target.key_vault_object,
        }
        wanted: VersionInfo | None = None
        wanted_error = None
        try:
            vault = self._vault(target.key_vault_url)
            record = self._state.read(target.connector_id)
            connector = self._graph.get_connector(target.connector_id)
            source = f"{target.kind.value} '{target.key_vault_object}'"
            if isinstance(target, CertificateTarget):
                versions = vault.list_certificate_versions(target.certificate)
                try:
                    plan = self._plan_certificate(
                        target, versions, record, RotationRequest(), connector, announce=False
                    )
                    wanted, in_sync = plan.chosen, plan.in_sync  # the one active now
                except CredentialError as exc:
                    wanted_error, in_sync = str(exc), False
            else:
                versions = vault.list_secret_versions(target.password_secret)
                try:
                    wanted, _ = self._choose(
                        target, versions, RotationRequest(), record, source, announce=False
                    )
                except CredentialError as exc:
                    wanted_error = str(exc)
                in_sync = bool(
                    wanted and self._basic_in_sync(target, connector, wanted.version, record)
                )
        except RotatorError as exc:
            return TargetStatus(**base, in_sync=None, error=str(exc))
        applied_version = record.applied.version if record.applied else None
        newest = next(
            iter(policy.usable_newest_first(versions, now)), None
        )  # Key Vault's own newest, whatever a pin says
        if isinstance(target, CertificateTarget):
            active = connector.active_certificate
            expires_on = active.not_after if active else None
        else:
            current = next((v for v in versions if v.version == applied_version), None)
            expires_on = current.expires_on if current else None
        return TargetStatus(
            **base,
            in_sync=in_sync,
            graph=connector.describe(),
            graph_thumbprints=connector.thumbprints,
            target_version=wanted.version if wanted else None,
            target_thumbprint=wanted.thumbprint if wanted else None,
            newest_version=newest.version if newest else None,
            applied_version=applied_version,
            pinned_version=record.pin.version if record.pin else None,
            expires_on=expires_on,
            days_to_expiry=policy.days_until(expires_on, now),
            error=wanted_error,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _vault(self, url: str) -> KeyVaultClient:
        key = url.rstrip("/").lower()
        with self._vaults_lock:
            if key not in self._vaults:
                self._vaults[key] = self._keyvault_factory(url)
            return self._vaults[key]

    def _outcome(
        self,
        target: Target,
        outcome: Outcome,
        run: _Run,
        reason: str | None,
        *,
        request_id: str | None = None,
        graph_status: int | None = None,
        unverified: bool = False,
    ) -> TargetOutcome:
        is_cert = isinstance(target, CertificateTarget)
        return TargetOutcome(
            connector_id=target.connector_id,
            kind=target.kind,
            outcome=outcome,
            key_vault_object=target.key_vault_object,
            key_vault_version=run.version,
            thumbprint=run.thumbprint if is_cert else None,
            not_after=run.not_after if is_cert else None,
            expires_on=run.expires_on,
            reason=reason,
            request_id=request_id,
            graph_status=graph_status,
            unverified=unverified,
        )

    def _history(
        self,
        outcome: Outcome,
        request: RotationRequest,
        version: str | None,
        thumbprint: str | None,
        reason: str | None,
    ) -> HistoryEntry:
        return HistoryEntry(
            at=now_iso(self._clock()),
            trigger=request.trigger,
            outcome=outcome.value,
            key_vault_version=version,
            thumbprint=thumbprint,
            reason=request.reason or reason,
            requested_by=request.requested_by,
        )

    def _remember(self, target: Target, outcome: TargetOutcome, request: RotationRequest) -> None:
        """Record refusals and failures in the history (a failing store must not hide them)."""
        entry = self._history(
            outcome.outcome, request, outcome.key_vault_version, outcome.thumbprint, outcome.reason
        )
        try:
            state.append(self._state, target.connector_id, entry)
        except (OSError, RotatorError):
            emit(
                log,
                logging.WARNING,
                "rotation.history_not_written",
                connectorId=target.connector_id,
            )


def state_store_from_settings(settings: Settings, credential: TokenCredential) -> StateStore:
    """The blob store on the Function's storage account when configured, else the local directory."""
    if settings.state_connection_string:
        from rotator.state_blob import BlobStateStore

        return BlobStateStore.from_connection_string(
            settings.state_connection_string, settings.state_container
        )
    if settings.state_blob_uri:
        from rotator.state_blob import BlobStateStore

        return BlobStateStore.from_service_uri(
            settings.state_blob_uri, credential, settings.state_container
        )
    from rotator.state import LocalStateStore

    return LocalStateStore(settings.state_dir)


def _http_timeout(seconds: float) -> Any:
    import httpx

    return httpx.Timeout(seconds, connect=min(10.0, seconds))
