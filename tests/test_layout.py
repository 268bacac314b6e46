"""The house rules of the package layout: stages in subpackages, no import cycles,
short modules that say their job, and the old public import paths still working."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fnrag", "training")
MAX_LINES = 400
# The style guide keeps every result record in one ``types.py`` (as paper-qa does):
# it is a list of frozen dataclasses with a docstring per field, read by lookup, not
# in one sitting, so it may grow past the limit of a module of code.
LONGER_MODULES = {"fnrag.types": 700}
MAX_TOP_LEVEL_MODULES = 12


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Every project module ``name`` imports: at the top, lazily, or for type checking."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
    # A package's own __init__ is loaded before any of its modules anyway: an edge
    # from a module to the package that contains it is not a cycle of the code.
    return {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_is_short_and_says_its_job(name: str) -> None:
    path = _modules()[name]
    source = path.read_text(encoding="utf-8")
    limit = LONGER_MODULES.get(name, MAX_LINES)
    assert len(source.splitlines()) <= limit, f"{path} is over {limit} lines: split it"
    if source.strip():
        assert ast.get_docstring(ast.parse(source)), f"{path} has no module docstring"


def test_top_of_the_package_stays_small() -> None:
    top = [p.name for p in (ROOT / "fnrag").glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "fnrag",
            [
                "build_index",
                "load_index",
                "ask",
                "Assistant",
                "Answer",
                "Citation",
                "Hit",
                "Chunk",
                "FnragError",
                "__version__",
            ],
        ),
        ("fnrag.api", ["ask", "Assistant", "Answer", "Citation", "Timings"]),
        ("fnrag.types", ["Hit", "Chunk", "Document"]),
        ("fnrag.index", ["build_index", "load_index", "Index", "BuildReport"]),
    ],
)
def test_public_import_paths_keep_working(module: str, names: list[str]) -> None:
    loaded = importlib.import_module(module)
    for name in names:
        assert getattr(loaded, name) is not None
    # One object behind every path: isinstance checks in bank code keep holding.
    import fnrag

    for name in set(names) & set(fnrag.__all__):
        assert getattr(loaded, name) is getattr(fnrag, name)


def test_the_version_has_one_home() -> None:
    import tomllib

    import fnrag
    from fnrag.paths import VERSION

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert fnrag.__version__ == VERSION == project["version"]
