"""B2C policy keys as rotation targets, against the emulator over real sockets: append-only
uploads, getActiveKey verification, the up-to-date run, faults, leases, dry run, pins, status."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from rotator.check.preflight import run_check
from rotator.check.report import CheckReport, Plan
from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.emulator.keysets import x5t
from rotator.emulator.keysets_api import intermittent_error_body
from rotator.faces.demo import run_demo
from rotator.functions import service
from rotator.model import (
    Outcome,
    ProbeConfig,
    RotationRequest,
    TargetKind,
    TargetOutcome,
    Verdict,
)
from rotator.rotation import Rotator
from rotator.steps import probe

from .support import Seeded, requests, run_cli, seed_certificate, seed_secret

pytestmark = pytest.mark.usefixtures("azure_env")

CERT_SET = "B2C_1A_RestApiClientCertificate"
PASSWORD_SET = "B2C_1A_RestApiPassword"
FAST = {"backoff": 0.05, "max_retry_after": 1.0}
DAY = 86400


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    """A CA for the key sets' certificates."""
    return pki.make_ca("policy keys CA")


def key_env(emu: Emulator, state: Path, *keys: dict[str, Any], **extra: str) -> dict[str, str]:
    """The environment of a rotator with these policy keys (and no connector)."""
    config = {"keyVaultUrl": emu.vault_url, "policyKeys": list(keys)}
    return {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(config),
        "ROTATOR_STATE_DIR": str(state),
        "ROTATOR_VERIFY_TIMEOUT": "3",
        **extra,
    }


def rotator_for(emu: Emulator, state: Path, *keys: dict[str, Any], **extra: str) -> Rotator:
    """A real Rotator wired from settings, with fast Graph retries."""
    settings = Settings.from_env(key_env(emu, state, *keys, **extra))
    return Rotator.from_settings(settings, graph_options=FAST)


def rotate(
    emu: Emulator, state: Path, key: dict[str, Any], request: RotationRequest | None = None
) -> TargetOutcome:
    """One run over one policy key, the journal cleared first."""
    emu.clear_journal()
    with rotator_for(emu, state, key) as rotator:
        (outcome,) = rotator.rotate(request or RotationRequest()).outcomes
    return outcome


def cert_key_set(emu: Emulator, ca: pki.Issued) -> Seeded:
    """Key Vault: an old and a renewed certificate; the key set holds the old one."""
    seeded = seed_certificate(
        emu, "ks-cert", ca, [{"age": 300, "valid": (-300, 30)}, {"age": 1, "valid": (-1, 365)}]
    )
    emu.keysets.create_keyset(CERT_SET)
    emu.keysets.add_certificate(CERT_SET, seeded.leaves[0].certificate)
    emu.api.trust_issuer(ca.certificate)
    for leaf in seeded.leaves:
        emu.api.trust_certificate("restapi-cert", leaf.thumbprint)
    return seeded


def password_key_set(emu: Emulator) -> list[str]:
    """Key Vault: an old and a new password; the key set holds the old one."""
    seeded = seed_secret(emu, "ks-pw", [{"value": "old-pass", "age": 9}, {"value": "new-pass"}])
    emu.keysets.create_keyset(PASSWORD_SET)
    emu.keysets.add_secret(PASSWORD_SET, "old-pass", nbf=int(pki.utcnow().timestamp()) - 9 * DAY)
    emu.api.accept_basic("restapi-basic", "b2c-user", "old-pass")
    emu.api.accept_basic("restapi-basic", "b2c-user", "new-pass")
    return seeded.versions


def cert_config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """The certificate policy key, probed at the API's mutual-TLS endpoint."""
    probe = {"url": emu.api_url_for("restapi-cert")}
    return {"keySet": CERT_SET, "certificate": "ks-cert", "probe": probe, **extra}


def password_config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """The password policy key, probed with basic auth as 'b2c-user'."""
    probe = {"url": emu.api_url_for("restapi-basic"), "username": "b2c-user"}
    return {"keySet": PASSWORD_SET, "secret": "ks-pw", "probe": probe, **extra}


def writes(emu: Emulator) -> list[str]:
    """Every Graph write (method and path) in the journal."""
    return [f"{e.method} {e.path}" for e in requests(emu, service="graph") if e.method != "GET"]


