"""Keep-alive: rotator keeps its own Graph credential alive (certificate identities, ``keepAlive``).

Each run: the newest usable version of the identity's Key Vault certificate must be registered
on the application. If Entra refuses it, rotator proves possession of a certificate that still
works (a signed JWT) and ``addKey``s the new one's public certificate, then confirms with a token
(Entra can take minutes: ``pending`` until it does). Keys rotator added are removed once expired,
or once a newer one has worked for ``keepAliveGraceDays``; never the key in use, never a key
rotator did not add. With no working certificate left there is no proof to sign: the report says
which certificate an administrator must upload to which app in which tenant.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rotator.azure.entra import Accepts
from rotator.azure.graph_answers import registered_key_ids
from rotator.errors import GraphError, KeepAliveError, RotatorError
from rotator.events import emit
from rotator.keepalive import proof
from rotator.model import VersionInfo
from rotator.state.records import AddedKey, ConnectorRecord, StateStore, now_iso
from rotator.steps import pkcs12, policy
from rotator.steps.package import VaultReader, load_certificate
from rotator.text import truncate

if TYPE_CHECKING:
    from rotator.azure.graph import GraphConnectorClient
    from rotator.config.settings import Settings

log = logging.getLogger("rotator")
UNSEEN_AFTER = dt.timedelta(minutes=10)  # an addKey the app does not show by then never landed


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
                report = self._run()
        except RotatorError as exc:
            report = self._report("failed", str(exc))
        except Exception as exc:  # a keep-alive problem must not stop the connectors' rotation
            report = self._report(
                "failed", f"unexpected {type(exc).__name__}: {truncate(str(exc))}"
            )
        level = {"pending": logging.WARNING, "stranded": logging.ERROR, "failed": logging.ERROR}
        emit(
            log,
            level.get(report.status, logging.INFO),
            "rotation.identity_keep_alive",
            **report.to_json(),
        )
        return report

    def _run(self) -> KeepAliveReport:
        now = self._clock()
        record = self._reconcile(self._store.read(self.record_id), now)
        usable = policy.usable_newest_first(self._vault.list_certificate_versions(self.name), now)
        if not usable:
            raise KeepAliveError(f"{self._source()} has no usable version; add one in Key Vault")
        newest = self._load(usable[0], now)  # a broken newest version fails the run, named
        thumbprint = newest.bundle.thumbprint
        added = next((k for k in record.added_keys if k.thumbprint == thumbprint), None)
        if self._accepts(newest.bundle):
            record = self._worked(record, newest)
            report = self._report("current", f"certificate {thumbprint} is registered", newest)
            return self._tidy(record, newest, newest, report)
        signer = self._first_accepted(usable[1:], now)
        if added is None:
            if signer is None:
                return self._stranded(newest)
            record = self._add(record, newest, signer)
        if self._confirm(newest):
            record = self._worked(record, newest)
            report = self._report(
                "added", f"certificate {thumbprint} registered on {self.app}", newest
            )
            return self._tidy(record, newest, newest, report)
        report = self._report(
            "pending",
            f"certificate {thumbprint} was added to {self.app} but Entra does not accept it yet; "
            "the next run checks again (Entra can take minutes)",
            signer or newest,
        )
        # only expired keys go while the newest is not accepted yet: nothing is superseded
        return self._tidy(record, signer, newest, report) if signer else report

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

    def _add(self, record: ConnectorRecord, new: _Version, signer: _Version) -> ConnectorRecord:
        """addKey the new certificate, proven by ``signer``. Recorded before the call (keyId
        unknown), so a lost answer is not sent again: the next run finds it and waits for it."""
        now = self._clock()
        key = AddedKey(
            key_id="",
            thumbprint=new.bundle.thumbprint,
            version=new.info.version,
            added_at=now_iso(now),
            not_after=now_iso(new.bundle.not_after),
        )
        self._store.update(self.record_id, lambda r: replace(r, added_keys=(*r.added_keys, key)))
        body = {
            "keyCredential": proof.key_credential(new.bundle.leaf, new.bundle.thumbprint),
            "passwordCredential": None,
            "proof": self._proof(signer),
        }
        try:
            answer = self._graph.application_action(self.object_id, "addKey", body) or {}
        except GraphError as exc:
            if exc.may_have_landed and not 200 <= (exc.status or 0) < 300:
                raise  # no answer: the next run finds the provisional record and waits
            if not exc.may_have_landed:
                self._store.update(  # refused: rotator did not add it
                    self.record_id,
                    lambda r: replace(r, added_keys=tuple(k for k in r.added_keys if k != key)),
                )
                if exc.status == 400 and "already" in str(exc).lower():
                    return record  # someone registered it already: wait for Entra like for ours
                raise
            answer = {}  # added, but its answer is unusable: the next run learns the keyId
        key_id = answer.get("keyId")
        known = replace(key, key_id=truncate(key_id, 64) if isinstance(key_id, str) else "")
        record = self._store.update(
            self.record_id,
            lambda r: replace(r, added_keys=tuple(known if k == key else k for k in r.added_keys)),
        )
        self._event(
            logging.WARNING,
            "rotation.identity_key_added",
            keyId=known.key_id or None,
            thumbprint=known.thumbprint,
            keyVaultVersion=known.version,
            notAfter=known.not_after,
            provenBy=signer.bundle.thumbprint,
        )
        return record

    def _reconcile(self, record: ConnectorRecord, now: dt.datetime) -> ConnectorRecord:
        """Learn the keyId of keys sent with addKey whose answer was lost or unusable, from the
        application's keys (the thumbprint identifies one). One the application does not hold
        ``UNSEEN_AFTER`` the call never landed: its record goes (it is added again). When the
        app cannot be read (Graph wants Application.Read.All or ownership), nothing changes."""
        unknown = [k for k in record.added_keys if not k.key_id]
        if not unknown:
            return record
        try:
            registered = registered_key_ids(self._graph.get_application(self.object_id))
        except RotatorError as exc:
            for key in unknown:
                self._reconciled(key.thumbprint, None, "unknown", error=truncate(str(exc)))
            return record
        found = {
            k.thumbprint: registered[k.thumbprint] for k in unknown if k.thumbprint in registered
        }
        unseen = {
            k.thumbprint
            for k in unknown
            if k.thumbprint not in registered and _time(k.added_at) + UNSEEN_AFTER <= now
        }
        if not (found or unseen):
            return record  # still waiting for Graph to show it: nothing to write
        record = self._store.update(
            self.record_id,
            lambda r: replace(
                r,
                added_keys=tuple(
                    replace(k, key_id=found.get(k.thumbprint, "")) if not k.key_id else k
                    for k in r.added_keys
                    if k.key_id or k.thumbprint not in unseen
                ),
            ),
        )
        for thumbprint, key_id in found.items():
            self._reconciled(thumbprint, key_id, "on-application")
        for thumbprint in sorted(unseen):
            self._reconciled(thumbprint, None, "not-on-application")
        return record

    def _reconciled(self, thumbprint: str, key_id: str | None, found: str, **data: Any) -> None:
        self._event(
            logging.INFO if key_id else logging.WARNING,
            "rotation.identity_key_reconciled",
            thumbprint=thumbprint,
            keyId=key_id,
            found=found,
            **data,
        )

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
        self,
        record: ConnectorRecord,
        in_use: _Version,
        newest: _Version,
        report: KeepAliveReport,
    ) -> KeepAliveReport:
        """Remove the keys rotator added that expired, or that are older than the key in use once
        it has worked for the grace period; never the key in use, never Key Vault's newest (which
        may still be waiting for Entra). Warn when the key in use expires soon with nothing newer."""
        now = self._clock()  # after the wait for Entra: a key that just worked counts from now
        grace = dt.timedelta(days=self.settings.keep_alive_grace_days)
        keep = {in_use.bundle.thumbprint, newest.bundle.thumbprint}
        current = next(
            (k for k in record.added_keys if k.thumbprint == in_use.bundle.thumbprint), None
        )
        worked = _time(current.worked_at) if current and current.worked_at else None
        confirmed = report.status in ("current", "added")
        removed: list[str] = []
        unknown: list[str] = []
        for key in record.added_keys:
            if key.thumbprint in keep:
                continue
            expired = _time(key.not_after) <= now
            superseded = (
                confirmed
                and current is not None
                and worked is not None
                and worked + grace <= now
                and _time(key.added_at) < _time(current.added_at)
            )
            if not (expired or superseded):
                continue
            if not key.key_id:  # addKey's answer was lost: its keyId is not known
                unknown.append(key.thumbprint)
                continue
            self._remove(key, in_use, "expired" if expired else "superseded")
            removed.append(key.key_id)
        if removed:
            self._store.update(
                self.record_id,
                lambda r: replace(
                    r, added_keys=tuple(k for k in r.added_keys if k.key_id not in removed)
                ),
            )
        if unknown:
            report = replace(
                report,
                detail=f"{report.detail}; remove certificate(s) {', '.join(unknown)} from "
                f"{self.app} by hand (Graph's answer to addKey was lost, so rotator has no keyId)",
            )
        days = policy.days_until(in_use.bundle.not_after, now)
        nothing_newer = report.status in ("current", "added")  # in use is Key Vault's newest
        if nothing_newer and days is not None and days < self.settings.expiry_warning_days:
            self._event(
                logging.WARNING,
                "rotation.identity_expiry_warning",
                thumbprint=in_use.bundle.thumbprint,
                expiresOn=in_use.bundle.not_after,
                daysLeft=days,
                action=f"add a new version of Key Vault certificate '{self.name}'; keep-alive "
                "registers it on the app",
            )
        return replace(report, removed=tuple(removed))

    def _remove(self, key: AddedKey, signer: _Version, why: str) -> None:
        body = {"keyId": key.key_id, "proof": self._proof(signer)}
        try:
            self._graph.application_action(self.object_id, "removeKey", body)
        except RotatorError as exc:
            if getattr(exc, "status", None) != 404:  # already gone: forget it all the same
                raise
        self._event(
            logging.INFO,
            "rotation.identity_key_removed",
            keyId=key.key_id,
            thumbprint=key.thumbprint,
            why=why,
        )

    def _worked(self, record: ConnectorRecord, version: _Version) -> ConnectorRecord:
        """Note when a certificate rotator added first gave a token (the grace period's start)."""
        key = next(
            (k for k in record.added_keys if k.thumbprint == version.bundle.thumbprint), None
        )
        if key is None or key.worked_at is not None:
            return record
        stamped = replace(key, worked_at=now_iso(self._clock()))
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
        return self._report("stranded", detail, newest)

    def _proof(self, signer: _Version) -> str:
        """Signed now, at the call: a slow run never sends a proof that has already expired."""
        return proof.proof_token(
            signer.bundle.private_key,
            signer.bundle.leaf,
            object_id=self.object_id,
            now=self._clock(),
        )

    def _source(self) -> str:
        return f"certificate '{self.name}' in {self.settings.graph_key_vault_url}"

    def _event(self, level: int, event: str, **data: Any) -> None:
        """A keep-alive event, with the identity, its tenant and its app."""
        emit(
            log,
            level,
            event,
            identity=self.settings.identity_name,
            tenantId=self.settings.graph_tenant_id,
            appId=self.settings.graph_client_id,
            **data,
        )

    def _report(self, status: str, detail: str, version: _Version | None = None) -> KeepAliveReport:
        return KeepAliveReport(
            self.settings.identity_name,
            status,
            detail,
            version.bundle.thumbprint if version else None,
        )


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
