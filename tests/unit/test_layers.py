"""The package layers import one way (docs/DESIGN.md): a module imports only from its own
layer or the layers before it, and `controller` never imports `lab`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A package not listed here is a layer of its own placed by its prefix.
LAYERS: dict[str, tuple[str, ...]] = {
    "controller": ("core", "drivers", "service", "api"),
    "lab": ("scenario", "dataplane", "routers", "control", "daemon", "runner", "cli",
            "testing"),
}
# Layers that sit side by side: neither may import the other.
PEERS = {("daemon", "runner"), ("cli", "testing")}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo += node.orelse
            continue
        out.append(node)
        todo += list(ast.iter_child_nodes(node))
    return out


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module in LAYERS:  # `from lab import x`: x is the module
                out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _layer(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    if parts[0] not in LAYERS or len(parts) < 2 or parts[1] not in LAYERS[parts[0]]:
        return None
    return parts[1], LAYERS[parts[0]].index(parts[1])


def _violations() -> list[str]:
    bad = []
    for top in LAYERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            here = _layer(module)
            for imp in _imports(path):
                if top == "controller" and imp.split(".")[0] == "lab":
                    bad.append(f"{module} imports {imp}: controller never imports lab")
                    continue
                there = _layer(imp)
                if here is None or there is None or imp.split(".")[0] != top:
                    continue
                if (here[0], there[0]) in PEERS or (there[0], here[0]) in PEERS:
                    bad.append(f"{module} imports {imp}: {here[0]} and {there[0]} are peers")
                elif there[1] > here[1]:
                    bad.append(f"{module} ({here[0]}) imports {imp} ({there[0]}): "
                               "a lower layer imports a higher one")
    return bad


def test_layers_import_one_way() -> None:
    assert _violations() == []


def test_every_package_is_in_a_layer() -> None:
    for top, layers in LAYERS.items():
        packages = {p.name for p in (ROOT / top).iterdir()
                    if p.is_dir() and (p / "__init__.py").exists()}
        assert packages == set(layers), f"{top}: packages and layers differ"


def _modules() -> dict[str, Path]:
    out = {}
    for top in LAYERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append([*path[path.index(n):], n])
            elif n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
