"""The run's report (html/index.html) says what each stage found, problems first, and renders in a real browser."""
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from helpers.runfolder import artifacts
from helpers.notebook import report
from helpers import workbook


def _run(tmp_path):
    run = tmp_path / "run"
    artifacts.update_metrics(run, "01_train", headline={"relu_mAP50_95": 0.7496, "epochs": 75},
                             conclusions=[{"id": "a", "text": "ReLU trails SiLU by 0.0123 mAP50-95 in float."}],
                             expectations=[{"id": "detects", "ok": True, "stop": False, "what": "mAP50 0.9", "fix": ""}])
    artifacts.update_metrics(run, "05_quantize", headline={"ship": "int8_normal_channel"},
                             conclusions=[{"id": "b", "text": "INT8 keeps accuracy."}],
                             expectations=[{"id": "int8_margin", "ok": False, "stop": False,
                                            "what": "INT8 mAP50 0.70 vs float 0.89", "fix": "try hybrid quantization"}])
    img = np.zeros((120, 200, 3), np.uint8)
    img[:, :100] = (0, 0, 255)
    cv2.imwrite(str(run / "01_train" / "training_curves.png"), img)
    (run / "01_train" / "training_curves.png.caption.txt").write_text("Per epoch, the validation <top>.")
    (run / "html").mkdir()
    (run / "html" / "01_train_relu.html").write_text("<p>page</p>")
    (run / "summary.json").write_text(json.dumps({"executed": [{"notebook": "01_train_relu.ipynb", "seconds": 1500},
                                                              {"notebook": "05_quantize_int8.ipynb", "seconds": 600}]}))
    return run


def test_the_report_reads_like_a_report(tmp_path):
    run = _run(tmp_path)
    page = workbook.render_index(run).read_text()
    # what went wrong comes first, with what to try
    assert page.index("Expectations that did not hold") < page.index("id='01_train'")
    assert "05_quantize · int8_margin" in page and "try hybrid quantization" in page
    # each stage: a linked title, its headline in words, its conclusions, its figure
    assert '<a href="01_train_relu.html">01_train_relu</a>' in page and "(25.0 min)" in page
    assert "relu mAP50-95" in page and "relu_mAP50_95:" not in page
    assert "ReLU trails SiLU by 0.0123 mAP50-95 in float." in page and "INT8 keeps accuracy." in page
    assert "src='../01_train/training_curves.png'" in page
    assert "<figcaption><i>Figure.</i> Per epoch, the validation &lt;top&gt;.</figcaption>" in page
    assert "2 of 9 stages recorded, 35.0 min of notebooks" in page
    assert report.problems(artifacts.recorded(run))[0]["id"] == "int8_margin"


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed (scripts/setup.sh installs it)")
def test_the_report_renders_in_chromium(tmp_path):
    run = _run(tmp_path)
    index = workbook.render_index(run)
    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1400"]
    dom = subprocess.run(args + ["--dump-dom", index.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<h2 id=\"01_train\">" in dom and "try hybrid quantization" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(args + [f"--screenshot={shot}", index.as_uri()], capture_output=True, timeout=120, check=True)
    pic = cv2.imread(str(shot))
    assert pic is not None and pic.shape[:2] == (1400, 1000)
    # the linked figure was loaded: its pure red half shows up in the rendered page
    red = (pic[..., 2] > 200) & (pic[..., 1] < 40) & (pic[..., 0] < 40)
    assert red.sum() > 2000, red.sum()
