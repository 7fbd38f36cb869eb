"""Our calls into the two NPU APIs, checked against their real signatures, without a board.

* rknn-toolkit2 (installed here): ``RKNN.init_runtime`` / ``eval_memory`` / ``eval_perf``.
* rknn-toolkit-lite2 (aarch64 wheels only): ``scripts/setup.sh`` keeps the wheel in
  ``.venv/wheels/`` (not installed); its ``rknnlite/api/rknn_lite.py`` is plain Python, so the test
  reads the real class from it — constants and method signatures — and runs :class:`RknnLiteRuntime`
  against a stand-in with exactly that interface.
"""
import ast
import json
import inspect
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers.board import runtimes
from helpers.board.runtimes.npu import core_mask_name
from helpers.board.targets import SOCS

ROOT = Path(__file__).resolve().parents[3]
WHEELS = ROOT / ".venv" / "wheels" / "rknn-toolkit-lite2"


def test_toolkit_init_runtime_takes_our_arguments():
    from rknn.api import RKNN

    from helpers.toolkit import adb_runtime

    sig = inspect.signature(RKNN.init_runtime)
    for kw in (adb_runtime.toolkit_init_kwargs("rk3588"), adb_runtime.toolkit_init_kwargs("rk3588", "abc", core_mask=4),
               adb_runtime.toolkit_init_kwargs("rk3576", eval_mem=True, perf_debug=True)):
        sig.bind(None, **kw)  # raises TypeError on an argument the toolkit does not take
    assert "eval_mem" in sig.parameters and "core_mask" in sig.parameters
    assert "is_print" in inspect.signature(RKNN.eval_memory).parameters
    assert "is_print" in inspect.signature(RKNN.eval_perf).parameters


def test_eval_memory_needs_a_memory_session():
    from helpers.toolkit.adb_runtime import ToolkitBoardRuntime

    rt = ToolkitBoardRuntime.__new__(ToolkitBoardRuntime)
    rt.eval_mem, rt.rknn = False, None
    with pytest.raises(runtimes.RuntimeFailure, match="eval_mem=True"):
        rt.eval_memory()


def _lite_source() -> str:
    wheels = sorted(WHEELS.glob("rknn_toolkit_lite2-*.whl"))
    assert wheels, f"no rknn-toolkit-lite2 wheel in {WHEELS}: scripts/setup.sh downloads it"
    with zipfile.ZipFile(wheels[-1]) as z:
        return z.read("rknnlite/api/rknn_lite.py").decode()


def _lite_class() -> ast.ClassDef:
    tree = ast.parse(_lite_source())
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RKNNLite")


def _constants(cls: ast.ClassDef) -> dict:
    return {t.id: ast.literal_eval(n.value) for n in cls.body if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Name) and t.id.startswith("NPU_CORE")}


def test_rknnlite_core_masks_exist_for_every_context_of_every_soc():
    consts = _constants(_lite_class())
    assert consts["NPU_CORE_0"] == 1 and consts["NPU_CORE_1"] == 2 and consts["NPU_CORE_2"] == 4
    for soc in SOCS.values():
        names = {core_mask_name(i, soc.npu_cores) for i in range(4)}
        names |= {core_mask_name("auto", soc.npu_cores), core_mask_name("all", soc.npu_cores)}
        assert names <= set(consts), (soc.name, names - set(consts))
        # the toolkit backend's bit mask for context i is RKNNLite's constant for the same core
        for i in range(soc.npu_cores):
            assert 1 << i == consts[core_mask_name(i, soc.npu_cores)]


def _stand_in(cls: ast.ClassDef, calls: list):
    """A class with RKNNLite's constants and, for the methods we call, its exact signatures (bodies record)."""
    ns = {"calls": calls, "np": np, **_constants(cls)}
    body = []
    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef) and fn.name in ("__init__", "load_rknn", "init_runtime", "inference",
                                                          "release"):
            sig = ast.unparse(fn.args)
            ret = {"inference": "[np.zeros((1, 4), np.float32)]", "release": "None", "__init__": "None"}.get(fn.name, "0")
            body.append(f"    def {fn.name}({sig}):\n        calls.append(({fn.name!r}, dict(locals())))\n"
                        f"        return {ret}")
    consts = "\n".join(f"    {k} = {v!r}" for k, v in _constants(cls).items())
    exec(f"class RKNNLite:\n{consts}\n" + "\n".join(body), ns)
    return ns["RKNNLite"]


