"""One decoder per task: the head outputs of a bundle's model -> detections (boxes, and a task's extras).

Each task is one module here (``detect``, ``pose``) with ``decoder(cfg, backend)``: the bundle's config.json
says the task (``"task"``, ``detect`` when absent) and what its decode needs (``kpt_shape``, ``score_sum``,
the output layout). :func:`decoder` finds the module by the task's name, so adding a task on the board is
adding one module. The shared parts (DFL, NMS, :class:`~..postprocess.Detections`) are in ``..postprocess``.
"""

from __future__ import annotations

import importlib
import pkgutil


def tasks() -> tuple[str, ...]:
    """The tasks a board can decode: this package's modules."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))


def decoder(cfg: dict, backend: str):
    """The bundle model's post-process, ``decode(outputs, imgsz, conf, iou, letterbox) -> Detections``."""
    task = cfg.get("task", "detect")
    if task not in tasks():
        raise ValueError(f"this bundle's task {task!r} has no decoder on this board (it decodes {', '.join(tasks())}): "
                         "copy the bundle again from the workbook that made it")
    return importlib.import_module(f"{__name__}.{task}").decoder(cfg, backend)
