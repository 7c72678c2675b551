"""The emulator's key-set answers and rotator's key-set request bodies against Microsoft's own
Graph beta SDK models (``msgraph-beta-sdk``), run in their own venv through a subprocess.

The SDK is ~400 MB, so it lives in ``.venv-graph-sdk`` (``scripts/graph-sdk-venv``, pins in
``tests/sdk/requirements-graph-sdk.txt``), never in requirements-dev.txt. ``./dev test`` builds it
before pytest; the fixture builds it when missing. On CI a failed install fails the run; on a
developer's machine without a registry the module is skipped and says why. Importing a generated
model that derives from ``entity`` imports ~2,400 of the SDK's modules (10 s here), so the module
asks the SDK everything in one subprocess (:func:`sdk_run`) and each test reads its part.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from rotator.config.settings import Settings
from rotator.emulator import Emulator, pki
from rotator.emulator.keysets import RequestShape
from rotator.emulator.seeding import (
    DEMO_CERTIFICATE_KEYSET,
    DEMO_KEYSET_CERTIFICATE,
    DEMO_KEYSET_PASSWORD_SECRET,
    DEMO_PASSWORD_KEYSET,
    seed_demo_keysets,
)
from rotator.errors import ConfigurationError
from rotator.model import RotationRequest
from rotator.rotation import Rotator

from .conftest import FOREIGN_AZURE_VARIABLES

REPO = Path(__file__).resolve().parents[2]
SDK_PYTHON = REPO / ".venv-graph-sdk" / "bin" / "python"
SDK_SCRIPT = REPO / "tests" / "sdk" / "graph_sdk_models.py"
REQUIREMENTS = REPO / "tests" / "sdk" / "requirements-graph-sdk.txt"
PINNED = next(
    line.split("==")[1].strip()
    for line in REQUIREMENTS.read_text().splitlines()
    if line.startswith("msgraph-beta-sdk==")
)
CANARY = "sdk-canary-secret-value"
SHAPE_VALUES = {"string": "text", "integer": 1700000000, "null": None}
# The uploadSecret answer of Microsoft's docs (trustframeworkkeyset-uploadsecret.md), dates as text
DOCS_EXAMPLE = {
    "kid": "kid-value",
    "use": "use-value",
    "kty": "OCT",
    "nbf": "1508969811",
    "exp": "1508973711",
}
BODY_MODELS = {
    "uploadPkcs12": "uploadPkcs12PostRequestBody",
    "uploadSecret": "uploadSecretPostRequestBody",
}


def _sdk_version() -> str | None:
    if not SDK_PYTHON.exists():
        return None
    probe = subprocess.run(
        [
            str(SDK_PYTHON),
            "-c",
            "import importlib.metadata as m; print(m.version('msgraph-beta-sdk'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def sdk_python() -> Path:
    """The SDK venv's python, built by scripts/graph-sdk-venv when it is missing or stale."""
    if _sdk_version() != PINNED:
        built = subprocess.run(
            ["bash", str(REPO / "scripts" / "graph-sdk-venv")],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if built.returncode != 0 or _sdk_version() != PINNED:
            reason = f"msgraph-beta-sdk {PINNED} could not be installed: {built.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    return SDK_PYTHON


def run_sdk(python: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Run tests/sdk/graph_sdk_models.py in the SDK venv on ``request``; its JSON answer."""
    done = subprocess.run(
        [str(python), str(SDK_SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def pfx_3des(issued: pki.Issued, password: bytes) -> str:
    """Base64 of a PKCS#12 that B2C accepts: 3DES + SHA-1 MAC (as rotator packages one)."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 (B2C accepts only the SHA-1 MAC)
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(
        b"api", issued.key, issued.certificate, None, encryption
    )
    return base64.b64encode(data).decode()


def graph_client(emu: Emulator) -> httpx.Client:
    """An httpx client for the emulated key sets with a TrustFrameworkKeySet.ReadWrite.All token."""
    token = emu.tokens.mint(audience=emu.graph_url, roles={"TrustFrameworkKeySet.ReadWrite.All"})
    return httpx.Client(
        base_url=f"{emu.graph_url}/beta/trustFramework/keySets",
        verify=ssl.create_default_context(cafile=str(emu.ca_path)),
        headers={"Authorization": f"Bearer {token[0]}"},
        timeout=5,
    )


@pytest.fixture
def graph(emu: Emulator) -> Iterator[httpx.Client]:
    """A key-set client for this test's (reset) emulator."""
    with graph_client(emu) as client:
        yield client


def rotator_bodies(leaf: pki.Issued) -> dict[str, dict[str, Any]]:
    """The request bodies rotator sends (issue 20): uploadPkcs12 and uploadSecret."""
    now = int(pki.utcnow().timestamp())
    return {
        "uploadPkcs12PostRequestBody": {"key": pfx_3des(leaf, b"pw-1"), "password": "pw-1"},
        "uploadSecretPostRequestBody": {"use": "enc", "k": CANARY, "nbf": now, "exp": now + 86400},
    }


def emulator_answers(graph: httpx.Client, leaf: pki.Issued) -> list[tuple[str, Any]]:
    """One answer of every kind the emulator gives for key sets, each with its SDK model name."""
    certificates = graph.post("", json={"id": "RestApiClientCertificate"})
    secrets = graph.post("", json={"id": "RestApiPassword"})
    bodies = rotator_bodies(leaf)
    uploaded = graph.post(
        "/B2C_1A_RestApiClientCertificate/uploadPkcs12", json=bodies["uploadPkcs12PostRequestBody"]
    )
    secret = graph.post(
        "/B2C_1A_RestApiPassword/uploadSecret", json=bodies["uploadSecretPostRequestBody"]
    )
    answers = [
        ("trustFrameworkKeySet", certificates),
        ("trustFrameworkKeySet", secrets),
        ("trustFrameworkKey", uploaded),
        ("trustFrameworkKey", secret),
        ("trustFrameworkKeySet", graph.get("/B2C_1A_RestApiClientCertificate")),
        ("trustFrameworkKeySet", graph.get("/B2C_1A_RestApiPassword")),
        ("trustFrameworkKey", graph.get("/B2C_1A_RestApiClientCertificate/getActiveKey()")),
        ("trustFrameworkKey", graph.get("/B2C_1A_RestApiPassword/getActiveKey")),
        ("trustFrameworkKeySetCollectionResponse", graph.get("")),
        ("oDataError", graph.get("/B2C_1A_Missing")),
        ("oDataError", graph.post("", json={"id": "RestApiPassword"})),
        ("oDataError", graph.put("/B2C_1A_RestApiPassword", json={"keys": [{"kid": "x"}]})),
    ]
    for _, response in answers[:-3]:
        assert response.status_code in (200, 201), response.text
    return [(name, response.json()) for name, response in answers]


def rotator_upload_shapes(emulator: Emulator, state: Path) -> list[RequestShape] | str:
    """Rotate the demo's two policy keys with rotator itself and return the shapes (field names,
    JSON types) of the upload bodies it sent, or why it could not (rotator without policyKeys)."""
    seed_demo_keysets(
        emulator.vault, emulator.keysets, emulator.api, issuer=pki.make_ca("rotator bodies CA")
    )
    config = {
        "keyVaultUrl": emulator.vault_url,
        "policyKeys": [
            {"keySet": DEMO_CERTIFICATE_KEYSET, "certificate": DEMO_KEYSET_CERTIFICATE},
            {"keySet": DEMO_PASSWORD_KEYSET, "secret": DEMO_KEYSET_PASSWORD_SECRET},
        ],
    }
    env = {**emulator.env(), "ROTATOR_CONFIG": json.dumps(config), "ROTATOR_STATE_DIR": str(state)}
    with pytest.MonkeyPatch.context() as patch:
        for name in FOREIGN_AZURE_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            settings = Settings.from_env(env)
        except ConfigurationError as exc:
            return f"this rotator does not rotate policy keys: {exc}"
        with Rotator.from_settings(settings) as rotator:
            rotator.rotate(RotationRequest(trigger="test"))
    return emulator.keysets.request_shapes()


def shaped_body(shape: RequestShape) -> dict[str, Any]:
    """A body of the same field names and JSON types as one rotator sent (values made up)."""
    return {name: SHAPE_VALUES.get(kind, kind) for name, kind in shape.fields}


@dataclass
class SdkRun:
    """What the SDK made of one emulator session: answers and bodies sent, the SDK's results."""

    answers: list[tuple[str, Any]]
    bodies: dict[str, dict[str, Any]]
    leaf: pki.Issued
    parsed_answers: list[dict[str, Any]]
    parsed_bodies: list[dict[str, Any]]
    built: list[Any]
    client: dict[str, Any]
    client_paths: list[str]
    rotator_bodies: list[tuple[str, dict[str, Any]]] | str
    parsed_rotator_bodies: list[dict[str, Any]]
    parsed_docs_example: dict[str, Any]


@pytest.fixture(scope="module")
def sdk_run(
    emulator: Emulator, sdk_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> SdkRun:
    """Fill the emulator, then ask the SDK everything at once: parse the answers and rotator's
    bodies, build the bodies itself, and drive the emulator with GraphServiceClient."""
    emulator.reset()
    shapes = rotator_upload_shapes(emulator, tmp_path_factory.mktemp("state"))
    sent = (
        shapes
        if isinstance(shapes, str)
        else [(BODY_MODELS[shape.action], shaped_body(shape)) for shape in shapes]
    )
    emulator.reset()
    leaf = pki.make_leaf("restapi.contoso.test", issuer=pki.make_ca("sdk CA"))
    bodies = rotator_bodies(leaf)
    with graph_client(emulator) as graph:
        answers = emulator_answers(graph, leaf)
        graph.post("", json={"id": "ByTheSdk"})
    token = emulator.tokens.mint(
        audience=emulator.graph_url, roles={"TrustFrameworkKeySet.ReadWrite.All"}
    )
    emulator.clear_journal()
    request = {
        "parse": [
            {"model": m, "json": j}
            for m, j in [
                *answers,
                *bodies.items(),
                *([] if isinstance(sent, str) else sent),
                ("trustFrameworkKey", DOCS_EXAMPLE),
            ]
        ],
        "build": [{"model": m, "fields": body} for m, body in bodies.items()],
        "client": {
            "graph": emulator.graph_url,
            "ca": str(emulator.ca_path),
            "token": token[0],
            "keySet": "B2C_1A_ByTheSdk",
            "pkcs12": bodies["uploadPkcs12PostRequestBody"],
            "secret": {"use": "sig", "k": CANARY, "nbf": 0, "exp": None},
        },
    }
    answer = run_sdk(sdk_python, request)
    paths = [e.path for e in emulator.journal() if e.service == "graph"]
    emulator.reset()
    return SdkRun(
        answers=answers,
        bodies=bodies,
        leaf=leaf,
        parsed_answers=answer["parsed"][: len(answers)],
        parsed_bodies=answer["parsed"][len(answers) : len(answers) + len(bodies)],
        built=answer["built"],
        client=answer["client"],
        client_paths=paths,
        rotator_bodies=sent,
        parsed_rotator_bodies=answer["parsed"][len(answers) + len(bodies) : -1],
        parsed_docs_example=answer["parsed"][-1],
    )


def test_emulator_answers_parse_as_microsofts_models_and_round_trip(sdk_run: SdkRun) -> None:
    """Every key-set answer parses into the SDK's model with no unknown field and writes back equal."""
    for (model, document), result in zip(sdk_run.answers, sdk_run.parsed_answers, strict=True):
        unknown = set(result["additional"]) - {"@odata.context"}
        if model == "oDataError":  # B2C's correlationId sits in innerError's additional data
            assert result["fields"]["error"]["code"] == document["error"]["code"]
            assert result["fields"]["error"]["message"] == document["error"]["message"]
            inner = result["fields"]["error"]["inner_error"]
            assert inner["request_id"] == document["error"]["innerError"]["request-id"]
        assert not unknown, f"{model}: fields Microsoft's model does not know: {unknown}"
        assert result["serialized"] == document, model
    key = sdk_run.parsed_answers[2]["fields"]
    assert key["kty"] == "RSA"
    assert key["status"] == "enabled"
    assert isinstance(key["nbf"], int)
    assert key["x5c"] == sdk_run.answers[2][1]["x5c"]
    keyset = sdk_run.parsed_answers[4]["fields"]
    assert [k["kid"] for k in keyset["keys"]] == [sdk_run.answers[2][1]["kid"]]
    assert len(sdk_run.parsed_answers[8]["fields"]["value"]) == 2


def test_the_docs_dates_as_text_are_lost_by_the_sdk_so_the_emulator_sends_numbers(
    sdk_run: SdkRun,
) -> None:
    """The docs' example answer with nbf/exp as text loses both in the SDK's model (Int64)."""
    fields = sdk_run.parsed_docs_example["fields"]

    assert "nbf" not in fields
    assert "exp" not in fields
    assert isinstance(sdk_run.answers[3][1]["nbf"], int)


def test_rotators_request_bodies_parse_as_the_action_models(sdk_run: SdkRun) -> None:
    """rotator's uploadPkcs12 and uploadSecret bodies parse into the SDK's request-body models."""
    for (model, body), result in zip(sdk_run.bodies.items(), sdk_run.parsed_bodies, strict=True):
        assert result["additional"] == {}, model
        assert result["fields"] == body, model
        assert result["serialized"] == body, model


def test_the_bodies_rotator_sends_fit_the_action_models(sdk_run: SdkRun) -> None:
    """A real rotation's upload bodies hold only the SDK models' fields, with their types."""
    if isinstance(sdk_run.rotator_bodies, str):
        pytest.skip(sdk_run.rotator_bodies)
    models = sorted(model for model, _ in sdk_run.rotator_bodies)
    assert models == sorted(BODY_MODELS.values())
    for (model, body), result in zip(
        sdk_run.rotator_bodies, sdk_run.parsed_rotator_bodies, strict=True
    ):
        assert result["additional"] == {}, model
        assert result["fields"] == {k: v for k, v in body.items() if v is not None}, model


def test_bodies_built_by_the_sdk_are_accepted_by_the_emulator(
    emu: Emulator, graph: httpx.Client, sdk_run: SdkRun
) -> None:
    """The JSON the SDK writes for uploadPkcs12 and uploadSecret is what the emulator accepts."""
    graph.post("", json={"id": "Cert"})
    graph.post("", json={"id": "Secret"})

    assert graph.post("/B2C_1A_Cert/uploadPkcs12", json=sdk_run.built[0]).status_code == 200
    assert graph.post("/B2C_1A_Secret/uploadSecret", json=sdk_run.built[1]).status_code == 200
    assert emu.keysets.secret_matches("B2C_1A_Secret", CANARY) is not None


def test_microsofts_client_drives_the_emulated_key_sets(sdk_run: SdkRun) -> None:
    """GraphServiceClient lists, uploads, gets getActiveKey() and reads B2C's error from the emulator."""
    client = sdk_run.client
    uploaded = client["uploadPkcs12"]["fields"]

    assert "B2C_1A_ByTheSdk" in [s["id"] for s in client["list"]["fields"]["value"]]
    assert uploaded["kty"] == "RSA"
    assert client["getActiveKey"]["fields"]["kid"] == uploaded["kid"]
    assert [k["kid"] for k in client["get"]["fields"]["keys"]] == [uploaded["kid"]]
    assert client["uploadSecret"]["code"] == "AADB2C95032"  # a secret cannot join an RSA set
    assert (client["missing"]["status"], client["missing"]["code"]) == (404, "AADB2C90073")
    assert "/beta/trustFramework/keySets/B2C_1A_ByTheSdk/getActiveKey()" in sdk_run.client_paths
    assert CANARY not in json.dumps(client)
    not_after = sdk_run.leaf.certificate.not_valid_after_utc
    assert dt.datetime.fromtimestamp(uploaded["exp"], dt.UTC) == not_after
