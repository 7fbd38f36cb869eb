"""The board, emulated: an RK3588's software stack on this PC, everything but the NPU.

An arm64 Debian root file system built from Debian's archive (:mod:`.rootfs`), entered with proot
and user-mode qemu as a Cortex-A76 whose device tree names the SoC (:mod:`.enter`), with two
package profiles per suite (:mod:`.recipe`): Debian's own numpy and OpenCV, or today's pip
wheels. Reached like a board: :meth:`EmulatedBoard.run` is its shell, :mod:`.sshd` an OpenSSH
server on 127.0.0.1 whose sessions run inside it.

Built once per suite on first use (about a minute and a half each, about 1 GB) into
``$RK_BOARD_CACHE`` (default ``~/.cache/rk-yolo-workbook/boards``), shared by every clone of the
workbook, and rebuilt only when its recipe changes. Downloads happen only while building; running
it never touches the network. Emulated code runs about 350 times slower than native: keep what
runs there to a few frames, and never read an emulated time as a board time.

    python -m helpers.emuboard build                 # both suites, both profiles
    python -m helpers.emuboard run BUNDLE -- samples --backend onnx
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .enter import board_env, proot_argv, shell_command, write_fake_proc
from .recipe import PROFILE_BACKENDS, PROFILES, SUITES, suite
from .rootfs import BoardBuildError, missing_host_tools

__all__ = ["EmulatedBoard", "BoardBuildError", "ensure_board", "cache_dir", "tolerance", "SUITES", "PROFILES",
           "PROFILE_BACKENDS", "missing_host_tools"]


#: comparing a board's run with the PC's on the same frames: (score, box/keypoint px, threshold margin)
#: - the board letterboxes exactly as the PC (Debian's OpenCV: no custom HAL; measured bit-identical canvases):
#:   only the inference kernels round differently (onnxruntime outputs within 7e-6 of x86 on the same input)
SAME_INPUT = (1e-3, 0.05, 0.0)
#: - OpenCV with a custom HAL (the aarch64 pip wheels: carotene and Arm's KleidiCV) shrinks images by its own
#:   INTER_LINEAR: up to one grey level on about a quarter of the input values, the PC model's scores then move
#:   by up to 0.007 and boxes and keypoints by up to 0.54 px (measured, both bundles, four frames); random noise
#:   of that size on 20 val images moved scores by up to 0.038 and could flip a detection at the threshold;
#:   another run's model moved boxes by 5 px. So the board is judged on its own canvases
#:   (:mod:`.agreement`); this tolerance remains for frames the runner does not resize
RESIZE_HAL = (0.02, 1.0, 0.02)


def tolerance(stack: dict) -> tuple:
    """The (score, px, margin) tolerance for a profile's stack (its manifest entry): why it differs, not how much."""
    return RESIZE_HAL if stack.get("opencv_hal", "").strip().upper().startswith("YES") else SAME_INPUT


def cache_dir() -> Path:
    return Path(os.environ.get("RK_BOARD_CACHE") or Path.home() / ".cache" / "rk-yolo-workbook" / "boards")


def ensure_board(suite_name: str, progress=print, build_missing: bool = True) -> dict:
    """The built board of ``suite_name`` (its manifest), building it first when missing or stale (``build_missing``;
    else :class:`~helpers.emuboard.build.BoardNotBuilt` says what to run)."""
    from .build import ensure

    return ensure(suite(suite_name), cache_dir(), progress, build_missing)


@dataclass
class EmulatedBoard:
    """One suite x profile x SoC: a shell on an emulated board (built on first use)."""

    suite: str = "bullseye"
    profile: str = "pip"
    soc: str = "rk3588"
    build: bool = True  # False: a board setup did not build is refused with the command (a notebook never downloads)

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}: one of {', '.join(PROFILES)}")
        self.manifest = ensure_board(self.suite, build_missing=self.build)  # a first use builds it, and says so
        self.root = Path(self.manifest["root"])
        self.cpuinfo, self.device_tree = write_fake_proc(cache_dir() / "fake", self.soc)

    @property
    def name(self) -> str:
        return f"{self.suite}/{self.profile}"

    @property
    def backends(self) -> tuple:
        return PROFILE_BACKENDS[(self.suite, self.profile)]

    @property
    def stack(self) -> dict:
        """Python, numpy and OpenCV of this profile, and its pip freeze (as measured when it was built)."""
        return self.manifest["profiles"][self.profile]

    def argv(self, cmd: str | list[str], workdir: str = "/root", binds: dict | None = None) -> list[str]:
        return proot_argv(self.root, self.cpuinfo, self.device_tree, board_env(self.profile), shell_command(cmd),
                          workdir, binds)

    def run(self, cmd: str | list[str], workdir: str = "/root", binds: dict | None = None, timeout: float = 900,
            check: bool = False) -> subprocess.CompletedProcess:
        """Run ``cmd`` in the board's shell; ``binds`` maps host paths into it (host path -> board path)."""
        r = subprocess.run(self.argv(cmd, workdir, binds), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise subprocess.CalledProcessError(r.returncode, cmd, r.stdout, r.stderr)
        return r

    def path(self, inside: str) -> Path:
        """The host path of a path inside the board (its root file system is a folder here)."""
        return self.root / inside.lstrip("/")


def manifests() -> dict:
    """Every built board's manifest, by suite (empty when none is built)."""
    out = {}
    for name in SUITES:
        f = cache_dir() / f"{name}.json"
        if f.is_file():
            out[name] = json.loads(f.read_text())
    return out
