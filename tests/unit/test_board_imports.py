"""Board-side modules must work where torch and ultralytics are not installed."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BOARD_MODULES = ["helpers.preprocess", "helpers.postprocess", "helpers.artifacts", "helpers.pool", "helpers.tiling",
                 "helpers.runtime", "helpers.runner"]


def test_board_modules_import_and_run_without_torch_or_ultralytics():
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
        for m in {BOARD_MODULES!r}:
            importlib.import_module(m)
        import numpy as np
        from helpers import preprocess, postprocess
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
