"""What an emulated board is made of: two Debian suites, two package profiles, one SoC's device tree.

A board image is Debian (or Ubuntu) for arm64 with the Python, numpy and OpenCV that it ships. A
board user then has one of two stacks, and the bundle must work with both:

* ``debian``: Debian's own ``python3-numpy`` and ``python3-opencv``, plus the runtimes from PyPI in a
  venv that sees them (``python3 -m venv --system-site-packages``; pip keeps Debian's numpy because it
  already satisfies every runtime's requirement). Debian 11's numpy 1.19.5 is too old for
  onnxruntime (it declares numpy >= 1.21.6), so that profile has no ``onnx`` backend.
* ``pip``: today's wheels from PyPI in a plain venv: numpy 2.x, OpenCV 5.x, onnxruntime, ncnn,
  rknn-toolkit-lite2.

The top-level pins are here; their dependencies are whatever pip resolves from the wheels
downloaded at build time (each built board records ``pip freeze`` per profile). Changing anything
in :data:`SUITES` or :data:`PROFILES` changes :func:`recipe_hash`, and the next use rebuilds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

#: bump when the build steps themselves change (not only the lists below)
BUILDER_VERSION = 3
#: the Debian archive, as this machine's own apt sources name it
MIRROR = "http://deb.debian.org/debian"
#: Debian packages of every emulated board: Python with Debian's numpy and OpenCV, venv, and what a board's
#: shell offers the workbook (strings for the version check, sftp for pushes, ps/pgrep)
DEBIAN_PACKAGES = ("python3", "python3-numpy", "python3-opencv", "python3-venv", "openssh-sftp-server",
                   "binutils", "procps")


@dataclass(frozen=True)
class Suite:
    name: str           # Debian's code name
    debian: str         # its version
    python: str         # the python3 it ships (major.minor)
    glibc: tuple        # its glibc (major, minor): the newest manylinux wheels it can take
    numpy: str          # Debian's own python3-numpy
    opencv: str         # Debian's own python3-opencv

    @property
    def label(self) -> str:
        return f"Debian {self.debian} ({self.name}), Python {self.python}"


SUITES = {
    # the RK3588 vendor images (Radxa, Firefly, Orange Pi's Debian) are built on Debian 11
    "bullseye": Suite("bullseye", "11", "3.9", (2, 31), "1.19.5", "4.5.1"),
    "bookworm": Suite("bookworm", "12", "3.11", (2, 36), "1.24.2", "4.6.0"),
}

#: what a board user pip-installs per profile and suite, exactly as tested (the bundle README lists it)
PROFILES = {
    "debian": {
        "bullseye": ("rknn-toolkit-lite2==2.5.0", "ncnn==1.0.20261020"),
        "bookworm": ("rknn-toolkit-lite2==2.5.0", "ncnn==1.0.20261020", "onnxruntime==1.32.0"),
    },
    "pip": {
        "bullseye": ("numpy==2.0.2", "opencv-python-headless==5.0.0.93", "onnxruntime==1.19.2",
                     "rknn-toolkit-lite2==2.5.0", "ncnn==1.0.20261020"),
        "bookworm": ("numpy==2.4.6", "opencv-python-headless==5.0.0.93", "onnxruntime==1.32.0",
                     "rknn-toolkit-lite2==2.5.0", "ncnn==1.0.20261020"),
    },
}
#: a profile's venv sees Debian's own packages (system site-packages) or only its own
SYSTEM_SITE = {"debian": True, "pip": False}
#: the backends each suite x profile can run (rknnlite: up to init_runtime, without the board's librknnrt.so)
PROFILE_BACKENDS = {
    ("bullseye", "debian"): ("rknnlite", "ncnn"),
    ("bullseye", "pip"): ("onnx", "rknnlite", "ncnn"),
    ("bookworm", "debian"): ("onnx", "rknnlite", "ncnn"),
    ("bookworm", "pip"): ("onnx", "rknnlite", "ncnn"),
}
#: where a profile's venv lives inside the board
VENV_DIR = "/opt/rkboard"


def suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}: the emulated board is one of {', '.join(SUITES)}")
    return SUITES[name]


def profile_packages(profile: str, suite_name: str) -> tuple:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: one of {', '.join(PROFILES)}")
    return PROFILES[profile][suite(suite_name).name]


def venv(profile: str) -> str:
    return f"{VENV_DIR}/{profile}"


def manylinux_platforms(s: Suite) -> list[str]:
    """pip's ``--platform`` tags an aarch64 wheel may carry to install on this suite's glibc."""
    tags = ["manylinux2014_aarch64"]
    tags += [f"manylinux_2_{m}_aarch64" for m in range(17, s.glibc[1] + 1)]
    return tags


def recipe_hash(suite_name: str) -> str:
    """A digest of everything that decides what one suite's board holds (both profiles)."""
    s = suite(suite_name)
    spec = {"builder": BUILDER_VERSION, "mirror": MIRROR, "packages": DEBIAN_PACKAGES, "suite": asdict(s),
            "profiles": {p: PROFILES[p][s.name] for p in PROFILES}, "system_site": SYSTEM_SITE}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
