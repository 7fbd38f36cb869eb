"""The ``simulator`` backend of :mod:`helpers.board.runtimes`, PC only (it needs rknn-toolkit2).

The toolkit's simulator cannot run a ``.rknn`` read from disk, so this backend rebuilds the model
from the ONNX file and the settings recorded next to the ``.rknn`` (its build record), in a child
process that keeps the built model for the runtime's lifetime. The board runtime finds this class
by name (:mod:`helpers.board.runtimes.pc` declares it) only where the workbook is installed; a board never
imports it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..board.records import RecordMissing, read_build_record
from ..board.runtimes import Runtime, RuntimeFailure


def _sim_worker(conn, onnx: str, config: dict, dataset: str | None, log_file: str, workdir: str) -> None:
    """Child process: build once, then answer ``run`` requests until ``None`` arrives."""
    from .config import BuildConfig
    from .isolation import child_setup
    from .build import built_model

    try:
        child_setup(workdir, log_file)
        with built_model(BuildConfig.from_dict(config), onnx, dataset, log_file) as built:
            built.tk.init_simulator()
            conn.send(("ready", None))
            while (msg := conn.recv()) is not None:
                try:
                    conn.send(("ok", built.tk.infer(msg[0])))
                except BaseException as e:  # noqa: BLE001
                    conn.send(("error", f"{type(e).__name__}: {e}"))
    except BaseException as e:  # noqa: BLE001
        conn.send(("error", f"{type(e).__name__}: {e}"))


class SimulatorRuntime(Runtime):
    """rknn-toolkit2's simulator, rebuilt from the ``.rknn``'s build record, in a child process."""

    backend = "simulator"

    def __init__(self, model: str | os.PathLike, workdir: str | os.PathLike | None = None, timeout: float = 600):
        try:
            rec = read_build_record(model)
        except RecordMissing as e:
            raise RuntimeFailure(str(e)) from None
        # A work folder of our own is removed on a clean close (each build leaves ~90 MB of toolkit
        # intermediates there); after a failure it stays, because the error message points to its log.
        self._own_workdir = workdir is None
        self._failed = False
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="rknn-sim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_file = self.workdir / "simulator.log"
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_sim_worker, args=(child, rec["onnx"], rec["config"], rec.get("dataset"),
                                                          str(self.log_file), str(self.workdir)), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(timeout):
            self._failed = True
            self.close()
            raise RuntimeFailure(f"the simulator did not finish building within {timeout} s; see {self.log_file}")
        status, info = self._recv()
        if status != "ready":
            self._failed = True
            self.close()
            raise RuntimeFailure(f"the simulator could not build {rec['onnx']}: {info}; see {self.log_file}")

    def _recv(self):
        try:
            return self.conn.recv()
        except EOFError:
            self._failed = True
            raise RuntimeFailure(f"the simulator process ended (exit code {self.proc.exitcode}); "
                                 f"see {self.log_file}") from None

    def run(self, inputs: list) -> list:
        self.conn.send([np.ascontiguousarray(inputs[0], np.uint8)])
        status, out = self._recv()
        if status != "ok":
            raise RuntimeFailure(f"simulator inference failed: {out}")
        return out

    def close(self) -> None:
        if getattr(self, "proc", None) is None:
            return
        try:
            if self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(10)
        except (BrokenPipeError, OSError):
            pass
        finally:
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
            self.proc = None
            if self._own_workdir and not self._failed:
                shutil.rmtree(self.workdir, ignore_errors=True)
