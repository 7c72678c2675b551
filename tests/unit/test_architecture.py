"""The shape of ``rotator/``: no import cycle, a pure core that imports no I/O edge, small modules.

Read from the modules' own source with ``ast``, so the test sees every import a module can
execute: at the top, inside functions (lazy imports) and in ``try`` blocks. Imports under
``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rotator"

# Modules that decide without a network, a file or a clock of their own.
PURE = (
    "rotator.model",
    "rotator.policy",
    "rotator.pkcs12",
    "rotator.plan",
    "rotator.package",
    "rotator.progress",
    "rotator.state",
    "rotator.triggers",
    "rotator.render",
    "rotator.render_html",
    "rotator.hints",
    "rotator.check_report",
    "rotator.probe_config",
    "rotator.probe_verdict",
    "rotator.state_codec",
    "rotator.graph_answers",
    "rotator.keyvault_answers",
    "rotator.targets",
    "rotator.urls",
    "rotator.text",
)
# The edges that do I/O, and the libraries that talk to the network.
IO_EDGES = (
    "rotator.keyvault",
    "rotator.graph",
    "rotator.state_local",
    "rotator.state_blob",
    "rotator.emulator",
    "azure.identity",
    "azure.keyvault",
    "azure.storage",
    "httpx",
)
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(name: str) -> set[str]:
    """Every module ``name`` can import at run time (absolute names, any package)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def internal_graph() -> dict[str, set[str]]:
    return {
        name: {dep for dep in runtime_imports(name) if dep in MODULES and dep != name}
        for name in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := walk(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The finder reports a three-module cycle as its path (so a green test means something)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lazy_imports_count_and_type_checking_imports_do_not() -> None:
    """An import inside a function is an edge; one under ``if TYPE_CHECKING:`` is not."""
    imports = runtime_imports("rotator.cli")
    assert "rotator.rotation" in imports  # imported inside the command functions
    assert "rotator.keyvault" not in runtime_imports("rotator.package")  # type-only


def test_rotator_has_no_import_cycle() -> None:
    """No module of ``rotator/`` (the emulator included) imports itself through others."""
    assert find_cycle(internal_graph()) is None


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_io_edge(name: str) -> None:
    """The pure core reaches no I/O edge, directly or through the modules it imports."""
    graph = internal_graph()
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(graph[current])
    reached = {dep for module in seen for dep in runtime_imports(module)}
    assert not {dep for dep in reached if dep.startswith(IO_EDGES)}, sorted(seen)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("rotator.emulator")))
def test_modules_stay_small(name: str) -> None:
    """Every module outside the emulator fits in about 400 lines."""
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_every_module_says_what_it_is() -> None:
    """Every module of ``rotator/`` opens with a docstring."""
    missing = [n for n, p in MODULES.items() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []
