"""Keep-alive's decisions over fakes (the emulator tests run the same over real sockets), and the
proof JWT it signs."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from rotator.azure.graph_answers import registered_key_ids
from rotator.azure.keyvault import SecretValue
from rotator.config.settings import Settings
from rotator.emulator import pki
from rotator.errors import GraphError
from rotator.keepalive import proof
from rotator.keepalive.renew import KeepAlive
from rotator.model import VersionInfo
from rotator.state.records import AddedKey, Change, ConnectorRecord, Lease, now_iso
from rotator.steps.pkcs12 import CertificateBundle

NOW = pki.utcnow()
DAY = dt.timedelta(days=1)
OBJECT = str(uuid.uuid4())


def unpad(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_proof_has_graphs_claims_no_padding_and_a_valid_signature() -> None:
    """aud, iss, nbf, exp ≤ nbf + 600, RS256 with the signer's x5t, no '=' anywhere."""
    leaf = pki.make_leaf("app")
    assert isinstance(leaf.key, rsa.RSAPrivateKey)  # make_leaf's default: RS256 signs with RSA
    token = proof.proof_token(leaf.key, leaf.certificate, object_id=OBJECT, now=NOW)
    assert "=" not in token
    header_part, payload_part, signature_part = token.split(".")
    header, payload = json.loads(unpad(header_part)), json.loads(unpad(payload_part))
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    assert header == {"alg": "RS256", "typ": "JWT", "x5t": proof.b64url(hashlib.sha1(der).digest())}  # noqa: S324
    assert payload["aud"] == "00000002-0000-0000-c000-000000000000"
    assert payload["iss"] == OBJECT
    assert payload["nbf"] == int(NOW.timestamp())
    assert payload["exp"] - payload["nbf"] == 600
    public_key = leaf.certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        unpad(signature_part),
        f"{header_part}.{payload_part}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    with pytest.raises(ValueError, match="a proof lives 1 to 600 seconds"):
        proof.proof_token(leaf.key, leaf.certificate, object_id=OBJECT, now=NOW, lifetime=601)


def test_the_key_credential_carries_only_the_public_certificate() -> None:
    """addKey's keyCredential is the DER certificate, named after its thumbprint; no key."""
    leaf = pki.make_leaf("app")
    credential = proof.key_credential(leaf.certificate, leaf.thumbprint)
    assert credential["type"] == "AsymmetricX509Cert"
    assert credential["usage"] == "Verify"
    assert credential["displayName"] == f"rotator {leaf.thumbprint}"
    der = base64.b64decode(credential["key"])
    assert der == leaf.certificate.public_bytes(serialization.Encoding.DER)


# -- the decisions, over fakes ---------------------------------------------------------------


@dataclass
class FakeVault:
    versions: list[VersionInfo] = field(default_factory=list)
    secrets: dict[str, SecretValue] = field(default_factory=dict)
    vault_url: str = "https://kv.vault.azure.net"

    def add(self, vid: str, leaf: pki.Issued, *, created: dt.datetime) -> None:
        self.versions.append(
            VersionInfo(
                "graph-app",
                vid,
                True,
                created,
                leaf.certificate.not_valid_before_utc,
                leaf.certificate.not_valid_after_utc,
                leaf.thumbprint,
            )
        )
        self.secrets[vid] = SecretValue(
            pki.pem_bundle(leaf.key, leaf.certificate), "application/x-pem-file"
        )

    def list_certificate_versions(self, name: str) -> list[VersionInfo]:
        return list(self.versions)

    def list_secret_versions(self, name: str) -> list[VersionInfo]:
        return []

    def get_secret(self, name: str, version: str) -> SecretValue:
        return self.secrets[version]


