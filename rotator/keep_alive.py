"""Keep-alive: rotator keeps its own Graph credential alive (client-certificate identities with
``keepAlive``).

Each run: the newest usable version of the identity's Key Vault certificate must be registered
on the application. If Entra refuses it, rotator proves possession of a certificate that still
works (a signed JWT) and ``addKey``s the new one's public certificate, then confirms with a token
(Entra can take minutes: ``pending`` until it does). Keys rotator added are removed once expired,
or once a newer one has worked for ``keepAliveGraceDays``; never the key in use, never a key
rotator did not add. With no working certificate left there is no proof to sign: the report says
which certificate an administrator must upload to which app in which tenant.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ClientAuthenticationError

from rotator import pkcs12, policy, proof
from rotator.entra import certificate_credential
from rotator.errors import RotatorError
from rotator.events import emit
from rotator.model import VersionInfo
from rotator.package import VaultReader, load_certificate
from rotator.state import AddedKey, ConnectorRecord, StateStore, now_iso
from rotator.text import truncate

if TYPE_CHECKING:
    from rotator.graph import GraphConnectorClient
    from rotator.settings import Settings

log = logging.getLogger("rotator")

# Entra's answer to an assertion signed with a key the application does not have (yet):
# AADSTS700027 "Client assertion contains an invalid signature ... key was not found".
NOT_REGISTERED = "AADSTS700027"

Accepts = Callable[[pkcs12.CertificateBundle], bool]
"""Whether Entra issues a token for an assertion signed with this certificate (False: refused
as not registered); raises for anything else."""


class KeepAliveError(RotatorError):
    """The identity's credential could not be kept alive this run (the message says why)."""


