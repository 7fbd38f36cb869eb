"""The helpers behind the notebooks' by-hand cells: each checked on its own."""
import numpy as np
import pytest

from helpers.experiments import levels
from helpers.board.atomic import commit
from helpers.toolkit.report import compare_tables


def test_int8_params_and_the_step_they_leave():
    scale, zp = levels.int8_params(0.1, 0.9363)  # a range above 0 is widened to include 0
    assert scale == pytest.approx(0.9363 / 255) and zp == -128
    scale, zp = levels.int8_params(-2.6, 329.6)
    assert 1 / scale == pytest.approx(255 / 332.2) and zp == round(-128 + 2.6 / scale)
    q = np.arange(-128, 128)
    assert levels.quantization_step((q[::3] - zp) * scale) == pytest.approx(3 * scale)  # gaps of several steps too
    assert levels.quantization_step(((q - zp) * scale)[[5, 9, 10, 40]]) == pytest.approx(scale)
    assert levels.quantization_step(np.zeros(10)) is None  # one value: nothing to read


def test_compare_tables():
    row = lambda layer, c: {"layer": layer, "entire_cos": c}
    got = compare_tables([row("a", 0.99), row("b", None), row("c", 0.9)], [row("a", 0.98), row("b", 1.0), row("d", 1.0)])
    assert got == {"layers": 3, "helper_layers": 3, "compared": 1, "max_entire_cos_diff": pytest.approx(0.01)}
    assert compare_tables([], [])["max_entire_cos_diff"] is None


def test_commit_replaces_files_and_folders_whole(tmp_path):
    t = tmp_path / "bundle"
    for content in ("old", "new"):
        tmp = tmp_path / f".bundle.{content}"
        tmp.mkdir()
        (tmp / "f.txt").write_text(content)
        commit(tmp, t)
        assert (t / "f.txt").read_text() == content and not tmp.exists()
    f, tmp = tmp_path / "a.txt", tmp_path / ".a.tmp"
    f.write_text("old")
    tmp.write_text("new")
    commit(tmp, f)
    assert f.read_text() == "new" and not tmp.exists()
    tmp.write_text("file over a folder")
    commit(tmp, t)
    assert t.read_text() == "file over a folder"


def test_the_default_act_trap_in_a_fresh_process(tmp_path):
    """What 01 shows: a global Conv.default_act builds ReLU once; its yaml, rebuilt elsewhere, is SiLU again."""
    import torch.nn as nn
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    from helpers.model import activations

    saved = Conv.default_act
    try:
        Conv.default_act = nn.ReLU()
        hacked = DetectionModel(str(activations.stock_yaml("yolov8")), nc=2, verbose=False)
    finally:
        Conv.default_act = saved
    assert activations.activation_census(hacked)["ReLU"] == 57
    assert activations.census_in_fresh_process(hacked.yaml, 2) == {"SiLU": 57, "ReLU": 0}
    ours = activations.write_model_yaml(tmp_path, "relu", "n", nc=2)
    assert activations.yaml_diff(ours, "yolov8") == ["--- ultralytics: yolov8.yaml", "+++ ours: yolov8n-relu.yaml",
                                                     "+activation: nn.ReLU()", "-nc: 80", "+nc: 2"]


def test_a_saved_figure_keeps_its_caption_for_the_report(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.notebook import viz

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    viz.save_figure(fig, tmp_path / "a.png")
    viz.captioned(fig, "A line, computed.")
    assert viz.caption_path(tmp_path / "a.png").read_text() == "A line, computed."