@dataclass
class FakeGraph:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on_application: dict[str, str] = field(default_factory=dict)  # thumbprint -> keyId
    readable: bool = True  # False: reading the application is refused (403)
    reads: int = 0

    def application_action(
        self, object_id: str, action: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        assert object_id == OBJECT
        self.calls.append((action, body))
        if action != "addKey":
            return None
        key_id = f"key-{len(self.calls)}"
        der = base64.b64decode(body["keyCredential"]["key"])
        self.on_application[hashlib.sha1(der).hexdigest().upper()] = key_id  # noqa: S324
        return {"keyId": key_id}

    def get_application(self, object_id: str) -> dict[str, Any]:
        assert object_id == OBJECT
        self.reads += 1
        if not self.readable:
            raise GraphError("application: Microsoft Graph refused a read (403)", status=403)
        return {
            "id": OBJECT,
            "keyCredentials": [
                {"keyId": key_id, "customKeyIdentifier": thumbprint}
                for thumbprint, key_id in self.on_application.items()
            ],
        }


@dataclass
class FakeStore:
    records: dict[str, ConnectorRecord] = field(default_factory=dict)

    def read(self, connector_id: str) -> ConnectorRecord:
        return self.records.get(connector_id, ConnectorRecord(connector_id))

    def update(self, connector_id: str, change: Change) -> ConnectorRecord:
        self.records[connector_id] = change(self.read(connector_id))
        return self.records[connector_id]

    @contextlib.contextmanager
    def lease(self, connector_id: str) -> Iterator[Lease]:
        yield self

    def ensure_held(self) -> None:
        pass

    def close(self) -> None:
        pass


def settings(**changes: Any) -> Settings:
    base = Settings(
        targets=(),
        graph_tenant_id="t",
        graph_client_id="c",
        graph_client_certificate_name="graph-app",
        graph_key_vault_url="https://kv.vault.azure.net",
        application_object_id=OBJECT,
        keep_alive=True,
        identity_name="b2c-prod",
    )
    return replace(base, **changes)


def job(
    vault: FakeVault, graph: FakeGraph, store: FakeStore, registered: set[str], **changes: Any
) -> KeepAlive:
    def accepts(bundle: CertificateBundle) -> bool:
        return bundle.thumbprint in registered

    return KeepAlive(
        settings(**changes),
        graph=graph,  # type: ignore[arg-type]  # a fake with only the calls keep-alive makes
        vault=vault,
        store=store,
        accepts=accepts,
        clock=lambda: NOW,
        sleep=lambda s: None,
        confirm_within=0,
    )


def two_versions() -> tuple[FakeVault, pki.Issued, pki.Issued]:
    old = pki.make_leaf("app", not_before=NOW - 300 * DAY, not_after=NOW + 20 * DAY)
    new = pki.make_leaf("app", not_before=NOW - DAY, not_after=NOW + 365 * DAY)
    vault = FakeVault()
    vault.add("a" * 32, old, created=NOW - 300 * DAY)
    vault.add("b" * 32, new, created=NOW - DAY)
    return vault, old, new


def test_a_registered_newest_certificate_needs_nothing() -> None:
    """Entra accepts the newest version: no Graph call, status current."""
    vault, _, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    report = job(vault, graph, store, {new.thumbprint}).run()
    assert (report.status, report.thumbprint) == ("current", new.thumbprint)
    assert graph.calls == []


def test_a_new_version_is_added_with_a_proof_signed_by_the_working_one() -> None:
    """Entra refuses the newest: addKey with its public certificate, proven by the old key;
    confirmed by a token, recorded with the keyId and when it first worked."""
    vault, old, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    registered = {old.thumbprint}
    original = graph.application_action

    def add_registers(object_id: str, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        registered.add(new.thumbprint)  # Entra accepts it right away (no delay)
        return original(object_id, action, body)

    graph.application_action = add_registers  # type: ignore[method-assign]  # a spy on the fake
    report = job(vault, graph, store, registered).run()
    assert report.status == "added"
    ((action, body),) = graph.calls
    assert action == "addKey"
    assert body["passwordCredential"] is None
    assert body["keyCredential"]["displayName"] == f"rotator {new.thumbprint}"
    header = json.loads(unpad(body["proof"].split(".")[0]))
    old_der = old.certificate.public_bytes(serialization.Encoding.DER)
    assert header["x5t"] == proof.b64url(hashlib.sha1(old_der).digest())  # noqa: S324
    (key,) = store.read("identity.b2c-prod").added_keys
    assert (key.key_id, key.thumbprint, key.worked_at) == ("key-1", new.thumbprint, now_iso(NOW))


def test_a_key_entra_does_not_accept_yet_is_pending_and_not_added_twice() -> None:
    """Added but not yet accepted: pending (not failed); the next run does not add it again."""
    vault, old, _ = two_versions()
    graph, store = FakeGraph(), FakeStore()
    first = job(vault, graph, store, {old.thumbprint}).run()
    second = job(vault, graph, store, {old.thumbprint}).run()
    assert (first.status, second.status) == ("pending", "pending")
    assert [action for action, _ in graph.calls] == ["addKey"]
    assert first.ok


def test_no_working_certificate_is_stranded_with_what_to_upload() -> None:
    """No registered certificate works: nothing to sign a proof with; the report says what an
    administrator must upload to which app in which tenant."""
    vault, _, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    report = job(vault, graph, store, set()).run()
    assert report.status == "stranded"
    assert not report.ok
    assert f"must upload certificate {new.thumbprint}" in report.detail
    assert "app c in tenant t" in report.detail
    assert graph.calls == []


@pytest.mark.parametrize(
    ("worked_days_ago", "grace", "removed"),
    [(8, 7, True), (3, 7, False), (0, 0, True)],
)
def test_keys_rotator_added_are_removed_after_the_grace_period(
    worked_days_ago: int, grace: int, removed: bool
) -> None:
    """An older key rotator added goes once the newer one has worked for keepAliveGraceDays
    (0: at once); the key in use never does."""
    vault, old, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    keys = (
        AddedKey(
            "old-key",
            old.thumbprint,
            "a" * 32,
            now_iso(NOW - 300 * DAY),
            now_iso(NOW + 20 * DAY),
            now_iso(NOW - 300 * DAY),
        ),
        AddedKey(
            "new-key",
            new.thumbprint,
            "b" * 32,
            now_iso(NOW - 9 * DAY),
            now_iso(NOW + 365 * DAY),
            now_iso(NOW - worked_days_ago * DAY),
        ),
    )
    store.records["identity.b2c-prod"] = ConnectorRecord("identity.b2c-prod", added_keys=keys)
    report = job(
        vault, graph, store, {old.thumbprint, new.thumbprint}, keep_alive_grace_days=grace
    ).run()
    assert report.status == "current"
    assert report.removed == (("old-key",) if removed else ())
    assert [b["keyId"] for a, b in graph.calls if a == "removeKey"] == (
        ["old-key"] if removed else []
    )
    left = [k.key_id for k in store.read("identity.b2c-prod").added_keys]
    assert left == (["new-key"] if removed else ["old-key", "new-key"])


def test_an_expired_key_rotator_added_is_removed_even_without_a_grace() -> None:
    """A key rotator added that has expired is removed, signed by the key in use."""
    vault, _, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    gone = AddedKey("gone", "F" * 40, "c" * 32, now_iso(NOW - 400 * DAY), now_iso(NOW - DAY))
    store.records["identity.b2c-prod"] = ConnectorRecord("identity.b2c-prod", added_keys=(gone,))
    report = job(vault, graph, store, {new.thumbprint}).run()
    assert report.removed == ("gone",)


def test_a_pending_key_is_never_removed_by_the_key_that_signed_for_it() -> None:
    """The signer (added by rotator, worked long ago) must not count the still-pending newer key
    as superseded: two pending runs add it once and remove nothing."""
    vault, old, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    signer_key = AddedKey(
        "signer-key",
        old.thumbprint,
        "a" * 32,
        now_iso(NOW - 300 * DAY),
        now_iso(NOW + 20 * DAY),
        now_iso(NOW - 200 * DAY),
    )
    store.records["identity.b2c-prod"] = ConnectorRecord(
        "identity.b2c-prod", added_keys=(signer_key,)
    )
    first = job(vault, graph, store, {old.thumbprint}, keep_alive_grace_days=0).run()
    second = job(vault, graph, store, {old.thumbprint}, keep_alive_grace_days=0).run()
    assert (first.status, second.status) == ("pending", "pending")
    assert [action for action, _ in graph.calls] == ["addKey"]
    assert {k.thumbprint for k in store.read("identity.b2c-prod").added_keys} == {
        old.thumbprint,
        new.thumbprint,
    }


def test_a_lost_add_key_answer_is_not_sent_again() -> None:
    """addKey whose answer never arrives (it landed): the run fails, the next one does not add
    it again and learns its keyId from the application's keys."""
    vault, old, new = two_versions()
    store = FakeStore()

    class LostGraph(FakeGraph):
        def application_action(
            self, object_id: str, action: str, body: dict[str, Any]
        ) -> dict[str, Any] | None:
            super().application_action(object_id, action, body)
            raise GraphError("no answer", may_have_landed=True)

    graph = LostGraph()
    first = job(vault, graph, store, {old.thumbprint}).run()
    second = job(vault, graph, store, {old.thumbprint, new.thumbprint}).run()
    assert first.status == "failed"
    assert second.status == "current"
    assert [action for action, _ in graph.calls] == ["addKey"]
    (key,) = store.read("identity.b2c-prod").added_keys
    assert (key.thumbprint, key.key_id) == (new.thumbprint, "key-1")


class UnusableAnswerGraph(FakeGraph):
    """addKey lands, but Graph's 200 carries a body that is not a JSON object."""

    def application_action(
        self, object_id: str, action: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        super().application_action(object_id, action, body)
        if action == "addKey":
            raise GraphError("answered 200 with HTML", status=200, may_have_landed=True)
        return None


def test_an_add_key_answered_with_an_unusable_body_is_remembered_and_reconciled() -> None:
    """addKey succeeds but its body is unusable: the key sent (thumbprint, time) stays in the
    store, the run goes on (pending, not failed); the next run reads the application, finds the
    key by its thumbprint and records its keyId, so it can be removed later."""
    vault, old, new = two_versions()
    graph, store = UnusableAnswerGraph(), FakeStore()
    first = job(vault, graph, store, {old.thumbprint}).run()
    (kept,) = store.read("identity.b2c-prod").added_keys
    assert first.status == "pending"
    assert (kept.thumbprint, kept.key_id, kept.added_at) == (new.thumbprint, "", now_iso(NOW))
    assert graph.reads == 0
    second = job(vault, graph, store, {old.thumbprint, new.thumbprint}).run()
    assert second.status == "current"
    (known,) = store.read("identity.b2c-prod").added_keys
    assert (known.thumbprint, known.key_id) == (new.thumbprint, "key-1")
    assert [action for action, _ in graph.calls] == ["addKey"]
    third = job(vault, graph, store, {old.thumbprint, new.thumbprint}).run()
    assert (third.status, graph.reads) == ("current", 1)  # known now: not read again


def test_a_key_the_application_cannot_be_read_for_stays_to_be_removed_by_hand(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the right to read the application (403) the unknown key stays as it is, with a
    WARNING event, and the run goes on as before."""
    vault, old, new = two_versions()
    graph, store = UnusableAnswerGraph(readable=False), FakeStore()
    job(vault, graph, store, {old.thumbprint}).run()
    with caplog.at_level(logging.INFO, logger="rotator"):
        second = job(vault, graph, store, {old.thumbprint, new.thumbprint}).run()
    assert second.status == "current"
    (event,) = [
        r for r in caplog.records if r.getMessage().startswith("rotation.identity_key_reconciled")
    ]
    assert event.levelno == logging.WARNING
    assert event.__dict__["rotator"]["found"] == "unknown"
    assert event.__dict__["rotator"]["thumbprint"] == new.thumbprint
    (key,) = store.read("identity.b2c-prod").added_keys
    assert (key.thumbprint, key.key_id) == (new.thumbprint, "")


@pytest.mark.parametrize(("minutes_ago", "added_again"), [(11, True), (9, False)])
def test_a_key_the_application_does_not_hold_was_never_added(
    minutes_ago: int, added_again: bool
) -> None:
    """An addKey whose answer was lost and whose key the application does not show after
    10 minutes never landed: its record goes and it is added again; sooner, the run waits
    (Graph's reads may lag its writes)."""
    vault, old, new = two_versions()
    graph, store = FakeGraph(), FakeStore()
    sent = AddedKey(
        "",
        new.thumbprint,
        "b" * 32,
        now_iso(NOW - minutes_ago * dt.timedelta(minutes=1)),
        now_iso(NOW + 365 * DAY),
    )
    store.records["identity.b2c-prod"] = ConnectorRecord("identity.b2c-prod", added_keys=(sent,))
    report = job(vault, graph, store, {old.thumbprint}).run()
    assert report.status == "pending"
    assert [action for action, _ in graph.calls] == (["addKey"] if added_again else [])
    (key,) = store.read("identity.b2c-prod").added_keys
    assert key.key_id == ("key-1" if added_again else "")


def test_the_application_keys_are_known_by_thumbprint_in_hex_or_base64() -> None:
    """customKeyIdentifier holds the SHA-1 thumbprint, as hex or as base64 of its 20 bytes;
    entries of another shape are skipped."""
    raw = bytes(range(20))
    application = {
        "keyCredentials": [
            {"keyId": "k1", "customKeyIdentifier": raw.hex()},
            {"keyId": "k2", "customKeyIdentifier": base64.b64encode(raw[::-1]).decode()},
            {"keyId": "k3", "customKeyIdentifier": "not a thumbprint"},
            {"keyId": 4, "customKeyIdentifier": "A" * 40},
            {"keyId": "k5", "customKeyIdentifier": None},
            "junk",
        ]
    }
    assert registered_key_ids(application) == {
        raw.hex().upper(): "k1",
        raw[::-1].hex().upper(): "k2",
    }
    assert registered_key_ids({"keyCredentials": "junk"}) == {}
