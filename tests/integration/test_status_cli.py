"""``rotator status`` as a monitor reads it (issue 21): the word of attention, the last outcome and
the display name of every target, and an exit code that is 1 exactly when someone must act."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rotator.emulator import Emulator, pki
from rotator.state.records import blob_stem

from .support import deferred_target, environment, seed_certificate
from .test_cli import run


@pytest.fixture
def ca() -> pki.Issued:
    return pki.make_ca("Status CA")


def one_target(document: str) -> dict[str, Any]:
    (target,) = json.loads(document)["targets"]
    assert isinstance(target, dict)
    return target


def test_a_failed_last_rotation_is_failing_and_exits_1(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """Graph refuses the write: status exits 1, JSON says lastOutcome failed and attention
    failing, and the text starts with FAILING, the display name and the failure."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("Profile enrichment API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    emu.faults.add(service="graph", method="PATCH", status=400)
    assert run(env, "rotate").returncode == 1
    document = run(env, "status", "--json")
    assert document.returncode == 1, document.stderr
    target = one_target(document.stdout)
    assert target["lastOutcome"]["outcome"] == "failed"
    assert target["lastOutcome"]["trigger"] == "cli"
    assert target["lastOutcome"]["at"].endswith("Z")
    assert target["attention"] == "failing"
    assert target["displayName"] == "Profile enrichment API"
    text = run(env, "status")
    assert text.returncode == 1
    first, second = text.stdout.splitlines()[:2]
    assert first.startswith(f'FAILING     {connector}  "Profile enrichment API"')
    assert second.startswith("            last       failed ")
    assert "(cli): " in second


def test_an_expiring_credential_exits_1_though_in_sync(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """In sync but expiring within the warning days: attention expiring, exit 1."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1, "valid": (-1, 10)}])
    connector = emu.graph.add_connector("API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    assert run(env, "rotate").returncode == 0
    result = run(env, "status", "--json")
    assert result.returncode == 1
    target = one_target(result.stdout)
    assert (target["inSync"], target["attention"]) == (True, "expiring")
    assert target["lastOutcome"]["outcome"] == "rotated"
    quiet = environment(
        emu,
        tmp_path,
        {"id": connector, "certificate": "api-cert"},
        ROTATOR_EXPIRY_WARNING_DAYS="5",
    )
    assert run(quiet, "status").returncode == 0


def test_a_deferred_certificate_exits_0(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> None:
    """A certificate waiting for its notBefore asks nothing: attention deferred, exit 0."""
    target = deferred_target(emu, ca)
    connector = target["id"]
    env = environment(emu, tmp_path, target)
    result = run(env, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert one_target(result.stdout)["attention"] == "deferred"
    assert run(env, "status").stdout.startswith(f'deferred    {connector}  "Cert API"')


def test_an_ok_target_exits_0_and_rotate_names_it(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """rotate --json and its text carry the display name read from Graph; status is then ok."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("Orders API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    rotated = run(env, "rotate", "--json")
    assert json.loads(rotated.stdout)["outcomes"][0]["displayName"] == "Orders API"
    again = run(env, "rotate")
    assert again.stdout.startswith(f'up-to-date  {connector}  "Orders API"  (certificate)')
    status = run(env, "status")
    assert status.returncode == 0, status.stdout
    assert status.stdout.startswith(f'ok          {connector}  "Orders API"')
    assert status.stdout.splitlines()[-1] == "1 target(s): 1 ok"


def test_status_help_documents_the_exit_codes() -> None:
    """`status --help` says which words of attention exit 1."""
    text = run({}, "status", "--help").stdout
    assert "1 a target is failing, refused, behind or expiring" in text
    assert "0 every target is ok or deferred" in text


# -- history of every target (issue 21 item 4) --------------------------------------------------


@pytest.fixture
def two_rotated(emu: Emulator, ca: pki.Issued, tmp_path: Path) -> tuple[dict[str, str], str, str]:
    """Two connectors, the first rotated, then the second (each leaves one history line)."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    first = emu.graph.add_connector("First API", "https://one.test")
    second = emu.graph.add_connector("Second API", "https://two.test")
    env = environment(
        emu,
        tmp_path,
        {"id": first, "certificate": "api-cert"},
        {"id": second, "certificate": "api-cert"},
    )
    assert run(env, "rotate", "--connector", first).returncode == 0
    assert run(env, "rotate", "--connector", second).returncode == 0
    return env, first, second


def test_history_without_an_id_merges_every_target_newest_first(
    two_rotated: tuple[dict[str, str], str, str],
) -> None:
    """`history` alone lists both connectors' lines, the newest first, each naming its target
    (id and display name); --json's entries carry targetKind, connectorId, displayName."""
    env, first, second = two_rotated
    text = run(env, "history")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert f'{second}  "Second API"' in lines[0]
    assert f'{first}  "First API"' in lines[2]  # under each line: its reason
    assert lines[-1] == "2 line(s) of 2 target(s)"
    document = json.loads(run(env, "history", "--json").stdout)
    entries = document["entries"]
    assert [(e["targetKind"], e["connectorId"], e["displayName"]) for e in entries] == [
        ("connector", second, "Second API"),
        ("connector", first, "First API"),
    ]
    assert entries[0]["outcome"] == "rotated"
    assert (document["limit"], document["truncated"]) == (50, False)


def test_history_limit_and_since_cut_the_list(
    two_rotated: tuple[dict[str, str], str, str],
) -> None:
    """--limit 1 keeps the newest line and says more exist; --since tomorrow keeps none; the
    per-target form takes them too."""
    env, first, second = two_rotated
    one = json.loads(run(env, "history", "--limit", "1", "--json").stdout)
    assert [e["connectorId"] for e in one["entries"]] == [second]
    assert one["truncated"] is True
    assert "--limit N shows more" in run(env, "history", "--limit", "1").stdout
    later = run(env, "history", "--since", "2999-01-01")
    assert later.returncode == 0
    assert later.stdout.startswith("no rotation recorded since 2999-01-01 00:00 UTC")
    single = json.loads(
        run(
            env, "history", "--connector", first, "--since", "2999-01-01T00:00:00Z", "--json"
        ).stdout
    )
    assert (single["history"], single["displayName"]) == ([], "First API")


@pytest.mark.parametrize(
    ("flag", "value"), [("--since", "yesterday"), ("--since", "2026-13-01"), ("--limit", "0")]
)
def test_a_bad_since_or_limit_is_one_clear_usage_error(
    emu: Emulator, tmp_path: Path, flag: str, value: str
) -> None:
    """A --since that is not an ISO date or a --limit under 1 exits 2 with one line naming it."""
    env = environment(emu, tmp_path, {"id": "c1", "certificate": "api-cert"})
    result = run(env, "history", flag, value)
    assert result.returncode == 2
    (error,) = [line for line in result.stderr.splitlines() if "usage error" in line]
    assert flag in error
    assert "Traceback" not in result.stderr


def test_history_prints_with_graph_hanging(
    emu: Emulator, two_rotated: tuple[dict[str, str], str, str]
) -> None:
    """Graph does not answer: history still prints from the state store within seconds,
    the display names left out."""
    env, first, second = two_rotated
    emu.faults.add(service="graph", delay=30)
    started = time.monotonic()
    result = run(env, "history", "--json")
    assert time.monotonic() - started < 20
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)["entries"]
    assert [(e["connectorId"], e["displayName"]) for e in entries] == [
        (second, None),
        (first, None),
    ]