def counted(emu: Emulator) -> list[str]:
    """The Graph and Key Vault calls of the journal (the token endpoint left out)."""
    return [f"{e.method} {e.path}" for e in emu.journal() if e.service in ("graph", "vault")]


def test_a_certificate_key_set_is_rotated_probed_and_verified_by_get_active_key(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """The renewed certificate is uploaded once (uploadPkcs12), probed first, and active after."""
    leaves = cert_key_set(emu, ca).leaves
    outcome = rotate(emu, tmp_path, cert_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert outcome.target_kind is TargetKind.POLICY_KEY
    assert outcome.probe is not None
    assert outcome.probe.verdict.value == "accepted"
    assert writes(emu) == [f"POST /beta/trustFramework/keySets/{CERT_SET}/uploadPkcs12"]
    snapshot = emu.keysets.keyset(CERT_SET)
    assert len(snapshot.keys) == 2  # append only: the old key stays
    assert snapshot.active is not None
    assert snapshot.active.kid == outcome.key_id
    assert any(k.x5t == x5t(leaves[1].certificate) for k in snapshot.keys)
    document = outcome.to_json()
    assert document["targetKind"] == "policyKey"
    assert document["keySet"] == CERT_SET
    assert "connectorId" not in document
    assert document["thumbprint"] == leaves[1].thumbprint


def test_a_second_run_is_up_to_date_with_two_calls(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Up to date: Key Vault's version list and getActiveKey, nothing else, no secret read."""
    cert_key_set(emu, ca)
    rotate(emu, tmp_path, cert_config(emu))
    outcome = rotate(emu, tmp_path, cert_config(emu))
    assert outcome.outcome is Outcome.UP_TO_DATE, outcome.reason
    calls = counted(emu)
    assert len(calls) == 2, calls
    assert calls[1] == f"GET /beta/trustFramework/keySets/{CERT_SET}/getActiveKey"


def test_a_password_key_set_is_rotated_and_then_up_to_date_by_its_recorded_kid(
    emu: Emulator, tmp_path: Path
) -> None:
    """uploadSecret with the set's use; the kid is kept; the next run needs two calls."""
    password_key_set(emu)
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert writes(emu) == [f"POST /beta/trustFramework/keySets/{PASSWORD_SET}/uploadSecret"]
    assert emu.keysets.secret_matches(PASSWORD_SET, "new-pass") == outcome.key_id
    active = emu.keysets.keyset(PASSWORD_SET).active
    assert active is not None
    assert active.kid == outcome.key_id
    again = rotate(emu, tmp_path, password_config(emu))
    assert again.outcome is Outcome.UP_TO_DATE, again.reason
    assert len(counted(emu)) == 2, counted(emu)


def test_a_later_manual_key_fails_the_target_and_nothing_is_uploaded(
    emu: Emulator, tmp_path: Path
) -> None:
    """A key with a later nbf than the new one: B2C would never switch; failed, with what to do."""
    password_key_set(emu)
    emu.keysets.add_secret(PASSWORD_SET, "manual", nbf=int(pki.utcnow().timestamp()) + 30 * DAY)
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.FAILED
    assert "would never switch to the new key" in (outcome.reason or "")
    assert writes(emu) == []


def test_a_dry_run_probes_but_uploads_nothing(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Dry run: the whole job but the upload."""
    cert_key_set(emu, ca)
    outcome = rotate(emu, tmp_path, cert_config(emu), RotationRequest(dry_run=True))
    assert outcome.outcome is Outcome.DRY_RUN, outcome.reason
    assert "would upload certificate" in (outcome.reason or "")
    assert writes(emu) == []
    assert len(emu.keysets.keyset(CERT_SET).keys) == 1


def test_an_api_that_rejects_the_password_refuses_the_upload(emu: Emulator, tmp_path: Path) -> None:
    """The probe's 401: refused, nothing uploaded."""
    password_key_set(emu)
    emu.api.forget("restapi-basic")
    emu.api.accept_basic("restapi-basic", "b2c-user", "old-pass")
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.REFUSED
    assert "rejects the new password" in (outcome.reason or "")
    assert writes(emu) == []


def test_a_pinned_secret_version_is_uploaded_again_with_nbf_now_and_wins(
    emu: Emulator, tmp_path: Path
) -> None:
    """Roll back a password: the old version is uploaded with nbf = now and becomes active."""
    versions = password_key_set(emu)
    rotate(emu, tmp_path, password_config(emu))
    pin = RotationRequest(version=versions[0], force=True, reason="INC-7 roll back")
    outcome = rotate(emu, tmp_path, password_config(emu), pin)
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    snapshot = emu.keysets.keyset(PASSWORD_SET)
    assert len(snapshot.keys) == 3
    assert snapshot.active is not None
    assert emu.keysets.secret_matches(PASSWORD_SET, "old-pass") == snapshot.active.kid
    again = rotate(emu, tmp_path, password_config(emu))
    assert again.outcome is Outcome.UP_TO_DATE, again.reason  # the pin holds


def test_a_pin_to_an_older_certificate_is_refused_with_the_hint(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """B2C would never use an older certificate: refused, with what to do instead."""
    seeded = cert_key_set(emu, ca)
    rotate(emu, tmp_path, cert_config(emu))
    request = RotationRequest(version=seeded.versions[0], force=True, reason="roll back")
    outcome = rotate(emu, tmp_path, cert_config(emu), request)
    assert outcome.outcome is Outcome.REFUSED, outcome.reason
    assert "B2C would never use it" in (outcome.reason or "")
    assert "issue a new certificate version" in (outcome.reason or "")
    assert writes(emu) == []


def test_a_held_lease_skips_the_key_set(emu: Emulator, tmp_path: Path) -> None:
    """Another caller holds the key set's lease: skipped, nothing uploaded."""
    password_key_set(emu)
    rotator = rotator_for(emu, tmp_path, password_config(emu))
    with rotator, rotator.steps.state.lease(f"keyset.{PASSWORD_SET}"):
        (outcome,) = rotator.rotate(RotationRequest()).outcomes
    assert outcome.outcome is Outcome.SKIPPED, outcome.reason
    assert writes(emu) == []


def test_a_lost_upload_answer_is_found_in_the_set_and_not_sent_twice(
    emu: Emulator, tmp_path: Path
) -> None:
    """The upload lands but its answer is lost: the set is read again, no second upload."""
    password_key_set(emu)
    emu.faults.add(service="graph", method="POST", path="uploadSecret", lose_response=True, times=1)
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert len(writes(emu)) == 1
    assert len(emu.keysets.keyset(PASSWORD_SET).keys) == 2


def test_a_503_on_upload_reads_the_set_then_sends_once_more(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """An upload that did not land (503 before B2C acted): read the set, then upload again."""
    cert_key_set(emu, ca)
    emu.faults.add(service="graph", method="POST", path="uploadPkcs12", status=503, times=1)
    outcome = rotate(emu, tmp_path, cert_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    calls = [f"{e.method} {e.path.rsplit('/', 1)[-1]}" for e in requests(emu, service="graph")]
    assert calls[:4] == [
        "GET getActiveKey",
        "GET " + CERT_SET,
        "POST uploadPkcs12",
        "GET " + CERT_SET,
    ]
    assert len(emu.keysets.keyset(CERT_SET).keys) == 2


def test_an_identity_without_the_permission_fails_with_the_permission_named(
    emu: Emulator, tmp_path: Path
) -> None:
    """403: the reason names TrustFrameworkKeySet.ReadWrite.All."""
    password_key_set(emu)
    emu.identity.graph_roles = {"APIConnectors.ReadWrite.All"}
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.FAILED
    assert "TrustFrameworkKeySet.ReadWrite.All" in (outcome.reason or "")


def test_status_reports_the_key_count_and_the_active_key(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Status: keyCount, activeKid, activeX5t, in sync after a rotation."""
    leaves = cert_key_set(emu, ca).leaves
    with rotator_for(emu, tmp_path, cert_config(emu)) as rotator:
        before = rotator.status().targets[0]
        rotator.rotate(RotationRequest())
        after = rotator.status().targets[0].to_json()
    assert before.in_sync is False
    assert before.key_count == 1
    assert after["targetKind"] == "policyKey"
    assert after["keySet"] == CERT_SET
    assert after["inSync"] is True
    assert after["keyCount"] == 2
    assert after["activeX5t"] == x5t(leaves[1].certificate)
    assert after["activeKid"]


def test_a_failed_run_is_in_the_key_sets_history(emu: Emulator, tmp_path: Path) -> None:
    """A refusal lands in the state record keyset.<id>, never a connector's."""
    password_key_set(emu)
    emu.api.forget("restapi-basic")
    rotate(emu, tmp_path, password_config(emu))
    with rotator_for(emu, tmp_path, password_config(emu)) as rotator:
        record = rotator.steps.state.read(f"keyset.{PASSWORD_SET}")
    assert [h.outcome for h in record.history] == ["refused"]


def test_a_secret_new_version_event_rotates_the_bound_policy_key(
    emu: Emulator, tmp_path: Path
) -> None:
    """SecretNewVersionCreated for the key set's secret rotates it (trigger event:…)."""
    versions = password_key_set(emu)
    data = {"Id": f"{emu.vault_url}/secrets/ks-pw/{versions[1]}", "VaultName": "v"}
    with rotator_for(emu, tmp_path, password_config(emu)) as rotator:
        report = service.run_event(
            rotator,
            event_id="e1",
            event_type="Microsoft.KeyVault.SecretNewVersionCreated",
            data=data,
        )
    assert report is not None
    (outcome,) = report.outcomes
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert report.trigger == "event:SecretNewVersionCreated"


def test_the_http_body_selects_a_policy_key_by_key_set(emu: Emulator, tmp_path: Path) -> None:
    """POST /api/rotate with "keySet" rotates that key set; an unknown one is 404."""
    password_key_set(emu)
    with rotator_for(emu, tmp_path, password_config(emu)) as rotator:
        answer = service.run_http_rotate(rotator, json.dumps({"keySet": PASSWORD_SET}).encode(), {})
        missing = service.run_http_rotate(rotator, b'{"keySet": "B2C_1A_Nope"}', {})
    assert answer.status == 200, answer.body
    assert answer.body["outcomes"][0]["keySet"] == PASSWORD_SET
    assert answer.body["outcomes"][0]["outcome"] == "rotated"
    assert missing.status == 404
    assert missing.body["error"]["field"] == "keySet"


def test_the_cli_rotates_one_key_set_with_key_set(emu: Emulator, tmp_path: Path) -> None:
    """``rotator rotate --key-set NAME --json`` rotates only that key set; exit 0."""
    password_key_set(emu)
    env = key_env(emu, tmp_path, password_config(emu))
    result = run_cli(env, "rotate", "--key-set", PASSWORD_SET, "--json")
    assert result.returncode == 0, result.stderr
    (outcome,) = json.loads(result.stdout)["outcomes"]
    assert outcome["targetKind"] == "policyKey"
    assert outcome["keySet"] == PASSWORD_SET
    assert "new-pass" not in result.stdout + result.stderr
    status = run_cli(env, "status", "--key-set", PASSWORD_SET)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"key set {PASSWORD_SET}" in status.stdout
    history = run_cli(env, "history", "--key-set", PASSWORD_SET, "--json")
    assert history.returncode == 0, history.stderr
    document = json.loads(history.stdout)
    assert document["targetKind"] == "policyKey"
    assert document["keySet"] == PASSWORD_SET
    assert [h["outcome"] for h in document["history"]] == ["rotated"]
    unpin = run_cli(env, "unpin", "--key-set", PASSWORD_SET)
    assert unpin.returncode == 0, unpin.stderr
    assert f"key set {PASSWORD_SET} was not pinned" in unpin.stdout


def check(emu: Emulator, state: Path, *keys: dict[str, Any]) -> CheckReport:
    """``rotator check`` over these policy keys."""
    return run_check(Settings.from_env(key_env(emu, state, *keys)))


def test_check_passes_for_a_readable_key_set_and_says_what_a_rotation_would_do(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Permission, key set, Key Vault value and probe pass; the plan is an upload."""
    cert_key_set(emu, ca)
    report = check(emu, tmp_path, cert_config(emu))
    assert report.ok, report.to_json()
    (target,) = report.targets
    assert target.plan is Plan.ROTATE
    checks = {f.check for f in report.identities[0].findings}
    assert "graph.keyset_permission" in checks
    assert "graph.permission" not in checks  # no connector: APIConnectors is not needed
    assert target.to_json()["keySet"] == CERT_SET
    assert writes(emu) == []


def test_check_names_the_missing_permission_and_the_missing_key_set(
    emu: Emulator, tmp_path: Path
) -> None:
    """No TrustFrameworkKeySet permission, and a key set that does not exist: both named."""
    seed_secret(emu, "ks-pw", [{"value": "new-pass"}])
    emu.identity.graph_roles = {"APIConnectors.ReadWrite.All"}
    report = check(emu, tmp_path, password_config(emu))
    assert not report.ok
    permission = next(
        f for f in report.identities[0].findings if f.check == "graph.keyset_permission"
    )
    assert not permission.ok
    assert "TrustFrameworkKeySet.ReadWrite.All" in (permission.fix or "")
    emu.identity.graph_roles = {"TrustFrameworkKeySet.ReadWrite.All"}
    report = check(emu, tmp_path, password_config(emu))
    keyset = next(f for f in report.targets[0].findings if f.check == "graph.keyset")
    assert not keyset.ok
    assert "was not found" in keyset.detail


def test_the_demo_rotates_both_policy_keys_and_then_needs_two_calls_per_key_set() -> None:
    """`rotator demo`: both key sets rotated, probed and verified; later runs two calls each."""
    out = io.StringIO()
    assert run_demo(out) == 0, out.getvalue()
    text = out.getvalue()
    assert "2 key set(s): 2 rotated" in text
    assert text.count("2 key set(s): 2 up-to-date") == 2
    two_calls = f"2 calls for {CERT_SET}, 2 calls for {PASSWORD_SET}"
    assert text.count(two_calls) == 2
    assert "probe      accepted (HTTP 200)" in text
    assert "up to date with two calls per key set" in text


@pytest.fixture
def api_key_server(
    ca: pki.Issued, tmp_path: Path
) -> Iterator[tuple[str, Path, list[dict[str, str]]]]:
    """An HTTPS API on loopback that accepts only ``x-functions-key: new-key`` (401 otherwise)
    and records the headers it was sent; yields its URL, its CA file and the records."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200 if self.headers.get("x-functions-key") == "new-key" else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server_cert = pki.make_server_certificate(ca)
    cert_file, ca_file = tmp_path / "server.pem", tmp_path / "ca.pem"
    cert_file.write_text(pki.pem_bundle(server_cert.key, server_cert.certificate))
    ca_file.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/points", ca_file, seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_api_key_probe_sends_the_secret_in_its_header_and_never_as_basic(
    api_key_server: tuple[str, Path, list[dict[str, str]]],
) -> None:
    """apiKeyHeader: the new secret goes in that header (accepted: a throwaway key in the same
    header is refused), never as basic auth; another value is rejected with the API's 401."""
    url, ca_file, seen = api_key_server
    network = probe.Network(str(ca_file), allow_private=True)
    config = ProbeConfig(url=url)
    good = probe.Credential(password="new-key", header="x-functions-key")
    accepted = probe.run_probe(config, url, good, network)
    assert accepted.verdict is Verdict.ACCEPTED
    assert accepted.control is not None
    assert accepted.control["status"] == 401  # the control's throwaway key, in the header
    bad = probe.Credential(password="old-key", header="x-functions-key")
    rejected = probe.run_probe(config, url, bad, network)
    assert (rejected.verdict, rejected.status) == (Verdict.REJECTED, 401)
    keys = [s.get("x-functions-key") for s in seen]
    assert keys[0] == "new-key"
    assert keys[1] not in (None, "new-key", "old-key")  # the control's throwaway key
    assert keys[2:] == ["old-key"]
    assert all("authorization" not in s for s in seen)
    assert good.describe("v1") == "API key (version v1) in header 'x-functions-key'"


KEY_SET_STEPS: dict[str, dict[str, Any]] = {
    "getActiveKey": {"service": "graph", "method": "GET", "path": "getActiveKey"},
    "get set": {"service": "graph", "method": "GET", "path": f"{PASSWORD_SET}$"},
    "upload": {"service": "graph", "method": "POST", "path": "uploadSecret"},
    "verify get": {"service": "graph", "method": "GET", "path": f"{PASSWORD_SET}$", "after": 1},
}
KEY_SET_FAULTS: dict[str, dict[str, Any]] = {
    "429 Retry-After": {"status": 429, "retry_after": "1", "times": 1},
    "503": {"status": 503, "times": 1},
    "dropped": {"drop": True, "times": 1},
    "answer lost": {"lose_response": True, "times": 1},
    "never clears": {"status": 503},
}


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        (step, fault)
        for step in KEY_SET_STEPS
        for fault in KEY_SET_FAULTS
        if fault != "answer lost" or step == "upload"
    ],
)
def test_the_fault_matrix_ends_with_the_new_key_active_and_never_a_duplicate(
    emu: Emulator, tmp_path: Path, step: str, fault: str
) -> None:
    """Each step by each fault: a transient one is absorbed (rotated); one that never clears
    fails the run; after it clears the next run ends in sync, the new secret uploaded once."""
    password_key_set(emu)
    emu.faults.add(**KEY_SET_STEPS[step], **KEY_SET_FAULTS[fault])
    first = rotate(emu, tmp_path, password_config(emu))
    if fault == "never clears":
        assert first.outcome is Outcome.FAILED, first.reason
    else:
        assert first.outcome is Outcome.ROTATED, (step, fault, first.reason)
    emu.faults.clear()
    second = rotate(emu, tmp_path, password_config(emu))
    assert second.outcome in (Outcome.ROTATED, Outcome.UP_TO_DATE), second.reason
    snapshot = emu.keysets.keyset(PASSWORD_SET)
    assert len(snapshot.keys) == 2, [k.kid for k in snapshot.keys]  # the old key and one new
    assert snapshot.active is not None
    assert emu.keysets.secret_matches(PASSWORD_SET, "new-pass") == snapshot.active.kid


def test_the_timer_warns_when_a_policy_keys_newest_secret_expires_soon(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The timer reconciles policy keys and warns of an expiry with nothing newer, by keySet."""
    emu.vault.add_secret_version("ks-pw", "soon", expires_on=pki.utcnow() + dt.timedelta(days=5))
    emu.keysets.create_keyset(PASSWORD_SET)
    key = {"keySet": PASSWORD_SET, "secret": "ks-pw", "probe": False}
    with rotator_for(emu, tmp_path, key) as rotator, caplog.at_level("WARNING", "rotator"):
        report = service.run_timer(rotator)
    assert [o.outcome for o in report.outcomes] == [Outcome.ROTATED]
    warning = next(
        r for r in caplog.records if r.getMessage().startswith("rotation.expiry_warning")
    )
    assert f'keySet="{PASSWORD_SET}"' in warning.getMessage()


def test_after_a_secret_rollback_a_newer_version_wins_again(emu: Emulator, tmp_path: Path) -> None:
    """The rollback's key has nbf = now; the next version supersedes rotator's own key (nbf =
    now too) instead of being blocked by it as a manual key would."""
    versions = password_key_set(emu)
    rotate(emu, tmp_path, password_config(emu))
    pin = RotationRequest(version=versions[0], force=True, reason="INC-7 roll back")
    assert rotate(emu, tmp_path, password_config(emu), pin).outcome is Outcome.ROTATED
    emu.vault.add_secret_version("ks-pw", "newest-pass")
    emu.api.accept_basic("restapi-basic", "b2c-user", "newest-pass")
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    snapshot = emu.keysets.keyset(PASSWORD_SET)
    assert snapshot.active is not None
    assert emu.keysets.secret_matches(PASSWORD_SET, "newest-pass") == snapshot.active.kid


def test_b2cs_intermittent_upload_error_is_retried_after_reading_the_set(
    emu: Emulator, tmp_path: Path
) -> None:
    """AADB2C90063 on uploadSecret: the set is read (not there), the upload sent once more."""
    password_key_set(emu)
    emu.faults.add(
        service="graph",
        method="POST",
        path="uploadSecret",
        status=400,
        body=intermittent_error_body(),
        times=1,
    )
    outcome = rotate(emu, tmp_path, password_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert len(writes(emu)) == 2
    assert len(emu.keysets.keyset(PASSWORD_SET).keys) == 2


def test_verification_waits_out_graphs_read_lag(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Reads that still show the set before the upload (three of them): verification polls
    until the new key is there and active, and the certificate is uploaded once."""
    cert_key_set(emu, ca)
    emu.keysets.stale_reads = 3
    outcome = rotate(emu, tmp_path, cert_config(emu))
    assert outcome.outcome is Outcome.ROTATED, outcome.reason
    assert len(writes(emu)) == 1
    assert len(emu.keysets.keyset(CERT_SET).keys) == 2
