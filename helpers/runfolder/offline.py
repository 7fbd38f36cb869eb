"""Keep ultralytics offline, with its settings and caches inside the run folder.

Ultralytics reaches for the network in a few places: a connectivity probe at
import, a download of ``Arial.ttf`` for plots/dataset checks, analytics events,
pip auto-install of missing requirements, and weight downloads for named
checkpoints. We stop all of them through its own documented switches, never by
editing site-packages:

* ``YOLO_OFFLINE=1``      the import-time probe reports offline (so no events, no hub).
* ``YOLO_AUTOINSTALL=0``  never ``pip install`` anything at run time.
* ``YOLO_CONFIG_DIR``     settings.json and the font live in ``<run>/ultralytics``,
                          not in the user's home.
* a local TTF (matplotlib's DejaVuSans) placed as ``Arial.ttf`` in that folder,
  so ``check_font`` finds it and never downloads.
* settings ``sync=False`` and every logger integration off.

Two of its notices are left out of what a notebook shows (a filter on its logger, nothing else): the
settings-file banner of a first import, and "Overriding model.yaml nc=80 with nc=5", which every build
from a yaml with the dataset's class count prints. Its warnings all stay.

Models are only ever built from a yaml or loaded from a local file.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from .artifacts import resolve_run_dir

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
#: ultralytics' info messages a notebook leaves out (the start of each)
NOTICES_LEFT_OUT = ("Creating new Ultralytics Settings", "Overriding model.yaml")


class _LeaveOut(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and str(record.msg).startswith(NOTICES_LEFT_OUT))


def quiet_notices() -> None:
    """Leave :data:`NOTICES_LEFT_OUT` out of ultralytics' log (its logger, before or after it is imported)."""
    logger = logging.getLogger("ultralytics")
    if not any(isinstance(f, _LeaveOut) for f in logger.filters):
        logger.addFilter(_LeaveOut())


def _local_font() -> Path:
    import matplotlib

    p = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not p.is_file():  # pragma: no cover - matplotlib always ships it
        raise FileNotFoundError(f"matplotlib's DejaVuSans.ttf is missing at {p}; reinstall matplotlib")
    return p


def configure_ultralytics(run_dir: str | os.PathLike) -> Path:
    """Point ultralytics at ``<run>/ultralytics`` and switch off every network path.

    Call before ultralytics is imported (every helper that needs ultralytics calls it
    first). If ultralytics was already imported in this process with another config
    folder, that folder stays in use (ultralytics reads it once, at import) and the
    switches are still applied. Returns the config folder in use.
    """
    cfg_root = resolve_run_dir(run_dir) / "ultralytics"
    already = "ultralytics" in sys.modules
    if not already:
        os.environ["YOLO_CONFIG_DIR"] = str(cfg_root)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    quiet_notices()

    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    cfg_dir = Path(USER_CONFIG_DIR)
    cfg_dir.mkdir(parents=True, exist_ok=True)
    font = _local_font()
    for name in _FONT_NAMES:
        dest = cfg_dir / name
        if not dest.is_file():
            shutil.copyfile(font, dest)
    base = cfg_dir.parent
    wanted = {
        "sync": False,
        "clearml": False, "comet": False, "dvc": False, "mlflow": False, "raytune": False,
        "tensorboard": False, "wandb": False, "vscode_msg": False, "openvino_msg": False,
        "datasets_dir": str(base / "datasets"),
        "weights_dir": str(base / "weights"),
        "runs_dir": str(base / "runs"),
    }
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return cfg_dir
