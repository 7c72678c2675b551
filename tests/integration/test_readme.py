"""The README a newcomer reads on a fresh clone (issue 21): nothing outside the clone, the Node
that Azurite really needs, the quick start short and before the measurements."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
AZURITE = REPO / ".tools" / "node_modules" / "azurite" / "package.json"


def test_the_readme_points_nowhere_outside_the_clone() -> None:
    """No path above the repository (the research notes live outside it)."""
    assert "../shared" not in README
    for path in (REPO / "rotator").rglob("*.py"):
        assert "../shared" not in path.read_text(encoding="utf-8"), path


@pytest.mark.skipif(not AZURITE.exists(), reason="azurite is not installed in .tools")
def test_the_readme_says_which_node_azurite_declares() -> None:
    """The Node version the README gives for Azurite is the one its package.json asks for."""
    engines = json.loads(AZURITE.read_text())["engines"]["node"]
    wanted = re.fullmatch(r">=\s*(\d+)(?:\.\d+)*", engines)
    assert wanted is not None, engines
    assert f"declares Node {wanted.group(1)} or newer" in " ".join(README.split())


def test_the_quick_start_is_five_commands_at_most_and_comes_first() -> None:
    """The quick start has no more than five commands and nothing to copy by hand; mutation
    testing is explained after it, not in the middle of getting started."""
    start = README.index("### From a fresh clone to a first rotation")
    block = README[start:].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) <= 5
    assert not any(word in block for word in ("cp ", "fill in", "copy"))
    assert README.index("## Mutation testing") > README.index("## The local emulator")


def test_the_local_function_section_uses_the_generated_settings() -> None:
    """Running the Function locally copies nothing from the env file by hand."""
    section = README.split("### Run the Function locally", 1)[1].split("\n## ", 1)[0]
    assert "--local-settings" in section
    assert "cp local.settings.json.example" not in section
