"""The use case: for each target, plan → apply → verify, isolated from the others, one report at the end."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rotator import pkcs12, policy
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
    CredentialKind,
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
from rotator.state import AppliedCredential, HistoryEntry, LocalStateStore, StateStore, now_iso

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
    Outcome.REFUSED: logging.WARNING,
    Outcome.FAILED: logging.ERROR,
}


def utcnow() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class _Progress:
    """What is known about a target so far, so a failure can still say which version it was at."""

    version: str | None = None
    thumbprint: str | None = None
    not_after: dt.datetime | None = None
    expires_on: dt.datetime | None = None


class Rotator:
    """Rotates and reports on the configured targets; the clients come from outside."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: GraphConnectorClient,
        keyvault: Callable[[str], KeyVaultClient],
        state: StateStore,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._graph = graph
        self._keyvault_factory = keyvault
        self._vaults: dict[str, KeyVaultClient] = {}
        self._vaults_lock = threading.Lock()
        self._state = state
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls, settings: Settings, *, credential: TokenCredential | None = None
    ) -> Rotator:
        """Wire the real clients: one credential (default chain) for Graph and every vault."""
        from rotator.graph import GraphConnectorClient
        from rotator.keyvault import KeyVaultClient

        ca = str(settings.ca_bundle) if settings.ca_bundle else None
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential(**({"connection_verify": ca} if ca else {}))
        verify = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        graph = GraphConnectorClient(
            settings.graph_endpoint,
            credential,
            api_version=settings.graph_api_version,
            verify=verify,
        )

        def keyvault(url: str) -> KeyVaultClient:
            return KeyVaultClient(
                url,
                credential,
                verify_challenge_resource=settings.keyvault_verify_challenge_resource,
                connection_verify=ca or True,
            )

        return cls(
            settings, graph=graph, keyvault=keyvault, state=LocalStateStore(settings.state_dir)
        )

    def close(self) -> None:
        """Close every client this rotator opened."""
        self._graph.close()
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

    def rotate(self, request: RotationRequest) -> RotationReport:
        """Bring every requested target to the newest usable Key Vault version (or the pinned one).

        Raises:
            ConfigurationError: unknown connector, or ``version`` without exactly one connector.
        """
        targets = self.select(request.connector_ids)
        if request.version and len(targets) != 1:
            raise ConfigurationError("a pinned --version needs exactly one --connector")
        started = self._clock()
        outcomes = tuple(self._rotate_one(target, request) for target in targets)
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

    def _rotate_one(self, target: Target, request: RotationRequest) -> TargetOutcome:
        progress = _Progress()
        try:
            with self._state.lease(target.connector_id):
                if isinstance(target, CertificateTarget):
                    outcome = self._rotate_certificate(target, request, progress)
                else:
                    outcome = self._rotate_basic(target, request, progress)
        except CredentialError as exc:
            outcome = self._outcome(target, Outcome.REFUSED, progress, str(exc))
        except GraphError as exc:
            outcome = self._outcome(
                target,
                Outcome.FAILED,
                progress,
                str(exc),
                request_id=exc.request_id,
                graph_status=exc.status,
            )
        except RotationInProgressError as exc:  # the holder writes the history, not us
            outcome = self._outcome(target, Outcome.FAILED, progress, str(exc))
            self._log_outcome(outcome, request)
            return outcome
        except (KeyVaultError, VerificationError, RotatorError) as exc:
            outcome = self._outcome(target, Outcome.FAILED, progress, str(exc))
        except Exception as exc:  # one broken target must not stop the others
            log.debug("rotation.unexpected_error", exc_info=True)
            outcome = self._outcome(
                target, Outcome.FAILED, progress, f"unexpected {type(exc).__name__}: {exc}"
            )
        self._log_outcome(outcome, request)
        if outcome.outcome is not Outcome.UP_TO_DATE and not request.dry_run:
            self._remember(target, outcome, request)
        return outcome

    def _rotate_certificate(
        self, target: CertificateTarget, request: RotationRequest, progress: _Progress
    ) -> TargetOutcome:
        now = self._clock()
        source = f"certificate '{target.certificate}' in {target.key_vault_url}"
        vault = self._vault(target.key_vault_url)
        chosen = self._choose(vault.list_certificate_versions(target.certificate), request, source)
        progress.version, progress.thumbprint = chosen.version, chosen.thumbprint
        progress.not_after = progress.expires_on = chosen.expires_on
        if not chosen.thumbprint:
            raise KeyVaultError(f"{source} version {chosen.version} lists no thumbprint")
        mode = InstallMode.REPLACE if request.force else target.mode
        connector = self._graph.get_connector(target.connector_id)
        if not request.force and policy.certificate_in_sync(connector, chosen.thumbprint, mode):
            return self._outcome(
                target,
                Outcome.UP_TO_DATE,
                progress,
                f"connector already holds {chosen.thumbprint} (version {chosen.version})",
            )
        versioned = f"{source} version {chosen.version}"
        secret = vault.get_secret(target.certificate, chosen.version)
        bundle = pkcs12.load_secret(secret.value, secret.content_type, source=versioned)
        del secret
        pkcs12.validate(bundle, now=now, source=versioned, expected_thumbprint=chosen.thumbprint)
        progress.not_after = bundle.not_after
        if not request.force:
            policy.check_not_shorter(connector, bundle.not_after, source=versioned)
        password = pkcs12.new_password()
        pfx = base64.b64encode(
            pkcs12.to_pkcs12(bundle, password, self.settings.pkcs12_profile)
        ).decode("ascii")
        if request.dry_run:
            verb = "replace" if mode is InstallMode.REPLACE else "add beside"
            return self._outcome(
                target,
                Outcome.DRY_RUN,
                progress,
                f"would {verb} {connector.describe()} with {bundle.thumbprint} "
                f"({len(bundle.chain)} chain certificate(s)); nothing was written",
            )
        if mode is InstallMode.REPLACE:
            self._graph.update_authentication(
                target.connector_id,
                {
                    "@odata.type": "#microsoft.graph.pkcs12Certificate",
                    "pkcs12Value": pfx,
                    "password": password,
                },
            )
        else:
            self._graph.upload_client_certificate(target.connector_id, pfx, password)
        del password, pfx
        self._verify(
            target.connector_id,
            lambda state: policy.certificate_mismatch(
                state,
                thumbprint=bundle.thumbprint,
                not_before=bundle.not_before,
                not_after=bundle.not_after,
                mode=mode,
                now=self._clock(),
            ),
        )
        self._state.append(
            target.connector_id,
            self._history(Outcome.ROTATED, request, chosen.version, bundle.thumbprint, None),
            applied=AppliedCredential(
                target.key_vault_url,
                target.certificate,
                chosen.version,
                bundle.thumbprint,
                now_iso(self._clock()),
            ),
        )
        return self._outcome(target, Outcome.ROTATED, progress, None)

    def _rotate_basic(
        self, target: BasicTarget, request: RotationRequest, progress: _Progress
    ) -> TargetOutcome:
        source = f"secret '{target.password_secret}' in {target.key_vault_url}"
        vault = self._vault(target.key_vault_url)
        chosen = self._choose(vault.list_secret_versions(target.password_secret), request, source)
        progress.version, progress.expires_on = chosen.version, chosen.expires_on
        connector = self._graph.get_connector(target.connector_id)
        if not request.force and self._basic_in_sync(target, connector, chosen.version):
            return self._outcome(
                target,
                Outcome.UP_TO_DATE,
                progress,
                f"connector already has version {chosen.version} for {target.username!r}",
            )
        password = vault.get_secret(target.password_secret, chosen.version).value
        if not password.strip():
            raise CredentialError(f"{source} version {chosen.version} is empty")
        if request.dry_run:
            return self._outcome(
                target,
                Outcome.DRY_RUN,
                progress,
                f"would replace {connector.describe()} with version {chosen.version} "
                f"for {target.username!r}; nothing was written",
            )
        self._graph.update_authentication(
            target.connector_id,
            {
                "@odata.type": "#microsoft.graph.basicAuthentication",
                "username": target.username,
                "password": password,
            },
        )
        del password
        self._verify(
            target.connector_id,
            lambda state: policy.basic_mismatch(state, username=target.username),
        )
        self._state.append(
            target.connector_id,
            self._history(Outcome.ROTATED, request, chosen.version, None, None),
            applied=AppliedCredential(
                target.key_vault_url,
                target.password_secret,
                chosen.version,
                None,
                now_iso(self._clock()),
            ),
        )
        return self._outcome(target, Outcome.ROTATED, progress, None)

    def _choose(
        self, versions: list[VersionInfo], request: RotationRequest, source: str
    ) -> VersionInfo:
        if not versions:
            raise KeyVaultError(
                f"{source} was not found (it has no versions); check the name in ROTATOR_CONFIG",
                status=404,
            )
        now = self._clock()
        if request.version:
            return policy.pinned_version(versions, request.version, now, source=source)
        return policy.newest_usable(versions, now, source=source)

    def _basic_in_sync(self, target: BasicTarget, connector: ConnectorState, version: str) -> bool:
        applied = self._state.read(target.connector_id).applied
        return (
            applied is not None
            and applied.key_vault_object == target.password_secret
            and applied.key_vault_url.lower() == target.key_vault_url.lower()
            and applied.version == version
            and policy.basic_mismatch(connector, username=target.username) is None
        )

    def _verify(
        self, connector_id: str, mismatch: Callable[[ConnectorState], str | None]
    ) -> ConnectorState:
        """Poll Graph until it shows what was written, or raise with what it showed last."""
        deadline = time.monotonic() + self.settings.verify_timeout
        delay, reads, problem = 0.25, 0, "no read"
        while True:
            reads += 1
            try:
                state = self._graph.get_connector(connector_id)
            except GraphError as exc:
                problem = f"the verification read failed: {exc}"
            else:
                found = mismatch(state)
                if found is None:
                    return state
                problem = found
            if time.monotonic() + delay > deadline:
                raise VerificationError(
                    f"connector {connector_id}: the write was accepted but not confirmed after "
                    f"{reads} read(s): {problem}; the next run will retry"
                )
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    # -- status ----------------------------------------------------------------------------

    def status(self, connector_ids: Sequence[str] = ()) -> StatusReport:
        """What each target's connector holds against the newest usable Key Vault version.

        Raises:
            ConfigurationError: a named connector is not configured.
        """
        return StatusReport(tuple(self._status_one(t) for t in self.select(connector_ids)))

    def _status_one(self, target: Target) -> TargetStatus:
        now = self._clock()
        kind = target.kind
        base: dict[str, Any] = {
            "connector_id": target.connector_id,
            "kind": kind,
            "key_vault_object": target.key_vault_object,
        }
        try:
            vault = self._vault(target.key_vault_url)
            source = f"{kind.value} '{target.key_vault_object}'"
            if isinstance(target, CertificateTarget):
                versions = vault.list_certificate_versions(target.certificate)
            else:
                versions = vault.list_secret_versions(target.password_secret)
            newest: VersionInfo | None = None
            newest_error = None
            try:
                newest = policy.newest_usable(versions, now, source=source)
            except CredentialError as exc:
                newest_error = str(exc)
            connector = self._graph.get_connector(target.connector_id)
        except RotatorError as exc:
            return TargetStatus(**base, in_sync=None, error=str(exc))
        if isinstance(target, CertificateTarget):
            active = connector.active_certificate
            in_sync = bool(
                newest
                and newest.thumbprint
                and policy.certificate_in_sync(connector, newest.thumbprint, target.mode)
            )
            expires_on = active.not_after if active else None
            applied_version = None
        else:
            applied = self._state.read(target.connector_id).applied
            applied_version = applied.version if applied else None
            in_sync = bool(newest and self._basic_in_sync(target, connector, newest.version))
            current = next((v for v in versions if v.version == applied_version), None)
            expires_on = current.expires_on if current else None
        return TargetStatus(
            **base,
            in_sync=in_sync,
            graph=connector.describe(),
            graph_thumbprints=connector.thumbprints,
            newest_version=newest.version if newest else None,
            newest_thumbprint=newest.thumbprint if newest else None,
            applied_version=applied_version,
            expires_on=expires_on,
            days_to_expiry=policy.days_until(expires_on, now),
            error=newest_error,
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
        progress: _Progress,
        reason: str | None,
        *,
        request_id: str | None = None,
        graph_status: int | None = None,
    ) -> TargetOutcome:
        is_cert = target.kind is CredentialKind.CERTIFICATE
        return TargetOutcome(
            connector_id=target.connector_id,
            kind=target.kind,
            outcome=outcome,
            key_vault_object=target.key_vault_object,
            key_vault_version=progress.version,
            thumbprint=progress.thumbprint if is_cert else None,
            not_after=progress.not_after if is_cert else None,
            expires_on=progress.expires_on,
            reason=reason,
            request_id=request_id,
            graph_status=graph_status,
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
            reason=reason or request.reason,
            requested_by=request.requested_by,
        )

    def _remember(self, target: Target, outcome: TargetOutcome, request: RotationRequest) -> None:
        """Record refusals and failures in the history (rotations record themselves with the version)."""
        if outcome.outcome is Outcome.ROTATED:
            return
        try:
            self._state.append(
                target.connector_id,
                self._history(
                    outcome.outcome,
                    request,
                    outcome.key_vault_version,
                    outcome.thumbprint,
                    outcome.reason,
                ),
            )
        except (OSError, RotatorError):
            emit(
                log,
                logging.WARNING,
                "rotation.history_not_written",
                connectorId=target.connector_id,
            )

    def _log_outcome(self, outcome: TargetOutcome, request: RotationRequest) -> None:
        emit(
            log,
            _LOG_LEVEL[outcome.outcome],
            "rotation.target_completed",
            **outcome.to_json(),
            trigger=request.trigger,
        )
