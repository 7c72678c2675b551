"""`./dev` itself: the help lists every command, and setup skips uv when nothing it reads changed
(issue 21: every call spent seconds re-syncing .venv). Run on a copy with a fake uv on PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def copy_with_fake_uv(tmp_path: Path) -> tuple[Path, Path]:
    """The dev script and the files setup reads, in ``tmp_path``; a uv that logs its calls and
    makes the venv's scripts. Returns the copy's directory and the log."""
    for name in ("dev", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy2(REPO / name, tmp_path / name)
    bin_dir, log = tmp_path / "fake-bin", tmp_path / "uv.log"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        "mkdir -p .venv/bin\n"
        "for s in python rotator; do printf '#!/bin/sh\\n' > .venv/bin/$s; chmod +x .venv/bin/$s; done\n"
    )
    uv.chmod(0o755)
    return tmp_path, log


def dev(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # HOME: the script puts ~/.local/bin (where it installs uv) first on PATH
    env = {
        **os.environ,
        "HOME": str(directory),
        "PATH": f"{directory / 'fake-bin'}:{os.environ['PATH']}",
    }
    return subprocess.run(
        [str(directory / "dev"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def uv_calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_setup_skips_uv_when_its_inputs_are_unchanged(tmp_path: Path) -> None:
    """The second setup calls no uv; a changed requirements file syncs again."""
    directory, log = copy_with_fake_uv(tmp_path)
    assert dev(directory, "setup").returncode == 0
    first = uv_calls(log)
    assert first >= 2  # sync, then the editable install
    assert dev(directory, "setup").returncode == 0
    assert uv_calls(log) == first
    with (directory / "requirements-dev.txt").open("a") as pins:
        pins.write("# changed\n")
    assert dev(directory, "setup").returncode == 0
    assert uv_calls(log) > first


def test_help_lists_every_command_the_script_accepts(tmp_path: Path) -> None:
    """Every command of the dispatch (lock included) has a line in `./dev help`."""
    script = (REPO / "dev").read_text()
    dispatch = script[script.index('case "$cmd" in') :]
    commands = set(re.findall(r"^    ([a-z]+)\)", dispatch, re.MULTILINE))
    shown = dev(REPO, "help").stdout
    assert {"lock", "setup", "emulator"} <= commands
    assert {c for c in commands if f"./dev {c}" not in shown} == set()
