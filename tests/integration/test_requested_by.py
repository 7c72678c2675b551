"""``requestedBy`` of a command-line rotation (issue 21 item 6): the identity Graph sees, read from
the token rotator already holds for each Graph identity, else the OS user; HTTP runs unchanged."""

from __future__ import annotations

import getpass
import json
import uuid
from pathlib import Path

import pytest

from rotator.emulator import Emulator, pki
from rotator.state.local import LocalStateStore

from .support import DAY, environment, requests, seed_secret
from .test_cli import run

TENANT, APP = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("Requester CA")


def basic_connector(emu: Emulator, tenant: str | None = None) -> str:
    return emu.graph.add_connector(
        "API", "https://api.test", username="u", password="old", tenant_id=tenant
    )


def behind(emu: Emulator, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A basic connector of the managed identity behind Key Vault's newest password, and the
    environment of a CLI pointed at it."""
    seed_secret(emu, "pw", [{"value": "old", "age": 9}, {"value": "new-password-1"}])
    connector = basic_connector(emu)
    basic = {"username": "u", "passwordSecret": "pw"}
    return connector, environment(emu, tmp_path, {"id": connector, "basic": basic})


def last_requested_by(tmp_path: Path, connector: str) -> str | None:
    return LocalStateStore(tmp_path).read(connector).history[-1].requested_by


def test_a_cli_rotation_records_the_managed_identitys_app_displayname(
    emu: Emulator, tmp_path: Path
) -> None:
    """The managed identity's token names it (app_displayname): that is requestedBy, not the
    OS user; the name costs no token request of its own."""
    connector, env = behind(emu, tmp_path)
    emu.clear_journal()
    result = run(env, "rotate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_requested_by(tmp_path, connector) == "func-rotator-emulator"
    assert len(requests(emu, service="identity")) == 2  # Key Vault's and Graph's: no third


def test_without_app_displayname_the_oid_names_the_caller(emu: Emulator, tmp_path: Path) -> None:
    """A token without upn or app_displayname: its oid (the managed identity's principal)."""
    emu.identity.display_name = None
    connector, env = behind(emu, tmp_path)
    assert run(env, "rotate").returncode == 0
    assert last_requested_by(tmp_path, connector) == emu.tokens.object_id


def test_a_hostile_app_displayname_is_kept_short_and_printable(
    emu: Emulator, tmp_path: Path
) -> None:
    """The claim is outside input: control characters escaped, at most 120 characters."""
    emu.identity.display_name = "evil\x1b[2J\nFORGED" + "x" * 500
    connector, env = behind(emu, tmp_path)
    assert run(env, "rotate").returncode == 0
    who = last_requested_by(tmp_path, connector) or ""
    assert who.startswith("evil\\x1b[2J\\nFORGED")
    assert len(who) <= 120
    assert "\x1b" not in who


def test_each_graph_identity_names_its_own_caller(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Connectors reached through different Graph identities record each identity's own name:
    the B2C tenant's app by its display name, the managed identity by its own."""
    now = pki.utcnow()
    leaf = pki.make_leaf("prod-app", issuer=ca, not_before=now - DAY, not_after=now + 365 * DAY)
    emu.vault.import_certificate("prod-app", leaf, chain=[ca.certificate], created=now - DAY)
    emu.entra.register_app(
        APP, tenant_id=TENANT, certificate=leaf.certificate, display_name="B2C rotator app"
    )
    seed_secret(emu, "pw", [{"value": "old", "age": 9}, {"value": "new-password-1"}])
    b2c, workforce = basic_connector(emu, TENANT), basic_connector(emu)
    config = {
        "keyVaultUrl": emu.vault_url,
        "identities": {
            "b2c": {
                "credential": "client-certificate",
                "tenantId": TENANT,
                "clientId": APP,
                "clientCertificate": "prod-app",
                "authorityHost": emu.authority_url,
            },
            "workforce": {"credential": "default"},
        },
        "connectors": [
            {"id": cid, "identity": name, "basic": {"username": "u", "passwordSecret": "pw"}}
            for name, cid in (("b2c", b2c), ("workforce", workforce))
        ],
    }
    env = {
        **emu.env(),
        "ROTATOR_CONFIG": json.dumps(config),
        "ROTATOR_STATE_DIR": str(tmp_path),
        "ROTATOR_VERIFY_TIMEOUT": "3",
    }
    emu.clear_journal()
    result = run(env, "rotate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_requested_by(tmp_path, b2c) == "B2C rotator app"
    assert last_requested_by(tmp_path, workforce) == "func-rotator-emulator"
    assert len(requests(emu, service="entra", method="POST", path="/token")) == 1


def test_a_rollback_pin_names_the_same_caller_as_its_history_line(
    emu: Emulator, tmp_path: Path
) -> None:
    """`rotate --version` pins: the pin's requestedBy is the token's caller, as the history's."""
    seeded = seed_secret(emu, "pw", [{"value": "old-password", "age": 9}, {"value": "newer-pw"}])
    connector = basic_connector(emu)
    env = environment(
        emu, tmp_path, {"id": connector, "basic": {"username": "u", "passwordSecret": "pw"}}
    )
    args = ("--connector", connector, "--version", seeded.versions[0], "--reason", "INC-4")
    result = run(env, "rotate", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(run(env, "history", "--connector", connector, "--json").stdout)
    assert document["pin"]["requestedBy"] == "func-rotator-emulator"
    assert document["history"][0]["requestedBy"] == "func-rotator-emulator"


def test_a_run_that_never_reached_graph_names_the_os_user(emu: Emulator, tmp_path: Path) -> None:
    """Key Vault fails before Graph is called: no token is held, none is asked for a name, and
    the failure's history line names the OS user."""
    connector = basic_connector(emu)
    env = environment(
        emu, tmp_path, {"id": connector, "basic": {"username": "u", "passwordSecret": "nope"}}
    )
    emu.faults.add(service="vault", status=403)
    emu.clear_journal()
    assert run(env, "rotate").returncode == 1
    assert last_requested_by(tmp_path, connector) == getpass.getuser()
    assert requests(emu, service="graph") == []
