"""The targets document read from a file: its encoding does not depend on the host's locale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import rotator
from rotator.config.targets import load_config, parse_targets
from rotator.model import BasicTarget

CONFIG = {
    "keyVaultUrl": "https://contoso-kv.vault.azure.net",
    "connectors": [{"id": "c1", "basic": {"username": "jürgen", "passwordSecret": "pw"}}],
}
READ = (
    "import sys; from rotator.config.targets import load_config, parse_targets; "
    "print(ascii(parse_targets(load_config(sys.argv[1]))[0].username))"
)


def test_a_config_file_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """A UTF-8 config file holding ``jürgen`` parses in a C locale without UTF-8 mode."""
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(CONFIG, ensure_ascii=False), encoding="utf-8")
    target = parse_targets(load_config(str(path)))[0]  # in this process too
    assert isinstance(target, BasicTarget)
    assert target.username == "jürgen"
    # the rotator under test (mutmut's copy when it runs), in a process whose locale is ASCII
    source_root = Path(rotator.__file__).resolve().parents[1]
    locale = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env = {**os.environ, **locale, "PYTHONPATH": str(source_root)}
    result = subprocess.run(
        [sys.executable, "-c", READ, str(path)],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "'j\\xfcrgen'"), result.stderr