@dataclass(frozen=True)
class KeepAliveReport:
    """What keep-alive found and did for one identity."""

    identity: str
    status: str  # current | added | pending | stranded | failed
    detail: str
    thumbprint: str | None = None  # the certificate in use after this run
    removed: tuple[str, ...] = ()  # keyIds removed

    @property
    def ok(self) -> bool:
        """True unless the credential is stranded or the run failed."""
        return self.status in ("current", "added", "pending")

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON."""
        return {
            "identity": self.identity,
            "status": self.status,
            "detail": self.detail,
            "thumbprint": self.thumbprint,
            "removed": list(self.removed),
        }


@dataclass(frozen=True)
class _Version:
    info: VersionInfo
    bundle: pkcs12.CertificateBundle


class KeepAlive:
    """Keep-alive of one identity, over clients handed in (so tests pass their own)."""

    def __init__(
        self,
        settings: Settings,
        *,
        graph: GraphConnectorClient,
        vault: VaultReader,
        store: StateStore,
        accepts: Accepts,
        clock: Callable[[], dt.datetime],
        sleep: Callable[[float], None] = time.sleep,
        confirm_within: float = 60.0,
    ) -> None:
        if not (settings.graph_client_certificate_name and settings.application_object_id):
            raise ValueError("keep-alive needs a client-certificate identity with its object id")
        self.settings = settings
        self.name = settings.graph_client_certificate_name
        self.object_id = settings.application_object_id
        self.record_id = f"identity.{settings.identity_name}"
        self._graph, self._vault, self._store = graph, vault, store
        self._accepts, self._clock, self._sleep = accepts, clock, sleep
        self._confirm_within = confirm_within
        app = f"app {settings.graph_client_id} in tenant {settings.graph_tenant_id}"
        self.app = app

    def run(self) -> KeepAliveReport:
        """One keep-alive pass under the identity's lease (never raises: failures are reported)."""
        try:
            with self._store.lease(self.record_id):
                return self._run()
        except RotatorError as exc:
            return self._report("failed", str(exc), level=logging.ERROR)
        except Exception as exc:  # a keep-alive problem must not stop the connectors' rotation
            return self._report(
                "failed",
                f"unexpected {type(exc).__name__}: {truncate(str(exc))}",
                level=logging.ERROR,
            )

    def _run(self) -> KeepAliveReport:
        now = self._clock()
        record = self._store.read(self.record_id)
        usable = policy.usable_newest_first(self._vault.list_certificate_versions(self.name), now)
        if not usable:
            raise KeepAliveError(f"{self._source()} has no usable version; add one in Key Vault")
        newest = self._load(usable[0], now)  # a broken newest version fails the run, named
        added = next(
            (k for k in record.added_keys if k.thumbprint == newest.bundle.thumbprint), None
        )
        if self._accepts(newest.bundle):
            record = self._worked(record, newest, now)
            report = self._report(
                "current", f"certificate {newest.bundle.thumbprint} is registered", newest
            )
            return self._tidy(record, newest, report, now)
        signer = self._first_accepted(usable[1:], now)
        if added is None:
            if signer is None:
                return self._stranded(newest)
            record = self._add(record, newest, signer, now)
        confirmed = self._confirm(newest)
        if confirmed:
            record = self._worked(record, newest, self._clock())
            report = self._report(
                "added", f"certificate {newest.bundle.thumbprint} registered on {self.app}", newest
            )
            return self._tidy(record, newest, report, now)
        report = self._report(
            "pending",
            f"certificate {newest.bundle.thumbprint} was added to {self.app} but Entra does not "
            "accept it yet; the next run checks again (Entra can take minutes)",
            signer or newest,
            level=logging.WARNING,
        )
        return self._tidy(record, signer, report, now) if signer else report

    # -- steps --------------------------------------------------------------------------------

    def _load(self, version: VersionInfo, now: dt.datetime) -> _Version:
        bundle = load_certificate(self._vault, self.name, version, now, source=self._source())
        return _Version(version, bundle)

    def _first_accepted(self, versions: list[VersionInfo], now: dt.datetime) -> _Version | None:
        """The newest older version Entra still takes (read one by one; a broken one skipped)."""
        for version in versions:
            try:
                loaded = self._load(version, now)
            except RotatorError:
                log.debug("rotation.identity_version_skipped", exc_info=True)
                continue
            if self._accepts(loaded.bundle):
                return loaded
        return None

    def _add(
        self, record: ConnectorRecord, new: _Version, signer: _Version, now: dt.datetime
    ) -> ConnectorRecord:
        body = {
            "keyCredential": proof.key_credential(new.bundle.leaf, new.bundle.thumbprint),
            "passwordCredential": None,
            "proof": self._proof(signer, now),
        }
        answer = self._graph.application_action(self.object_id, "addKey", body) or {}
        key_id = answer.get("keyId")
        if not isinstance(key_id, str) or not key_id:
            raise KeepAliveError(f"{self.app}: Graph's addKey answer has no keyId")
        key = AddedKey(
            key_id=truncate(key_id, 64),
            thumbprint=new.bundle.thumbprint,
            version=new.info.version,
            added_at=now_iso(now),
            not_after=now_iso(new.bundle.not_after),
        )
        record = self._store.update(
            self.record_id, lambda r: replace(r, added_keys=(*r.added_keys, key))
        )
        emit(
            log,
            logging.WARNING,
            "rotation.identity_key_added",
            identity=self.settings.identity_name,
            tenantId=self.settings.graph_tenant_id,
            appId=self.settings.graph_client_id,
            keyId=key.key_id,
            thumbprint=key.thumbprint,
            keyVaultVersion=key.version,
            notAfter=key.not_after,
            provenBy=signer.bundle.thumbprint,
        )
        return record

    def _confirm(self, new: _Version) -> bool:
        """Ask for a token with the new certificate until Entra accepts it, within a bound."""
        deadline = time.monotonic() + self._confirm_within
        delay = 1.0
        while True:
            if self._accepts(new.bundle):
                return True
            if time.monotonic() + delay > deadline:
                return False
            self._sleep(delay)
            delay = min(delay * 2, 15.0)

    def _tidy(
        self, record: ConnectorRecord, in_use: _Version, report: KeepAliveReport, now: dt.datetime
    ) -> KeepAliveReport:
        """Remove the keys rotator added that expired or were superseded long enough ago; warn
        when the certificate in use expires soon with nothing newer to register."""
        now = self._clock()  # after the wait for Entra: a key that just worked counts from now
        grace = dt.timedelta(days=self.settings.keep_alive_grace_days)
        current = next(
            (k for k in record.added_keys if k.thumbprint == in_use.bundle.thumbprint), None
        )
        worked = _time(current.worked_at) if current and current.worked_at else None
        removed: list[str] = []
        for key in record.added_keys:
            if key.thumbprint == in_use.bundle.thumbprint:
                continue  # never the key in use
            expired = _time(key.not_after) <= now
            superseded = worked is not None and worked + grace <= now
            if expired or superseded:
                self._remove(key, in_use, now, "expired" if expired else "superseded")
                removed.append(key.key_id)
        if removed:
            self._store.update(
                self.record_id,
                lambda r: replace(
                    r, added_keys=tuple(k for k in r.added_keys if k.key_id not in removed)
                ),
            )
        days = policy.days_until(in_use.bundle.not_after, now)
        nothing_newer = report.status in ("current", "added")  # in use is Key Vault's newest
        if nothing_newer and days is not None and days < self.settings.expiry_warning_days:
            emit(
                log,
                logging.WARNING,
                "rotation.identity_expiry_warning",
                identity=self.settings.identity_name,
                tenantId=self.settings.graph_tenant_id,
                appId=self.settings.graph_client_id,
                thumbprint=in_use.bundle.thumbprint,
                expiresOn=in_use.bundle.not_after,
                daysLeft=days,
                action=f"add a new version of Key Vault certificate '{self.name}'; keep-alive "
                "registers it on the app",
            )
        return replace(report, removed=tuple(removed))

    def _remove(self, key: AddedKey, signer: _Version, now: dt.datetime, why: str) -> None:
        body = {"keyId": key.key_id, "proof": self._proof(signer, now)}
        try:
            self._graph.application_action(self.object_id, "removeKey", body)
        except RotatorError as exc:
            if getattr(exc, "status", None) != 404:  # already gone: forget it all the same
                raise
        emit(
            log,
            logging.INFO,
            "rotation.identity_key_removed",
            identity=self.settings.identity_name,
            tenantId=self.settings.graph_tenant_id,
            appId=self.settings.graph_client_id,
            keyId=key.key_id,
            thumbprint=key.thumbprint,
            why=why,
        )

    def _worked(
        self, record: ConnectorRecord, version: _Version, now: dt.datetime
    ) -> ConnectorRecord:
        """Note when a certificate rotator added first gave a token (the grace period's start)."""
        key = next(
            (k for k in record.added_keys if k.thumbprint == version.bundle.thumbprint), None
        )
        if key is None or key.worked_at is not None:
            return record
        stamped = replace(key, worked_at=now_iso(now))
        return self._store.update(
            self.record_id,
            lambda r: replace(
                r, added_keys=tuple(stamped if k.key_id == key.key_id else k for k in r.added_keys)
            ),
        )

    def _stranded(self, newest: _Version) -> KeepAliveReport:
        detail = (
            f"no certificate registered on {self.app} is valid any more, so there is no proof "
            f"to sign: an administrator must upload certificate {newest.bundle.thumbprint} "
            f"({self._source()} version {newest.info.version}, valid until "
            f"{newest.bundle.not_after:%Y-%m-%d}) to that app registration (Certificates & "
            "secrets) in that tenant; keep-alive takes over from there"
        )
        return self._report("stranded", detail, newest, level=logging.ERROR)

    def _proof(self, signer: _Version, now: dt.datetime) -> str:
        return proof.proof_token(
            signer.bundle.private_key, signer.bundle.leaf, object_id=self.object_id, now=now
        )

    def _source(self) -> str:
        return f"certificate '{self.name}' in {self.settings.graph_key_vault_url}"

    def _report(
        self,
        status: str,
        detail: str,
        version: _Version | None = None,
        *,
        level: int = logging.INFO,
    ) -> KeepAliveReport:
        report = KeepAliveReport(
            self.settings.identity_name,
            status,
            detail,
            version.bundle.thumbprint if version else None,
        )
        emit(log, level, "rotation.identity_keep_alive", **report.to_json())
        return report