def test_an_unknown_id_lists_the_known_ones_escaped(
    two_rotated: tuple[dict[str, str], str, str],
) -> None:
    """`history --connector nope` exits 2 naming every known connector and key set; a hostile
    id cannot drive the terminal."""
    env, first, second = two_rotated
    result = run(env, "history", "--connector", "nope\x1b[2J")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "'nope\\x1b[2J' is not configured" in line
    assert f"connectors: {first}, {second}" in line
    assert "key sets: none" in line
    assert "\x1b" not in result.stderr


def test_an_unreadable_record_is_named_and_the_others_still_listed(
    two_rotated: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    """One target's record is damaged: history lists the other's lines, names the damaged one
    in one line, and exits 1."""
    env, first, second = two_rotated
    damaged = tmp_path / "connectors" / f"{blob_stem(first)}.json"  # the local store's file
    assert damaged.exists()
    damaged.write_bytes(b"\x00 not a record")
    result = run(env, "history")
    assert result.returncode == 1
    assert second in result.stdout.splitlines()[0]
    assert any(
        line.startswith(f"{first}: history unreadable: ") for line in result.stdout.splitlines()
    )
    document = json.loads(run(env, "history", "--json").stdout)
    assert [e["connectorId"] for e in document["errors"]] == [first]


def test_a_reader_that_leaves_early_gets_no_traceback(
    emu: Emulator, ca: pki.Issued, tmp_path: Path
) -> None:
    """`rotator status --json | head -c1`: the pipe closes before the document is written; the
    command ends with exit 1 and nothing on stderr (it ended in a BrokenPipeError traceback)."""
    seed_certificate(emu, "api-cert", ca, [{"age": 1}])
    connector = emu.graph.add_connector("Orders API", "https://api.test")
    env = environment(emu, tmp_path, {"id": connector, "certificate": "api-cert"})
    full = {k: v for k, v in os.environ.items() if not k.startswith("ROTATOR_")} | env
    reader, writer = os.pipe()
    os.close(reader)  # the reader left before the first byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rotator", "status", "--json"],
            env=full,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 1
