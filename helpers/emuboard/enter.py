"""Entering the emulated board: proot + user-mode qemu, with what a board shows its programs.

``qemu-aarch64-static`` alone runs one arm64 process, but a child process then fails ("Exec format
error": there is no binfmt_misc here), ``uname -m`` says x86_64, and the host's ``/proc/cpuinfo``
and ``/.dockerenv`` show through. ``proot -q qemu-aarch64-static -r ROOT`` runs every process of
the board through qemu, with ROOT as ``/``; on top of that the board gets

* ``QEMU_CPU=cortex-a76``: the RK3588's big cores (qemu's default model adds SVE and bf16, which
  the RK3588 lacks, and ncnn would pick kernels no RK3588 runs);
* ``/proc/cpuinfo`` of an RK3588 (4 Cortex-A55 + 4 Cortex-A76);
* ``/proc/device-tree`` whose ``compatible`` names the SoC, as Rockchip's kernels write it;
* a clean environment: only what a login on the board would set, with the profile's venv first
  on PATH (``python3`` is the profile's).

A limit of Debian 12's proot (5.1.0): it does not translate the ``statx`` system call, so programs
that use it (coreutils' ``ls`` and ``stat``) see the host's files; Python (the bundle, RKNNLite)
and the shell use ``stat`` and see the board's (``os.path.exists('/.dockerenv')`` is False there).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from .recipe import venv

#: the model strings of Rockchip's evaluation boards, by SoC (what /proc/device-tree/model reads)
_MODELS = {"rk3588": "Rockchip RK3588 EVB1 LP4 V10 Board", "rk3576": "Rockchip RK3576 EVB1 V10 Board",
           "rk3568": "Rockchip RK3568 EVB1 DDR4 V10 Board", "rk3566": "Rockchip RK3566 EVB2 LP4X V10 Board",
           "rk3562": "Rockchip RK3562 EVB1 LP4X V10 Board", "rv1106": "Rockchip RV1106G EVB1 V11 Board",
           "rv1103": "Rockchip RV1103G EVB V11 Board"}
QEMU_CPU = "cortex-a76"


def cpuinfo() -> str:
    """/proc/cpuinfo of an RK3588: cores 0-3 Cortex-A55 (part 0xd05), 4-7 Cortex-A76 (0xd0b)."""
    blocks = []
    for i in range(8):
        little = i < 4
        blocks.append(f"processor\t: {i}\nBogoMIPS\t: 48.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
                      "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n"
                      f"CPU architecture: 8\nCPU variant\t: {'0x2' if little else '0x4'}\n"
                      f"CPU part\t: {'0xd05' if little else '0xd0b'}\nCPU revision\t: 0\n")
    return "\n".join(blocks) + "\n"


def write_fake_proc(where: Path, soc: str) -> tuple[Path, Path]:
    """The cpuinfo file and device-tree folder one SoC's board shows; returns their paths."""
    dt = where / soc / "device-tree"
    dt.mkdir(parents=True, exist_ok=True)
    model = _MODELS.get(soc, f"Rockchip {soc.upper()} Board")
    board = "-".join(model.split()[1:-1]).lower()  # "rk3588-evb1-lp4-v10", as Rockchip's device trees name it
    (dt / "compatible").write_bytes(f"rockchip,{board}\0rockchip,{soc}\0".encode())
    (dt / "model").write_bytes(model.encode() + b"\0")
    info = where / "cpuinfo"
    info.write_text(cpuinfo())
    return info, dt


def board_env(profile: str) -> dict[str, str]:
    """The environment of a login on the board (the profile's venv active)."""
    v = venv(profile)
    return {"PATH": f"{v}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "VIRTUAL_ENV": v,
            "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/sh", "LANG": "C.UTF-8",
            "TERM": "xterm", "QEMU_CPU": QEMU_CPU}


def proot_argv(root: Path, cpuinfo_file: Path, device_tree: Path, env: dict, cmd: list[str],
               workdir: str = "/root", binds: dict | None = None) -> list[str]:
    """The host command line that runs ``cmd`` inside the board (``binds``: host path -> board path)."""
    argv = ["env", "-i"] + [f"{k}={v}" for k, v in env.items()]
    argv += ["proot", "-q", "qemu-aarch64-static", "-r", str(root), "-b", "/proc", "-b", "/sys", "-b", "/dev",
             "-b", f"{cpuinfo_file}:/proc/cpuinfo", "-b", f"{device_tree}:/proc/device-tree", "-w", workdir]
    for host, inside in (binds or {}).items():
        argv += ["-b", f"{host}:{inside}"]
    return argv + list(cmd)


def shell_command(cmd: str | list[str]) -> list[str]:
    """A command for the board's /bin/sh (a string is a shell line; a list is quoted as it is)."""
    return ["/bin/sh", "-c", cmd if isinstance(cmd, str) else " ".join(shlex.quote(c) for c in cmd)]
