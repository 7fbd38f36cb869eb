"""One runtime interface over every place the model can run, and the registry of those places.

``rt.run([x]) -> [outputs]`` with a context-manager lifetime. Each backend is one module of this package
that declares ``BACKEND`` (a :class:`Backend`: its name, the model file it takes, the input layout, whether it
runs on the NPU, how to open it); :func:`backends` finds them, so adding a backend is adding one file. The
``simulator`` and ``toolkit`` backends need rknn-toolkit2 and the workbook's PC package: :mod:`.pc` declares
them (so a bundle's runner lists them and says where they run) and their code lives in ``helpers.toolkit``.

Callers never care about the layout: :meth:`Runtime.infer` takes the letterboxed BGR canvas and converts it
for the backend. Backends import their library lazily, so a board needs only its own (``rknnlite`` or
``ncnn``); this package itself imports numpy and OpenCV only.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..preprocess import to_nchw_float, to_nhwc_uint8

#: what a layout means, in words (07's table, the runner's --help)
LAYOUTS = {"nchw_float": "NCHW float32 RGB 0..1", "nhwc_uint8": "NHWC uint8 RGB"}


class RuntimeFailure(RuntimeError):
    """A runtime could not be created or could not run (message says what to do)."""


class Runtime:
    """Base class: ``with open_runtime(...) as rt: outputs = rt.run([x])``."""

    backend = "?"
    layout = "nhwc_uint8"

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def run(self, inputs: list) -> list:
        raise NotImplementedError

    def prepare(self, canvas_bgr: np.ndarray) -> np.ndarray:
        """The letterboxed BGR canvas in the layout this backend takes."""
        return to_nchw_float(canvas_bgr) if self.layout == "nchw_float" else to_nhwc_uint8(canvas_bgr)

    def infer(self, canvas_bgr: np.ndarray) -> list:
        return self.run([self.prepare(canvas_bgr)])


@dataclass(frozen=True)
class Backend:
    """What the registry knows of one backend.

    ``suffix``: the model file it takes; ``bundle_key``: the key of that file in a bundle's config.json;
    ``npu``: it runs the ``.rknn`` on an NPU (the model must be built for the board's SoC, one context per core);
    ``order``: its place in lists; ``opens``: ``opens(path, core, npu_cores, **kw) -> Runtime``;
    ``available``: whether it can run here; ``auto``: whether a model file's suffix may pick it (an NPU backend
    first, where it is available: on a board a ``.rknn`` runs on its NPU, on a PC in the simulator).
    """

    name: str
    suffix: str
    bundle_key: str
    layout: str
    npu: bool
    where: str
    order: int
    opens: Callable[..., Runtime]
    available: Callable[[], bool] = lambda: True
    auto: bool = True

    @property
    def input(self) -> str:
        return LAYOUTS[self.layout]


def version_tuple(text: str, parts: int = 3) -> tuple:
    """``"1.19.5"`` -> (1, 19, 5); ``"4.5.1+dfsg"`` -> (4, 5, 1): the leading digits of each dotted part."""
    import re

    out = []
    for p in text.split(".")[:parts]:
        m = re.match(r"\d+", p)
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


_REGISTRY: dict[str, Backend] = {}


def backends() -> dict[str, Backend]:
    """Every backend, by name, in ``order``: each module of this package that declares ``BACKEND`` or ``BACKENDS``."""
    if not _REGISTRY:
        found = []
        for m in pkgutil.iter_modules(__path__):
            mod = importlib.import_module(f"{__name__}.{m.name}")
            found += [getattr(mod, "BACKEND")] if hasattr(mod, "BACKEND") else list(getattr(mod, "BACKENDS", ()))
        _REGISTRY.update((b.name, b) for b in sorted(found, key=lambda b: b.order))
    return _REGISTRY


def names() -> tuple[str, ...]:
    """Every backend name, in the order the runner offers them."""
    return tuple(backends())


def backend_spec(name: str) -> Backend:
    """The registry's entry for backend ``name`` (an unknown name is refused with the known ones)."""
    got = backends().get(name)
    if got is None:
        raise RuntimeFailure(f"unknown backend {name!r}; use one of {', '.join(backends())} or auto")
    return got


def uses_npu(name: str) -> bool:
    """Whether backend ``name`` runs the ``.rknn`` on an NPU."""
    return backend_spec(name).npu


def model_file(bundle: str | os.PathLike, cfg: dict, name: str) -> Path:
    """The bundle's model file for backend ``name`` (its config.json names one file per kind; "auto": its
    ``.rknn``); a bundle without that kind of file is refused, saying which backends it has."""
    key = "model" if name == "auto" else backend_spec(name).bundle_key
    if key not in cfg:
        have = [b.name for b in backends().values() if b.bundle_key in cfg]
        raise ValueError(f"this bundle has no {name} model (config.json has no {key!r} entry): use one of "
                         f"{', '.join(have)}")
    return Path(bundle) / cfg[key]


def default_backend(model: str | os.PathLike) -> str:
    """By file suffix: the first available backend that takes it (``.rknn``: rknnlite on a board, else the
    simulator)."""
    suffix = Path(model).suffix.lower()
    takes = sorted((b for b in backends().values() if b.suffix == suffix and b.auto), key=lambda b: (not b.npu, b.order))
    for b in takes:
        if b.available():
            return b.name
    raise RuntimeFailure(f"cannot tell the backend from {model}: expected one of "
                         f"{', '.join(sorted({b.suffix for b in backends().values()}))}")


def open_runtime(model: str | os.PathLike, backend: str | None = None, core: int | str = "auto",
                 npu_cores: int = 3, **kw) -> Runtime:
    """A runtime for ``model``, by backend name or (``None`` / "auto") by file suffix.

    ``core`` picks the NPU core of this context (an index, or "auto"); ``npu_cores`` is the
    target's core count (:mod:`..targets`), so context ``i`` lands on core ``i mod npu_cores``.
    """
    p = Path(model)
    if not p.is_file():
        raise RuntimeFailure(f"no model file at {p}")
    name = default_backend(p) if backend in (None, "auto") else backend
    return backend_spec(name).opens(p, core, npu_cores, **kw)
