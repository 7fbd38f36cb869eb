"""The package's shape, checked: the tree's layers import only downwards, no import cycle, modules and functions
short enough to read (as test_board_imports checks what the board folder may import)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / "helpers"
#: the layers, bottom up, in the order the data flows: a module imports its own layer and the ones below
LAYERS = ("board", "runfolder", "model", "toolkit", "emuboard", "deploy", "experiments", "notebook", "stages",
          "workbook")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def _module(p: Path) -> str:
    parts = p.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in HELPERS.rglob("*.py")}


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return LAYERS.index("workbook" if part in ("workbook", "workbook_map") else part) if part else -1


def imports(module: str) -> set[str]:
    """The helpers modules ``module`` imports (at module level or inside a function)."""
    p = MODULES[module]
    package = module if p.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
            full = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            for a in node.names:
                if f"{full}.{a.name}" in MODULES:
                    out.add(f"{full}.{a.name}")
                elif full in MODULES:
                    out.add(full)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
    return out - {module, "helpers"}


def test_every_module_has_a_layer():
    assert all(_layer(m) >= 0 for m in MODULES if m != "helpers"), [m for m in MODULES if _layer(m) < 0]


def test_layers_import_only_downwards():
    up = [(m, d) for m in MODULES if m != "helpers" for d in imports(m) if _layer(d) > _layer(m)]
    assert up == [], "a module imports from a layer above its own:\n" + "\n".join(f"{m} -> {d}" for m, d in up)


def test_no_import_cycle():
    graph = {m: imports(m) for m in MODULES}
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for d in sorted(graph[m]):
            if not d.startswith(m + "."):  # a package's face may import its own modules
                visit(d)
        stack.pop()

    for m in sorted(graph):
        visit(m)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_modules_and_functions_stay_short():
    long_modules = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    long_functions = {}
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions[f"{m}.{node.name}"] = n
    assert long_modules == {} and long_functions == {}, (long_modules, long_functions)


def test_every_import_resolves_lazy_ones_too():
    """An import inside a function runs only when the function does: after a module moves, a stale one would fail
    in the middle of a notebook. Each one names a module that exists and a name that module has."""
    import importlib

    bad = []
    for module, p in MODULES.items():
        package = module if p.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
            full = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            if not full.startswith("helpers"):
                continue
            try:
                target = importlib.import_module(full)
            except ImportError as e:
                bad.append(f"{p.relative_to(ROOT)}:{node.lineno}: {full} ({e})")
                continue
            for a in node.names:
                if not hasattr(target, a.name) and f"{full}.{a.name}" not in MODULES:
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}: {full} has no {a.name}")
    assert bad == [], "\n".join(bad)


def test_code_a_bundle_runs_imports_what_the_board_folder_has():
    """Code written as text for a bundle's Python (``from rkdeploy.runtimes.ncnn import NcnnRuntime`` run inside the
    emulated board, run.py's own import) names modules and names the board folder has: the bundle's ``rkdeploy`` is
    a copy of ``helpers/board``."""
    import importlib
    import re

    texts = {p: p.read_text() for p in list(HELPERS.rglob("*.py")) + list((ROOT / "tests").rglob("*.py"))}
    bad = []
    for p, text in texts.items():
        for module, names in re.findall(r"from rkdeploy((?:\.\w+)*) import ([\w, ]+)", text):
            if importlib.util.find_spec("helpers.board" + module) is None:
                bad.append(f"{p.relative_to(ROOT)}: no module rkdeploy{module}")
                continue
            target = importlib.import_module("helpers.board" + module)
            bad += [f"{p.relative_to(ROOT)}: rkdeploy{module} has no {n.strip()}" for n in names.split(",")
                    if n.strip() and not hasattr(target, n.strip())
                    and importlib.util.find_spec(f"helpers.board{module}.{n.strip()}") is None]
        for module in re.findall(r"import rkdeploy((?:\.\w+)+)", text):
            if importlib.util.find_spec("helpers.board" + module) is None:
                bad.append(f"{p.relative_to(ROOT)}: no module rkdeploy{module}")
    assert bad == [], "\n".join(bad)
