"""Interactive widgets of the notebooks (ipywidgets); each returns None where no one can interact (papermill, CI)."""

from __future__ import annotations

import os

from ..board.postprocess import DEFAULT_CONF, DEFAULT_IOU
from ..board.runtimes import names as backend_names
from ..deploy.bundles import board_commands
from .pictures import side_by_side, viewer_detections
from .viz import show_images


def headless() -> bool:
    """True inside a workbook/papermill run (``helpers.workbook`` sets ``WORKBOOK_HEADLESS=1``).

    Interactive widgets are skipped there: nobody can move a slider, and ipywidgets' Output capture
    can stall a kernel that has no front end. The static picture before each widget is what a
    headless run shows.
    """
    return os.environ.get("WORKBOOK_HEADLESS") == "1"


def detection_viewer(es, panels: dict[str, list], conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU):
    """ipywidgets: pick a val image and thresholds; see each runtime's detections side by side."""
    if headless():
        print("(headless run: the interactive viewer is shown when you open the notebook in JupyterLab)")
        return None
    import ipywidgets as w
    import matplotlib.pyplot as plt

    index = w.IntSlider(0, 0, len(es) - 1, description="image")
    c = w.FloatSlider(conf, min=0.05, max=0.95, step=0.05, description="conf")
    u = w.FloatSlider(iou, min=0.1, max=0.9, step=0.05, description="NMS IoU")

    def draw(index, conf, iou):
        pictures = side_by_side(es, panels, index, conf, iou)
        show_images(pictures, list(panels), cols=len(panels))
        plt.show()
        print(f"{es.images[index].path.name}: " + ", ".join(
            f"{name} {len(d)} detections" for name, d in viewer_detections(es, panels, index, conf, iou).items()))
    return w.interactive(draw, index=index, conf=c, iou=u)


def command_panel(default_address: str, board_dir: str, bundle, conf: float = DEFAULT_CONF):
    """ipywidgets: board address, backend, cores, threshold -> the commands to type (None when headless)."""
    if headless():
        return None
    import ipywidgets as w

    return w.interactive(lambda board, backend, cores, conf: print(board_commands(board, board_dir, bundle, backend,
                                                                                  cores, conf)),
                         board=w.Text(value=default_address),
                         backend=w.Dropdown(options=list(backend_names()), value="rknnlite"),
                         cores=w.IntSlider(value=3, min=1, max=3),
                         conf=w.FloatSlider(value=conf, min=0.05, max=0.95, step=0.05))