def test_rknnlite_runtime_calls_the_real_interface(tmp_path, monkeypatch):
    calls: list = []
    fake = types.ModuleType("rknnlite.api")
    fake.RKNNLite = _stand_in(_lite_class(), calls)
    monkeypatch.setitem(sys.modules, "rknnlite", types.ModuleType("rknnlite"))
    monkeypatch.setitem(sys.modules, "rknnlite.api", fake)
    model = tmp_path / "m.rknn"
    model.write_bytes(b"x")
    with runtimes.open_runtime(model, "rknnlite", core=1, npu_cores=3) as rt:
        out = rt.run([np.zeros((1, 8, 8, 3), np.uint8)])
    assert out[0].shape == (1, 4)
    by_name = {name: args for name, args in calls}
    assert by_name["init_runtime"]["core_mask"] == fake.RKNNLite.NPU_CORE_1
    assert by_name["inference"]["data_format"] == "nhwc" and by_name["load_rknn"]["path"] == str(model)
    assert [c[0] for c in calls][-1] == "release"
    calls.clear()
    with runtimes.open_runtime(model, "rknnlite", core=2, npu_cores=2):  # RK3576: context 2 -> core 0
        pass
    assert dict(calls)["init_runtime"]["core_mask"] == fake.RKNNLite.NPU_CORE_0
    # a model built with rknn_batch_size > 1 cannot be pinned to a core (seed 004): the runtime refuses it
    (tmp_path / "m.rknn.json").write_text(json.dumps({"onnx": "m.onnx", "config": {"rknn_batch_size": 3}}))
    with pytest.raises(runtimes.RuntimeFailure, match="rknn_batch_size=3: it cannot be pinned to NPU core 1"):
        runtimes.open_runtime(model, "rknnlite", core=1, npu_cores=3)
    calls.clear()
    with runtimes.open_runtime(model, "rknnlite", core="auto", npu_cores=3):  # one auto-core context is fine
        pass
    assert dict(calls)["init_runtime"]["core_mask"] == fake.RKNNLite.NPU_CORE_AUTO


def test_the_registry_is_the_one_owner_of_what_a_backend_is(tmp_path):
    """One file per backend declares it; the runner's choices, the default backend of a model file, the bundle's
    model file per backend and which backends use the NPU all come from those declarations."""
    from helpers.board.runtimes import ncnn, onnx, rknnlite

    reg = runtimes.backends()
    assert runtimes.names() == ("onnx", "simulator", "toolkit", "rknnlite", "ncnn")
    assert {n for n, b in reg.items() if b.npu} == {"rknnlite", "toolkit"}
    for mod, cls in ((onnx, onnx.OnnxRuntime), (ncnn, ncnn.NcnnRuntime), (rknnlite, rknnlite.RknnLiteRuntime)):
        assert mod.BACKEND.name == cls.backend and mod.BACKEND.layout == cls.layout  # the class and its entry agree
    assert reg["ncnn"].input == "NCHW float32 RGB 0..1" and reg["rknnlite"].input == "NHWC uint8 RGB"
    # by suffix: an NPU backend where it is available, else the simulator; the toolkit backend is never a default
    assert [runtimes.default_backend(f"m{s}") for s in (".onnx", ".param", ".rknn")] == ["onnx", "ncnn", "simulator"]
    with pytest.raises(runtimes.RuntimeFailure, match="expected one of .onnx, .param, .rknn"):
        runtimes.default_backend("m.tflite")
    cfg = {"model": "model.rknn", "onnx": "model.onnx"}
    assert runtimes.model_file(tmp_path, cfg, "toolkit") == tmp_path / "model.rknn"
    assert runtimes.model_file(tmp_path, cfg, "auto") == tmp_path / "model.rknn"
    assert runtimes.model_file(tmp_path, cfg, "onnx") == tmp_path / "model.onnx"
    with pytest.raises(ValueError, match="this bundle has no ncnn model .* use one of onnx, simulator, toolkit, rknnlite"):
        runtimes.model_file(tmp_path, cfg, "ncnn")
    with pytest.raises(runtimes.RuntimeFailure, match="unknown backend 'gpu'"):
        runtimes.uses_npu("gpu")
