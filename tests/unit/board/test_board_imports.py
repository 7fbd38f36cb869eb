"""Every module of helpers/board must work where torch, ultralytics, onnx and rknn are not installed,
and the deploy bundle must be that folder and nothing else."""
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers.deploy import bundles

ROOT = Path(__file__).resolve().parents[3]
BOARD = ROOT / "helpers" / "board"


def _stdlib() -> set:
    """The standard library's top-level module names (``sys.stdlib_module_names`` from Python 3.10; before it,
    the stdlib folder's modules and the built-in ones)."""
    if hasattr(sys, "stdlib_module_names"):
        return set(sys.stdlib_module_names)
    import pkgutil
    import sysconfig

    return set(sys.builtin_module_names) | {m.name for m in pkgutil.iter_modules([sysconfig.get_paths()["stdlib"]])}


#: the only imports a board module may make outside its own folder
ALLOWED = {"numpy", "cv2", "__future__"} | _stdlib()
#: imported lazily, inside the backend that needs it, on the board that has it (rknn-toolkit2, a PC package, is
#: not among them: its backends live in helpers/toolkit and register by name)
LAZY_BACKENDS = {"onnxruntime", "rknnlite", "ncnn"}


def board_modules() -> list[str]:
    """Every module of the board folder, its subpackages included (``helpers.board.runtimes.onnx``, ...)."""
    out = []
    for p in BOARD.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(m for m in out if m != "helpers.board")


def test_board_folder_imports_only_numpy_opencv_and_the_standard_library():
    import ast

    for path in BOARD.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED or top in LAZY_BACKENDS, f"{path.name} imports {name}"
                if top in LAZY_BACKENDS:  # only inside a function, never at module level
                    assert node.col_offset > 0, f"{path.name} imports {name} at module level"


def test_board_modules_import_and_run_without_torch_or_ultralytics():
    modules = board_modules()
    assert {"helpers.board.runner", "helpers.board.runtimes", "helpers.board.postprocess"} <= set(modules)
    code = textwrap.dedent(f"""
        import sys, importlib.abc

        class Block(importlib.abc.MetaPathFinder):
            # behave as if these packages were not installed at all
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('torch', 'torchvision', 'ultralytics', 'onnx', 'onnxruntime', 'rknn'):
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
                return None

        sys.meta_path.insert(0, Block())
        try:
            import torch
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit('the blocker did not work')
        import importlib
        for m in {modules!r}:
            importlib.import_module(m)
        import numpy as np
        from helpers.board import preprocess, postprocess
        canvas, lb = preprocess.letterbox(np.zeros((240, 320, 3), np.uint8), 320)
        outs = []
        for s in (8, 16, 32):
            n = 320 // s
            cls = np.zeros((1, 3, n, n), np.float32)
            if s == 32:
                cls[0, 1, 2, 2] = 0.9
            outs += [np.zeros((1, 64, n, n), np.float32), cls, cls.sum(1, keepdims=True)]
        det = postprocess.postprocess(outs, (320, 320), letterbox=lb)
        assert len(det) == 1 and det.classes[0] == 1, det
        heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics'))
        assert not heavy, heavy
        print('ok')
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr


def test_bundle_package_is_a_verbatim_copy_of_the_board_folder(tmp_path):
    import shutil

    shutil.copytree(bundles.BOARD_DIR, tmp_path / "copy", ignore=shutil.ignore_patterns("__pycache__"))
    assert bundles.BOARD_DIR == BOARD
    copied = sorted(p.relative_to(tmp_path / "copy") for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == sorted(p.relative_to(BOARD) for p in BOARD.rglob("*.py"))


def test_the_bundle_finds_the_pc_backends_only_where_the_pc_package_is(tmp_path):
    import shutil

    shutil.copytree(BOARD, tmp_path / "rkdeploy", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "m.rknn").write_bytes(b"x")
    code = textwrap.dedent(f"""
        import sys, importlib.abc
        block = sys.argv[1] == 'board'

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if block and name.split('.')[0] in ('helpers', 'rknn', 'torch', 'ultralytics'):
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
                return None

        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(tmp_path)!r})
        from rkdeploy import runtimes
        try:
            runtimes.open_runtime({str(tmp_path / 'm.rknn')!r}, sys.argv[2])
        except runtimes.RuntimeFailure as e:
            print('FAILURE', e)
        else:
            print('OPENED')
    """)
    env_out = {}
    for where, backend in (("board", "simulator"), ("pc", "simulator"), ("board", "toolkit")):
        r = subprocess.run([sys.executable, "-c", code, where, backend], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        env_out[where if backend == "simulator" else backend] = r.stdout.strip()
    # on a "board" (no workbook package): a clear error that says where the simulator runs
    assert env_out["board"].startswith("FAILURE the simulator backend runs on a PC with the workbook installed")
    # so does the toolkit driving a board over adb: a PC backend, not in the bundle's folder
    assert env_out["toolkit"].startswith("FAILURE the toolkit backend runs on a PC with the workbook installed")
    # on the PC the bundle reaches the PC package's simulator, which then reads the build record
    assert env_out["pc"].startswith("FAILURE") and "m.rknn.json is missing" in env_out["pc"]
