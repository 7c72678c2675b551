"""Mutation testing of the pure core: run mutmut per module, then print the score and the survivors.

Usage (through ``./dev mutate``): ``python scripts/mutate.py [rotator/policy.py ...]``; without
arguments every module of ``[tool.mutmut] only_mutate`` in ``pyproject.toml`` is measured.

Each module is a separate ``mutmut run "rotator.<module>.*"`` (mutmut's own output goes to
``mutants/mutmut-<module>.log``), so the results are fresh for the modules asked for. The score of
a module is ``killed / (total - equivalent)``: a timeout counts as killed, a mutant no unit test
reaches counts as a survivor, and only the mutants listed in ``tests/mutation-equivalents.txt``
are not applicable. An entry there is ``<mutant name> <fingerprint> <reason>``; the fingerprint
is a digest of the mutant's changed lines, so an entry that no longer describes the same change
(the code moved, mutmut renumbered) stops counting and is reported as stale.

Exit status: 0 when every module measured reaches ``TARGET`` and no entry is stale, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.txt"
MUTMUT = Path(sys.executable).with_name("mutmut")
TARGET = 95.0
KILLED = {1, 3, 24, -24, 36, 152, 255}  # a failing test, pytest's internal error, a timeout
NOT_REACHED = {5, 33}  # no unit test runs the mutated function


@dataclass(frozen=True)
class Row:
    """A module's line of the table."""

    module: str
    total: int
    killed: int
    survived: int
    equivalent: int

    @property
    def score(self) -> float:
        """Killed among the applicable mutants, in per cent."""
        applicable = self.total - self.equivalent
        return 100.0 * self.killed / applicable if applicable else 100.0


@dataclass(frozen=True)
class Equivalent:
    """A line of the equivalents list."""

    name: str
    fingerprint: str
    reason: str


def modules_from_config() -> list[str]:
    """The files ``[tool.mutmut] only_mutate`` lists (``rotator/policy.py`` ...)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def dotted(path: str) -> str:
    """``rotator/policy.py`` → ``rotator.steps.policy``."""
    return path.removesuffix(".py").replace("/", ".")


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, Equivalent]:
    """The equivalents list, by mutant name (``#`` starts a comment line)."""
    found: dict[str, Equivalent] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            sys.exit(f"{path.name}:{number}: expected '<mutant> <fingerprint> <reason>'")
        found[parts[0]] = Equivalent(*parts)
    return found


def run_mutmut(module: str) -> float:
    """Run mutmut on the mutants of ``module``; its output goes to a log file. Seconds taken."""
    log = ROOT / "mutants" / f"mutmut-{dotted(module)}.log"
    log.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(  # noqa: S603 - this venv's mutmut, fixed arguments
            [str(MUTMUT), "run", f"{dotted(module)}.*"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        sys.exit(f"mutate: mutmut failed on {module} (exit {result.returncode}); see {log}")
    return time.monotonic() - started


def changed_lines(name: str, module: str) -> list[str]:
    """The lines a mutant removes (``-``) and adds (``+``), from mutmut's own diff."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=Path(module))
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def fingerprint(lines: list[str]) -> str:
    """Eight hex digits that identify a mutation by what it changes."""
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:8]


def report(modules: list[str], equivalents: dict[str, Equivalent]) -> bool:
    """Print the table and the survivors; True when every module reaches the target."""
    rows: list[Row] = []
    survivors: list[tuple[str, str, str, list[str]]] = []
    stale: list[str] = []
    for module in modules:
        codes = _exit_codes(module)
        killed = survived = equivalent = 0
        for name, code in sorted(codes.items()):
            if code in KILLED:
                killed += 1
                if name in equivalents:
                    stale.append(f"{name}: listed as equivalent but killed")
                continue
            lines = changed_lines(name, module)
            entry = equivalents.get(name)
            if entry is not None and entry.fingerprint == fingerprint(lines):
                equivalent += 1
                continue
            if entry is not None:
                stale.append(
                    f"{name}: the fingerprint no longer matches (now {fingerprint(lines)})"
                )
            survived += 1
            status = "no test reaches it" if code in NOT_REACHED else "survived"
            if code not in NOT_REACHED and code != 0:
                status = f"mutmut exit code {code}"
            survivors.append((name, fingerprint(lines), status, lines))
        rows.append(Row(module, len(codes), killed, survived, equivalent))
    known = {name for module in modules for name in _exit_codes(module)}
    prefixes = tuple(f"{dotted(m)}." for m in modules)
    stale += [
        f"{name}: no such mutant"
        for name in equivalents
        if name.startswith(prefixes) and name not in known
    ]

    print(
        f"{'module':<22} {'total':>6} {'killed':>7} {'survived':>9} {'equivalent':>11} {'score':>7}"
    )
    total = Row(
        "all",
        *(sum(getattr(r, f) for r in rows) for f in ("total", "killed", "survived", "equivalent")),
    )
    for row in [*rows, total]:
        mark = "" if row.score >= TARGET or row is total else f"  below {TARGET:g} %"
        print(
            f"{row.module:<22} {row.total:>6} {row.killed:>7} {row.survived:>9} "
            f"{row.equivalent:>11} {row.score:>6.1f}%{mark}"
        )
    if survivors:
        print(f"\nSurviving mutants ({len(survivors)}): name, fingerprint, status, change")
        for name, digest, status, lines in survivors:
            print(f"\n{name} {digest} ({status})")
            for line in lines:
                print(f"    {line[:1]} {line[1:].strip()}")
    if stale:
        print(f"\nStale entries in {EQUIVALENTS.relative_to(ROOT)} (they do not count):")
        for line in stale:
            print(f"    {line}")
    return all(row.score >= TARGET for row in rows) and not stale


def _exit_codes(module: str) -> dict[str, int | None]:
    """mutmut's exit code per mutant of ``module`` (None: not run)."""
    meta = ROOT / "mutants" / f"{module}.meta"
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return codes


def main(argv: list[str]) -> int:
    """Run mutmut on each module asked for (fresh), then report."""
    os.chdir(ROOT)  # mutmut reads pyproject.toml and mutants/ from the working directory
    configured = modules_from_config()
    modules = argv or configured
    if unknown := [m for m in modules if m not in configured]:
        sys.exit(f"mutate: {', '.join(unknown)} not in [tool.mutmut] only_mutate")
    equivalents = load_equivalents()
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # mutmut keeps stale copies otherwise
    for module in modules:
        print(f"== mutmut {module}", end="", flush=True)
        seconds = run_mutmut(module)
        print(f" ({seconds:.0f} s)", flush=True)
    print()
    return 0 if report(modules, equivalents) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
