"""The notebooks' widgets, driven without a front end: set a control's value, check what it produces.

(06's detection viewer and 07's command panel. A browser check of the same widgets rendering in
JupyterLab is a manual step, described in the README.)
"""
import pytest

from helpers.model import metrics
from helpers.notebook import pictures, widgets

IMGSZ = 96


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv("WORKBOOK_HEADLESS", raising=False)  # as in JupyterLab: the widgets are built
    import matplotlib

    matplotlib.use("Agg")


def test_detection_viewer_follows_its_sliders(live, onnx9, tiny_dataset, capsys):
    es = metrics.make_eval_set(tiny_dataset, IMGSZ, 3)
    outs = metrics.onnx_outputs(onnx9, es)
    panels = {"float": outs, "same again": outs}
    viewer = widgets.detection_viewer(es, panels, conf=0.05)
    index, conf, _ = viewer.children[:3]
    counts = {}
    for value in (0.05, 0.5, 0.95):
        conf.value = value  # what moving the slider does
        line = capsys.readouterr().out.strip().splitlines()[-1]
        counts[value] = pictures.viewer_detections(es, panels, index.value, value, 0.45)
        assert line.endswith(f"float {len(counts[value]['float'])} detections, same again "
                             f"{len(counts[value]['same again'])} detections"), line
    assert len(counts[0.05]["float"]) > len(counts[0.95]["float"])  # a higher threshold keeps fewer boxes
    index.value = 2
    assert es.images[2].path.name in capsys.readouterr().out


def test_command_panel_writes_the_commands_for_the_chosen_board(live, tmp_path, capsys):
    panel = widgets.command_panel("root@192.168.1.50", "/userdata/bundle", tmp_path / "bundle")
    board, backend, cores, conf = panel.children[:4]
    board.value = "root@10.0.0.7"
    cores.value = 2
    out = capsys.readouterr().out
    assert "root@10.0.0.7" in out and "--cores 2" in out
    backend.value = "simulator"
    assert "--backend simulator" in capsys.readouterr().out


def test_widgets_stay_static_in_a_headless_run(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBOOK_HEADLESS", "1")
    assert widgets.command_panel("root@x", "/d", tmp_path) is None
