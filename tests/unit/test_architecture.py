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


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# The rooms of ``rotator/``, lowest first: a room may import only the rooms before it. The top
# level holds the vocabulary (one room) and the two use cases (``rotation``, ``status``).
VOCABULARY = ("model", "standing", "errors", "events", "text", "hints")
USE_CASES = ("rotation", "status")
LAYERS = (
    "vocabulary",
    "config",
    "state",
    "steps",
    "azure",
    "keepalive",
    "use cases",
    "check",
    "faces",
    "functions",
)
# The emulator stands apart: it imports nothing of rotator, and only the faces (demo, serve) use it.
APART = "emulator"
TOP_LEVEL = {"__init__", "__main__", *VOCABULARY, *USE_CASES}

# Modules that decide without a network, a file or a clock of their own: the vocabulary, the
# configuration, the steps but the probes, and the parsers and renderers that sit in other rooms.
PURE = (
    *(f"rotator.{name}" for name in VOCABULARY),
    *sorted(
        name
        for name in (
            module_name(p)
            for p in PACKAGE.glob("*/*.py")
            if p.parent.name in ("config", "steps") and p.name != "__init__.py"
        )
        if name
        not in ("rotator.steps.probe", "rotator.steps.probe_wire", "rotator.steps.keyset_probe")
    ),
    "rotator.state.records",
    "rotator.state.codec",
    "rotator.functions.triggers",
    "rotator.functions.queue_message",
    "rotator.faces.render",
    "rotator.faces.render_html",
    "rotator.faces.render_overview",
    "rotator.faces.page_parts",
    "rotator.faces.page_css",
    "rotator.check.report",
    "rotator.azure.graph_answers",
    "rotator.azure.keyvault_answers",
    "rotator.azure.keyset_answers",
)
# The modules that do I/O, and the libraries that talk to the network.
IO_EDGES = (
    "rotator.azure.keyvault",
    "rotator.azure.graph",
    "rotator.azure.entra",
    "rotator.azure.credentials",
    "rotator.azure.app_credential",
    "rotator.azure.wiring",
    "rotator.state.local",
    "rotator.state.blob",
    "rotator.steps.probe",
    "rotator.steps.probe_wire",
    "rotator.steps.keyset_probe",
    "rotator.azure.keysets",
    "rotator.emulator",
    "azure.identity",
    "azure.keyvault",
    "azure.storage",
    "httpx",
)
MAX_LINES = 420


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
            for statement in node.orelse:
                visit(statement)
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


def is_io_edge(name: str) -> bool:
    """``name`` is one of ``IO_EDGES`` or inside one (``httpx._client``, not ``keyvault_answers``)."""
    return any(name == edge or name.startswith(edge + ".") for edge in IO_EDGES)


def room(module: str) -> str:
    """The room of a module of ``rotator/``: its subpackage, or the vocabulary or use cases."""
    parts = module.split(".")
    if len(parts) == 1:
        return "vocabulary"  # rotator/__init__.py: the package's public errors
    if len(parts) > 2 or (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "use cases" if parts[1] in USE_CASES else "vocabulary"


def room_graph() -> dict[str, set[str]]:
    """Which room imports which (an edge inside one room is left out)."""
    rooms: dict[str, set[str]] = {}
    for module, deps in internal_graph().items():
        if module == "rotator.__main__":
            continue  # ``python -m rotator``: the CLI's entry point, the top of every layer
        rooms.setdefault(room(module), set()).update(room(dep) for dep in deps)
    return {name: deps - {name} for name, deps in rooms.items()}


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The finder reports a three-module cycle as its path (so a green test means something)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lazy_imports_count_and_type_checking_imports_do_not() -> None:
    """An import inside a function is an edge; one under ``if TYPE_CHECKING:`` is not."""
    imports = runtime_imports("rotator.faces.cli")
    assert "rotator.rotation" in imports  # imported inside the command functions
    assert "rotator.azure.keyvault" not in runtime_imports("rotator.steps.package")  # type-only


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
    assert not {dep for dep in reached if is_io_edge(dep)}, sorted(seen)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("rotator.emulator")))
def test_modules_stay_small(name: str) -> None:
    """Every module outside the emulator fits in about 400 lines."""
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_every_module_says_what_it_is() -> None:
    """Every module of ``rotator/`` opens with a docstring."""
    missing = [n for n, p in MODULES.items() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def test_rooms_have_no_import_cycle() -> None:
    """No room of ``rotator/`` imports itself through other rooms (cycles between packages)."""
    assert find_cycle(room_graph()) is None, room_graph()


def test_room_finder_puts_each_module_in_its_room() -> None:
    """The room of a module is its folder; at the top level, the vocabulary or a use case."""
    assert room("rotator.steps.plan") == "steps"
    assert room("rotator.model") == "vocabulary"
    assert room("rotator.rotation") == "use cases"
    assert room("rotator.emulator.pki") == "emulator"


@pytest.mark.parametrize("name", sorted(set(LAYERS) | {APART}))
def test_each_room_imports_only_the_rooms_below_it(name: str) -> None:
    """A room imports only rooms earlier in ``LAYERS``; the emulator imports no other room."""
    imported = room_graph().get(name, set())
    if name == APART:
        assert imported == set()
        return
    below = set(LAYERS[: LAYERS.index(name)]) | ({APART} if name == "faces" else set())
    assert imported <= below, f"{name} imports {sorted(imported - below)} above it"


def test_every_room_is_in_the_layers() -> None:
    """Every folder of ``rotator/`` is a room of ``LAYERS`` (a new room must be placed)."""
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders == (set(LAYERS) | {APART}) - {"vocabulary", "use cases"}


def test_only_the_vocabulary_and_the_use_cases_sit_at_the_top() -> None:
    """A new module goes into the room that says what it is, not directly under ``rotator/``."""
    assert {p.stem for p in PACKAGE.glob("*.py")} == TOP_LEVEL


def test_every_room_says_what_it_may_import() -> None:
    """Each room's ``__init__.py`` says in its docstring what the room holds and may import."""
    for init in PACKAGE.glob("*/__init__.py"):
        if init.parent.name == APART:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc, init