def entra_accepts(settings: Settings) -> Accepts:
    """Ask Entra for a Graph token with a certificate: True when issued, False when refused as
    not registered (``AADSTS700027``).

    The returned function raises ``KeepAliveError`` for any other refusal or no answer.
    """

    def accepts(bundle: pkcs12.CertificateBundle) -> bool:
        credential = certificate_credential(settings, bundle)
        token = _EXPECTED_REFUSAL.set(True)  # a refusal here is an answer, not a warning
        try:
            credential.get_token(settings.graph_scope)
        except ClientAuthenticationError as exc:
            if NOT_REGISTERED in str(exc.message):
                return False
            raise KeepAliveError(
                f"Entra refused certificate {bundle.thumbprint} of app {settings.graph_client_id} "
                f"for a reason other than an unregistered key: {truncate(str(exc.message))}"
            ) from exc
        finally:
            _EXPECTED_REFUSAL.reset(token)
            credential.close()
        return True

    return accepts


_EXPECTED_REFUSAL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rotator_expected_refusal", default=False
)


class _QuietExpectedRefusals(logging.Filter):
    """Drops azure-identity's WARNING for a token refusal keep-alive asked for on purpose (it
    probes certificates Entra may not know yet); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _EXPECTED_REFUSAL.get()


logging.getLogger("azure.identity._internal.get_token_mixin").addFilter(_QuietExpectedRefusals())


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
