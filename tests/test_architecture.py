"""The package's structure (issue 13): imports form a DAG, and only the client touches the
client's private state (everything below it goes through ``_seam.Seam``).

Every relative import counts: at module level, inside a function (a "lazy" import) and under
``if TYPE_CHECKING``, since each of them is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import moveworks_async

PACKAGE = Path(moveworks_async.__file__).parent


def _graph(root: Path, package: str = "moveworks_async") -> dict[str, set[str]]:
    """Module -> the package modules it imports (every import of a sibling, wherever it is:
    relative or absolute, at module level, in a function, under ``TYPE_CHECKING``)."""
    graph: dict[str, set[str]] = {}
    for file in sorted(root.glob("*.py")):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == package:
                    deps.update(parts[1:2] or (alias.name for alias in node.names))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == package and len(parts) > 1:
                        deps.add(parts[1])
        graph[file.stem] = deps - {file.stem}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue  # a subpackage (testing) or a name, not a sibling module
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found is not None:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found is not None:
                return found
    return None


def test_the_checker_finds_a_cycle() -> None:
    """The checker itself: it reports a cycle through a lazy or a TYPE_CHECKING import."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_checker_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    (tmp_path / "_a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._b import B\n"
    )
    (tmp_path / "_b.py").write_text("def f():\n    from ._a import A\n")
    graph = _graph(tmp_path)
    assert graph == {"_a": {"_b"}, "_b": {"_a"}}
    assert _cycle(graph) is not None


def test_the_checker_sees_absolute_imports(tmp_path: Path) -> None:
    (tmp_path / "_a.py").write_text("def f():\n    import pkg._b\n")
    (tmp_path / "_b.py").write_text("from pkg._c import C\n")
    (tmp_path / "_c.py").write_text("from pkg import _a\n")
    graph = _graph(tmp_path, "pkg")
    assert graph == {"_a": {"_b"}, "_b": {"_c"}, "_c": {"_a"}}
    assert _cycle(graph) == ["_a", "_b", "_c", "_a"]


def test_package_imports_form_a_dag() -> None:
    """Strict: no known exception. (The last two cycles, ``_launch`` <-> ``_cli`` and
    ``_transport`` <-> ``_transport_pyreqwest``, were broken by ``_console`` and
    ``_transport_choice``.)"""
    graph = _graph(PACKAGE)
    assert len(graph) > 30  # the whole flat package was read
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_launcher_and_the_transports_import_one_way() -> None:
    graph = _graph(PACKAGE)
    assert "_cli" in graph["_launch"]  # lazily, after the Ctrl-C handler is in place
    assert all("_launch" not in graph[name] for name in graph if name.startswith("_cli"))
    assert graph["_console"] == set()  # imported before the Ctrl-C handler: a leaf
    assert "_transport_pyreqwest" not in graph["_transport"]
    assert {"_transport", "_transport_pyreqwest"} <= graph["_transport_choice"]


def test_testing_subpackage_imports_form_a_dag() -> None:
    assert _cycle(_graph(PACKAGE / "testing")) is None


#: The modules below the client: they build requests and read replies through the seam.
BELOW_THE_CLIENT = ("_resources", "_streaming", "_notifications", "_seam", "_reply")


def test_modules_below_the_client_use_only_the_seam() -> None:
    """They do not import the client and reach into no private attribute of one."""
    graph = _graph(PACKAGE)
    for name in BELOW_THE_CLIENT:
        assert "_client" not in graph[name], name
        text = (PACKAGE / f"{name}.py").read_text(encoding="utf-8")
        assert not re.search(r"\bclient\._[a-z]", text), name
        assert "AsyncMoveworks" not in re.sub(r'""".*?"""|#.*', "", text, flags=re.S), name


def _client_private_names() -> set[str]:
    """The private attributes and methods of ``AsyncMoveworks`` (read from ``_client.py``)."""
    tree = ast.parse((PACKAGE / "_client.py").read_text(encoding="utf-8"))
    (cls,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AsyncMoveworks")
    names: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "self":
                names.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _private_client_accesses(source: str, names: set[str]) -> list[str]:
    """Every ``<expr>._name`` in ``source`` where ``_name`` is private to the client and
    ``<expr>`` is not ``self``/``cls`` (an object reaching into another one)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and node.attr in names):
            continue
        if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(ast.unparse(node))
    return found


#: Accesses the scan flags that are not a client's: ``ClientCredentials`` reads its own
#: ``_clock`` in its own module.
NOT_THE_CLIENT = {("_auth.py", "credentials._clock")}


def test_the_scan_finds_a_reach_into_the_client() -> None:
    names = _client_private_names()
    assert {"_execute", "_auth", "_transport", "_request_model", "_clock"} <= names
    source = "async def f(engine, self):\n    await engine._execute(1)\n    self._auth\n"
    assert _private_client_accesses(source, names) == ["engine._execute"]
    assert _private_client_accesses("x = self._engine._auth\n", names) == ["self._engine._auth"]


def test_nothing_outside_the_client_touches_its_private_state() -> None:
    """Every module of the package but ``_client.py`` (the Data API, notifications, the CLI,
    the fake server included) reaches the client through its public surface or a seam."""
    names = _client_private_names()
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        if file == PACKAGE / "_client.py":
            continue
        for access in _private_client_accesses(file.read_text(encoding="utf-8"), names):
            if (file.name, access) not in NOT_THE_CLIENT:
                found.append(f"{file.relative_to(PACKAGE)}: {access}")
    assert found == []
