"""07's board section on a real board: the bundle pushed, run and pulled over SSH (its versions checked first),
or the model measured on the NPU over adb (rknn-toolkit2 through the board's ``rknn_server``)."""

from __future__ import annotations

import posixpath
import re
import shlex
from pathlib import Path

from ..board.runtimes import uses_npu
from .device import AdbDevice, Device, SshDevice, check_versions


def start_rknn_server(dev: Device) -> None:
    """Start rknn_server on the board unless it runs (needed by the PC-side ``toolkit`` backend)."""
    dev.shell("pgrep rknn_server >/dev/null || (nohup /usr/bin/rknn_server >/dev/null 2>&1 &)")


def run_remote(dev: Device, bundle, remote_dir: str, source: str, out_local, python: str = "python3",
                      args: tuple = (), overwrite: bool = False, env: dict | None = None) -> dict:
    """Push ``bundle`` to ``remote_dir``, run its runner on ``source`` (a path inside the bundle) and pull the
    results into ``out_local`` (an existing folder is replaced only with ``overwrite``)."""
    import json

    dev.push(bundle, remote_dir)
    prefix = "".join(f"{k}={shlex.quote(str(v))} " for k, v in (env or {}).items())
    cmd = (f"cd {shlex.quote(remote_dir)} && {prefix}{shlex.quote(python)} run.py {shlex.quote(source)} --out out "
           + " ".join(shlex.quote(a) for a in args))
    _, stdout, _ = dev.shell(cmd)
    local = dev.pull(posixpath.join(remote_dir, "out"), out_local, overwrite=overwrite)
    res = json.loads((Path(local) / "detections.json").read_text())
    res["stdout"] = stdout
    return res


def parse_ssh_address(text: str) -> tuple[str, str, int]:
    """``"user@host:port"`` (user and port optional) → ``(user, host, port)``; defaults root and 22."""
    m = re.fullmatch(r"(?:([^@\s:]+)@)?([^@\s:]+)(?::(\d{1,5}))?", text.strip())
    if not m or (m.group(3) and not 0 < int(m.group(3)) < 65536):
        raise ValueError(f"board address {text!r} is not user@host or user@host:port "
                         "(for example root@192.168.1.50 or radxa@rock5b.local:2222)")
    return m.group(1) or "root", m.group(2), int(m.group(3) or 22)


def run_on_board(bundle, out_local, *, ssh: str = "", key_file: str | None = None, use_adb: bool = False,
                 remote_dir: str = "/tmp/yolo_rknn_bundle", python: str = "python3", backend: str = "rknnlite",
                 cores: int = 3, source: str = "samples", trust_new_host: bool = False,
                 max_frames: int | None = None) -> dict:
    """Run a deploy bundle on a board and return what the notebook records.

    - ``ssh="user@host[:port]"``: read the board's versions; for an NPU backend (``rknnlite``)
      check them against the toolkit that built the model (a :class:`VersionMismatch` names the file
      to push, before anything is copied); push the bundle, run its runner with ``backend`` on
      ``cores`` contexts, pull ``out/`` into ``out_local`` (replacing the previous run's results).
    - ``use_adb=True`` (no ``ssh``): the PC-side ``toolkit`` backend over adb: check librknnrt and
      rknn_server, start rknn_server, and measure the model on the NPU (``eval_perf``, ``eval_memory``).
    - neither: ``{"connected": False}`` and nothing is contacted.
    """
    from ..board.records import read_bundle_config

    bundle = Path(bundle)
    cfg = read_bundle_config(bundle)
    toolkit, target = cfg.get("toolkit_version"), cfg.get("target", "rk3588")
    if not toolkit:
        from ..toolkit.config import toolkit_version

        toolkit = toolkit_version()
    if ssh:
        user, host, port = parse_ssh_address(ssh)
        with SshDevice(host, port, user, key_file=key_file or None, trust_new_host=trust_new_host) as dev:
            versions = dev.versions()
            if uses_npu(backend):  # the board's librknnrt must match the toolkit that built the model
                check_versions(versions, toolkit, target)
            args = ("--backend", backend, "--cores", str(cores), "--no-images")
            args += ("--max-frames", str(max_frames)) if max_frames else ()
            res = run_remote(dev, bundle, remote_dir, source, out_local, python, args, overwrite=True)
        return {"connected": True, "kind": "ssh", "backend": backend, "versions": versions.as_dict(),
                "timings": res["timings"], "frames_per_second": res["frames_per_second"], "stdout": res["stdout"]}
    if use_adb:
        with AdbDevice() as dev:
            versions = dev.versions()
            check_versions(versions, toolkit, target, need_server=True)
            start_rknn_server(dev)
        return {"connected": True, "kind": "adb", "backend": "toolkit", "versions": versions.as_dict(),
                **measure_on_npu(bundle / "model.rknn", target)}
    return {"connected": False}


def measure_on_npu(model, target: str) -> dict:
    """The toolkit's board figures: ``eval_perf`` in one session, ``eval_memory`` in a second one opened
    with ``eval_mem=True`` (the toolkit allows memory evaluation only in such a session)."""
    from ..toolkit.adb_runtime import ToolkitBoardRuntime

    with ToolkitBoardRuntime(model, target=target) as npu:
        perf = npu.eval_perf()
    with ToolkitBoardRuntime(model, target=target, eval_mem=True) as npu:
        memory = npu.eval_memory()
    return {"eval_perf": perf, "eval_memory": memory}
