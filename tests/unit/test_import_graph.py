"""No import cycle in ``src/palsyflow``, counting imports inside functions too.

The graph is built from the source with :mod:`ast` (nothing is imported): every
``import a.b`` and ``from a import b`` anywhere in a module, at module level, inside
functions, classes, ``if TYPE_CHECKING`` blocks or ``try`` blocks, is an edge to the
palsyflow module it names. Relative imports are resolved against the importing
module's package; ``from pkg import name`` is an edge to ``pkg.name`` when that is a
module (a submodule import), else to ``pkg`` itself. Importing ``a.b.c`` is an edge
to ``a.b.c`` only (the parent packages it also runs are not counted: a package's
``__init__`` importing its own submodules would otherwise close a cycle with every
submodule).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT_PKG = "palsyflow"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / ROOT_PKG).rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The palsyflow module ``name`` refers to (itself or its nearest existing parent)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_edges(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Palsyflow modules imported anywhere in ``path`` (module- and function-level).

    Parameters
    ----------
    module : str
        Dotted name of the module in ``path``.
    path : Path
    modules : dict
        Every palsyflow module name -> its file.

    Returns
    -------
    set of str
        Dotted names of the imported palsyflow modules (the module itself excluded).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT_PKG or alias.name.startswith(ROOT_PKG + "."):
                    target = _resolve(alias.name, modules)
                    if target:
                        out.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if not (base == ROOT_PKG or base.startswith(ROOT_PKG + ".")):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in modules else _resolve(base, modules)
                if target:
                    out.add(target)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the palsyflow modules it imports, for every module under ``src/palsyflow``."""
    modules = _modules()
    return {m: import_edges(m, p, modules) for m, p in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan).

    Returns
    -------
    list of list of str
        Each cycle as a module path ``[a, b, ..., a]``, sorted.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        # iterative Tarjan (recursion depth stays small, but keep it explicit)
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    components.append(comp)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(_cycle_in(comp, graph) for comp in components)


def _cycle_in(comp: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the smallest module name of a strongly connected set."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, start]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in {comp}")  # pragma: no cover


def _fmt(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in cycles)


# the checker itself --------------------------------------------------------------------
def test_edges_cover_function_level_relative_and_submodule_imports(tmp_path):
    pkg = tmp_path / "palsyflow"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py"):
        (pkg / f).write_text("")
    (pkg / "a.py").write_text(
        "import numpy\n"
        "def f():\n"
        "    from palsyflow.sub import c\n"  # function level, from-package-import-submodule
        "    from .b import thing\n"  # relative, a name
        "    import palsyflow.sub.c.missing\n"  # resolves to the nearest module
    )
    (pkg / "sub" / "c.py").write_text("from .. import a\nfrom ..sub import c\n")
    modules = {
        "palsyflow": pkg / "__init__.py",
        "palsyflow.a": pkg / "a.py",
        "palsyflow.b": pkg / "b.py",
        "palsyflow.sub": pkg / "sub" / "__init__.py",
        "palsyflow.sub.c": pkg / "sub" / "c.py",
    }
    assert import_edges("palsyflow.a", modules["palsyflow.a"], modules) == {"palsyflow.sub.c", "palsyflow.b"}
    assert import_edges("palsyflow.sub.c", modules["palsyflow.sub.c"], modules) == {"palsyflow.a"}
    graph = {m: import_edges(m, p, modules) for m, p in modules.items()}
    assert find_cycles(graph) == [["palsyflow.a", "palsyflow.sub.c", "palsyflow.a"]]


def test_find_cycles_reports_each_cycle_once():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d", "a"}, "e": {"f"}, "f": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


# the project ---------------------------------------------------------------------------
def test_the_graph_sees_the_real_package():
    graph = import_graph()
    assert "palsyflow.landmarks.pipeline" in graph
    assert "palsyflow.landmarks.tta" in graph["palsyflow.landmarks.pipeline"]


def test_no_import_cycle_touches_landmarks():
    cycles = [c for c in find_cycles(import_graph()) if any(m.startswith("palsyflow.landmarks") for m in c)]
    assert not cycles, "import cycles through palsyflow.landmarks:\n" + _fmt(cycles)


def test_no_import_cycle_in_palsyflow():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (module -> imported module):\n" + _fmt(cycles)


def function_level_imports(path: Path) -> list[str]:
    """``"<line>: <module>"`` for every palsyflow import inside a function of ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom):
                name = "." * node.level + (node.module or "")
                if node.level or name == ROOT_PKG or name.startswith(ROOT_PKG + "."):
                    out.append(f"{node.lineno}: {name}")
            elif isinstance(node, ast.Import):
                out += [f"{node.lineno}: {a.name}" for a in node.names if a.name.split(".")[0] == ROOT_PKG]
    return out


#: Modules allowed to import palsyflow inside functions, and why.
FUNCTION_LEVEL_ALLOWED = {
    # each verb sets the environment (PREFECT_HOME, analytics off, numba cache) before
    # anything imports prefect, great_expectations or mlflow through palsyflow
    "palsyflow/cli.py",
}


def test_no_function_level_palsyflow_imports():
    """Lazy imports are for heavy third-party libraries, never a way round an import cycle.

    Only :data:`FUNCTION_LEVEL_ALLOWED` may import palsyflow modules inside a function.
    """
    found = {
        str(p.relative_to(SRC)): hits
        for p in sorted((SRC / ROOT_PKG).rglob("*.py"))
        if str(p.relative_to(SRC)) not in FUNCTION_LEVEL_ALLOWED and (hits := function_level_imports(p))
    }
    assert not found, found
