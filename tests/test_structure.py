"""The package's structure: imports point one way (no cycle, even through imports inside
functions), every module sits on its floor, and the shape path never imports numpy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convtool"

# Lower floors never import higher ones. A new module gets a floor here.
FLOORS = {
    "errors": 0,
    "text": 1, "files": 1, "limits": 1, "footprint": 1, "palette": 1,
    "params": 2,
    "shape": 3,
    "design": 4, "numeric": 4, "frameworks": 5,
    "layers": 5,
    "graph": 6,
    "export": 7, "report": 7,
    "draw": 8,
    "cli": 9, "console": 10, "reference": 10, "__main__": 11, "__init__": 11,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> set[str]:
    """Every convtool module `path` imports, at any depth of its code (doctests aside)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # imports for annotations only run under a type checker
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("convtool")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            elif node.module and node.module.startswith("convtool"):
                target = node.module
            else:
                continue
            submodules = {f"{target}.{alias.name}" for alias in node.names} & MODULES  # `from . import shape`
            found |= submodules or {target}

    return {m for m in found if m in MODULES and m != name}


GRAPH = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def floor(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    if top not in FLOORS:
        pytest.fail(f"{module} has no floor in tests/test_structure.py: give it one")
    return FLOORS[top]


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    for target in GRAPH[module]:
        if module.startswith(target + "."):  # a package's own __init__ (its parent) is fine
            continue
        same_package = module.split(".")[:2] == target.split(".")[:2]
        assert same_package or floor(target) < floor(module), f"{module} (floor {floor(module)}) imports {target}"


def test_cycle_detection_finds_a_cycle() -> None:
    """The check above is not vacuous: a cycle written into a copy of the graph is found."""
    global GRAPH
    saved = GRAPH
    GRAPH = {**saved, "convtool.params": saved["convtool.params"] | {"convtool.shape"}}
    try:
        with pytest.raises(pytest.fail.Exception, match="import cycle"):
            test_no_import_cycle()
    finally:
        GRAPH = saved


@pytest.mark.parametrize(
    "statement",
    ["import convtool", "import convtool.cli", "import convtool.graph", "import convtool.export",
     "import convtool.report", "from convtool.cli import main"],
)
def test_shape_path_never_imports_numpy(statement: str) -> None:
    code = f"{statement}; import sys; assert 'numpy' not in sys.modules, sorted(m for m in sys.modules if 'numpy' in m)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_the_network_half_names_no_layer_kind() -> None:
    """What a layer kind does is declared by the kind (convtool/layers/): the code that loads,
    walks, mirrors, diagnoses, exports and reports networks never tests for one by name
    (`type == "add"`, `KINDS["conv2d"]`)."""
    from convtool.layers import KINDS

    for path in [*(PACKAGE / "graph").rglob("*.py"), PACKAGE / "export.py", PACKAGE / "report.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                named = [n for n in (node.left, *node.comparators) if isinstance(n, ast.Constant)]
                named += [e for n in node.comparators if isinstance(n, (ast.Tuple, ast.List, ast.Set))
                          for e in n.elts if isinstance(e, ast.Constant)]
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "KINDS":
                named = [node.slice] if isinstance(node.slice, ast.Constant) else []
            else:
                continue
            for constant in named:
                if constant.value in KINDS:
                    pytest.fail(f"{path.relative_to(PACKAGE)}:{constant.lineno} tests for the layer kind "
                                f"{constant.value!r}")
