"""The layering of docs/architecture.md, checked on the sources: no import circles, the engine imports nothing
from TorchServe or the serving layer, the client imports nothing from the server."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# import roots: top-level names resolve against these folders (as on the workers' and the client's sys.path)
SOURCES = {"handlers": ROOT / "handlers", "client": ROOT / "client", "root": ROOT}


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_party_modules() -> dict[str, Path]:
    """Every first-party module by dotted name (engine, serving, handlers, client, tools), generated stubs aside."""
    found: dict[str, Path] = {}
    for path in (ROOT / "handlers").rglob("*.py"):
        found[module_name(path, ROOT / "handlers")] = path
    for path in (ROOT / "client" / "convlens_client").rglob("*.py"):
        found[module_name(path, ROOT / "client")] = path
    for path in (ROOT / "tools").rglob("*.py") if (ROOT / "tools").exists() else ():
        found[module_name(path, ROOT)] = path
    return {name: path for name, path in found.items() if not name.endswith(("_pb2", "_pb2_grpc"))}


def type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (imports for annotations only: never run, so no circle)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return hidden


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """First-party modules `name` imports anywhere in its source (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    hidden = type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, *([base] if base else [])])
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


GRAPH = {name: imports_of(name, path, first_party_modules()) for name, path in first_party_modules().items()}


def test_the_import_graph_is_read_from_real_sources():
    assert GRAPH["convlens.attribution.methods"] >= {"convlens.attribution.gradient", "convlens.core.backbones"}
    assert "convlens_client" in GRAPH and len(GRAPH) > 80


def test_no_import_circles():
    """A module that imports itself through others is a circle (function-level imports included: hiding an import
    inside a function does not remove the circle); a package's __init__ re-exporting its own modules is not."""
    def reaches(start: str, goal: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, route = stack.pop()
            for nxt in GRAPH.get(node, ()):
                if nxt == goal:
                    return route + [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, route + [nxt]))
        return None

    circles = []
    for name, targets in GRAPH.items():
        for target in targets:
            if name.startswith(target + ".") or target.startswith(name + "."):
                continue  # a package and its own modules
            route = reaches(target, name)
            if route and not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(route, route[1:])):
                circles.append(" -> ".join([name, *route]))
    assert not circles, "import circles:\n" + "\n".join(sorted(circles)[:20])


@pytest.mark.parametrize("layer, forbidden", [
    ("convlens", ("serving", "ts", "convlens_client", "tools")),  # the engine: torch only, usable as a library
    ("serving", ("convlens_client", "tools")),                      # glue: engine + TorchServe
    ("convlens_client", ("convlens", "serving", "ts", "torch", "tools")),  # the SDK: no torch, no server code
])
def test_layers_import_only_downwards(layer, forbidden):
    bad = []
    for name, path in first_party_modules().items():
        if name != layer and not name.startswith(layer + "."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{name} imports {m}" for m in modules if m.split(".")[0] in forbidden]
    assert not bad, "\n".join(bad)



@pytest.mark.parametrize("handler, own", [("stylize", {"style", "stylize"}), ("occlusion", {"attribution"})])
def test_a_worker_loads_only_its_own_area(handler, own):
    """A handler imports its area's engine, specs and wire forms only (memory and cold start per worker)."""
    code = ("import sys, importlib; sys.path.insert(0, sys.argv[1]); importlib.import_module(sys.argv[2]);"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('convlens.', 'serving.')))))")
    loaded = subprocess.run([sys.executable, "-c", code, str(ROOT / "handlers"), handler], capture_output=True,
                            text=True, check=True, timeout=120).stdout.split()
    areas = {"attribution", "inspect", "synthesis", "style", "stylize"}
    engine = {m.split(".")[1] for m in loaded if m.startswith("convlens.")} & areas
    specs = {m.split(".")[2] for m in loaded if m.startswith("serving.specs.")} - {"common"}
    assert engine <= own | {"stylize"}, engine  # stylize.runtime's constants (tile size) are config defaults
    assert specs <= own and specs, specs
