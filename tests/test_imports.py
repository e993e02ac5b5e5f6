"""The package's imports run one way: the import graph of ``inr_recover`` (module-level and function-level imports,
read with ``ast``, nothing imported) has no cycle, and no module imports the CLI."""
from __future__ import annotations

import ast

from conftest import ROOT

PKG = ROOT / "inr_recover"


def module_names() -> dict:
    """Dotted name -> path of every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path, modules: dict) -> set:
    """The package's modules that ``name`` imports anywhere in its body (``from pkg import mod`` counts ``pkg.mod``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules}
    return found - {name}


def graph() -> dict:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_no_module_imports_the_cli():
    importers = sorted(
        name
        for name, deps in graph().items()
        if "inr_recover.cli.main" in deps and not name.startswith("inr_recover.cli.")
    )
    assert importers == [], f"these modules outside the cli package import inr_recover.cli.main: {importers}"


def test_import_graph_has_no_cycle():
    g = graph()
    assert len(g) > 30 and "inr_recover.config.paths" in g["inr_recover.models.base"]  # the parse sees the package
    state = {}  # name -> "open" while on the DFS stack, "done" after

    def visit(name, stack):
        state[name] = "open"
        for dep in sorted(g[name]):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, stack + [dep])
        state[name] = "done"

    for name in sorted(g):
        if name not in state:
            visit(name, [name])
