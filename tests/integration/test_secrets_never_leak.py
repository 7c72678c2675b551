"""A whole run with canary secrets: none of them shows up in anything rotator emits."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from cryptography.hazmat.primitives import serialization

from rotator.emulator import Emulator, pki
from rotator.faces import cli
from rotator.model import Pkcs12Profile
from rotator.steps import pkcs12

from .support import environment, seed_secret

CANARY_PASSWORD = "CANARY-basic-Zq8vXw3-password"
CANARY_PKCS12_PASSWORD = "CANARY-pkcs12-Yt5uRr7-password"


def test_no_secret_in_logs_output_errors_reports_or_state(
    emu: Emulator,
    azure_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rotating (and failing) with -vvv leaves no password, key, PFX or token in stdout, stderr,
    logs or state."""
    ca = pki.make_ca()
    leaf = pki.make_leaf("api.test", issuer=ca)
    emu.vault.import_certificate("cert", leaf, chain=[ca.certificate])
    seed_secret(emu, "pw", [{"value": CANARY_PASSWORD, "age": 1}])
    cert_connector = emu.graph.add_connector("Cert", emu.api_url_for("c"))
    basic_connector = emu.graph.add_connector(
        "Basic", emu.api_url_for("b"), username="u", password="old"
    )
    # both are probed first (the key goes through the probe's TLS handshake, the password in
    # its Authorization header): those paths are scanned too
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate("c", leaf.thumbprint)
    emu.api.accept_basic("b", "u", CANARY_PASSWORD)
    failing_connector = emu.graph.add_connector(
        "Failing", "https://api.test/f", username="u", password="old"
    )
    echoing_connector = emu.graph.add_connector("Echoing", "https://api.test/e")
    # the third and fourth connectors' PATCH is refused by a Graph that quotes the request body
    # (the password, the PKCS#12 and its password) in its error message: scanned too
    echo = '{"error": {"code": "BadRequest", "message": "Invalid body: {request}"}}'
    for refused in (failing_connector, echoing_connector):
        emu.faults.add(service="graph", method="PATCH", path=refused, status=400, body=echo)

    sent: list[bytes] = []
    real_to_pkcs12 = pkcs12.to_pkcs12

    def recording_to_pkcs12(
        bundle: pkcs12.CertificateBundle, password: str, profile: Pkcs12Profile
    ) -> bytes:
        data = real_to_pkcs12(bundle, password, profile)
        sent.append(data)
        return data

    monkeypatch.setattr(pkcs12, "new_password", lambda: CANARY_PKCS12_PASSWORD)
    monkeypatch.setattr(pkcs12, "to_pkcs12", recording_to_pkcs12)
    env = environment(
        emu,
        tmp_path / "state",
        {"id": cert_connector, "certificate": "cert", "probe": {}},
        {"id": basic_connector, "basic": {"username": "u", "passwordSecret": "pw"}, "probe": {}},
        {"id": failing_connector, "basic": {"username": "u", "passwordSecret": "pw"}},
        {"id": echoing_connector, "certificate": "cert"},
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    exit_code = cli.main(["-vvv", "rotate", "--json"])
    cli.main(["-vvv", "status", "--json"])
    captured = capsys.readouterr()

    report = json.loads(captured.out[: captured.out.index("\n}\n") + 3])
    assert [o["outcome"] for o in report["outcomes"]] == ["rotated", "rotated", "failed", "failed"]
    assert all("[redacted]" in o["reason"] for o in report["outcomes"][2:])
    assert exit_code == 1
    assert emu.graph.password_matches(basic_connector, CANARY_PASSWORD)
    assert sent, "the certificate was packaged"
    assert "DEBUG" in captured.err, "debug logging was on"
    assert [o.get("probe", {}).get("verdict") for o in report["outcomes"]] == [
        "accepted",
        "accepted",
        None,
        None,
    ]

    key_der = leaf.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_pem_body = "".join(pki.pem_bundle(leaf.key, leaf.certificate).split("-----")[2].split())
    vault_secret = SecretClient(
        emu.vault_url,
        ManagedIdentityCredential(),
        verify_challenge_resource=False,
        connection_verify=str(emu.ca_path),
    ).get_secret("cert")
    assert vault_secret.value
    canaries = {
        "Key Vault's PFX value (key inside)": vault_secret.value[200:260],
        "basic password": CANARY_PASSWORD,
        "PKCS#12 password": CANARY_PKCS12_PASSWORD,
        "private key (PEM body)": key_pem_body[100:160],
        "private key (DER base64)": base64.b64encode(key_der).decode()[100:160],
        **{
            f"PFX sent to Graph ({index})": base64.b64encode(pfx).decode()[200:260]
            for index, pfx in enumerate(sent)
        },
        **{
            f"start of the PFX sent to Graph ({index})": base64.b64encode(pfx).decode()[:40]
            for index, pfx in enumerate(sent)
        },
    }
    emitted = {
        "stdout": captured.out,
        "stderr": captured.err,
        **{
            str(p): p.read_text(errors="replace")
            for p in (tmp_path / "state").rglob("*")
            if p.is_file()
        },
    }
    assert len(emitted) >= 4, "the state store wrote its files"
    for place, text in emitted.items():
        for name, canary in canaries.items():
            assert canary not in text, f"{name} leaked into {place}"
            # PEM and base64 may be wrapped across lines: look at the text without whitespace too
            assert canary not in "".join(text.split()), f"{name} leaked (wrapped) into {place}"
        # every access token is a JWT, and a JWT's header always starts with base64 of '{"'
        assert "eyJ" not in text, f"an access token leaked into {place}"


CANARY_KEY_SET_SECRET = "CANARY-keyset-Pw4nQ9-secret"


def test_no_policy_key_secret_in_logs_output_errors_reports_or_state(
    emu: Emulator,
    azure_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Policy keys with -vvv: a certificate and a secret uploaded (probed first), and a secret
    whose upload Graph refuses quoting the body: no secret, PKCS#12 or its password anywhere."""
    ca = pki.make_ca()
    leaf = pki.make_leaf("api.test", issuer=ca)
    emu.vault.import_certificate("kscert", leaf, chain=[ca.certificate])
    seed_secret(emu, "kspw", [{"value": CANARY_KEY_SET_SECRET, "age": 1}])
    for key_set in ("B2C_1A_Cert", "B2C_1A_Pw", "B2C_1A_Echo"):
        emu.keysets.create_keyset(key_set)
    emu.api.trust_issuer(ca.certificate)
    emu.api.trust_certificate("kc", leaf.thumbprint)
    emu.api.accept_basic("kb", "u", CANARY_KEY_SET_SECRET)
    echo = '{"error": {"code": "BadRequest", "message": "Invalid body: {request}"}}'
    emu.faults.add(service="graph", method="POST", path="B2C_1A_Echo", status=400, body=echo)

    sent: list[bytes] = []
    real_to_pkcs12 = pkcs12.to_pkcs12

    def recording_to_pkcs12(
        bundle: pkcs12.CertificateBundle, password: str, profile: Pkcs12Profile
    ) -> bytes:
        data = real_to_pkcs12(bundle, password, profile)
        sent.append(data)
        return data

    monkeypatch.setattr(pkcs12, "new_password", lambda: CANARY_PKCS12_PASSWORD)
    monkeypatch.setattr(pkcs12, "to_pkcs12", recording_to_pkcs12)
    config = {
        "keyVaultUrl": emu.vault_url,
        "policyKeys": [
            {
                "keySet": "B2C_1A_Cert",
                "certificate": "kscert",
                "probe": {"url": emu.api_url_for("kc")},
            },
            {
                "keySet": "B2C_1A_Pw",
                "secret": "kspw",
                "probe": {"url": emu.api_url_for("kb"), "username": "u"},
            },
            {"keySet": "B2C_1A_Echo", "secret": "kspw", "probe": False},
        ],
    }
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(config),
        "ROTATOR_STATE_DIR": str(tmp_path / "state"),
        "ROTATOR_VERIFY_TIMEOUT": "3",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    exit_code = cli.main(["-vvv", "rotate", "--json"])
    cli.main(["-vvv", "status", "--json"])
    captured = capsys.readouterr()

    report = json.loads(captured.out[: captured.out.index("\n}\n") + 3])
    assert [o["outcome"] for o in report["outcomes"]] == ["rotated", "rotated", "failed"]
    assert "[redacted]" in report["outcomes"][2]["reason"]
    assert exit_code == 1
    assert sent, "the certificate was packaged"
    assert "DEBUG" in captured.err
    canaries = {
        "key set secret": CANARY_KEY_SET_SECRET,
        "PKCS#12 password": CANARY_PKCS12_PASSWORD,
        **{
            f"PFX sent to Graph ({index})": base64.b64encode(pfx).decode()[200:260]
            for index, pfx in enumerate(sent)
        },
    }
    emitted = {
        "stdout": captured.out,
        "stderr": captured.err,
        **{
            str(p): p.read_text(errors="replace")
            for p in (tmp_path / "state").rglob("*")
            if p.is_file()
        },
    }
    for place, text in emitted.items():
        for name, canary in canaries.items():
            assert canary not in "".join(text.split()), f"{name} leaked into {place}"
        assert "eyJ" not in text, f"an access token leaked into {place}"
