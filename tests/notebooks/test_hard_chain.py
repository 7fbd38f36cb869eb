"""The chain 01 -> 07 the way a new user runs it: their own dataset (tests/support/hard_dataset.py:
480x360 PNGs, names with spaces, empty and missing label files, a polygon-labelled file, one corrupt image)
and another model scale (MODEL='yolov8s'), trained here for a few epochs.

Tiny settings: the point is that every step accepts such data and that the corrupt image is named and
left out everywhere, never a score; the main chain (test_chain.py) holds the accuracy floors. 06 is left
out: it reads the data through the same evaluation set as 05 and 07 (and the main chain runs it on a user's
brought model), and nothing here is checked in its record: its yolov8s builds would cost CI time for nothing.
"""
import json
from pathlib import Path

import pytest

from helpers.runfolder import artifacts
from helpers.toolkit.calibration import read_calibration_list
from tests.support.chain import execute
from tests.support.hard_dataset import CORRUPT, NAMES, make_hard_dataset

# one lane of `pytest -n 2 --dist loadfile` (scripts/test.sh): this file's tests share a run folder, in order
pytestmark = pytest.mark.notebooks

TINY = {
    "MODEL": "yolov8s", "IMGSZ": 320, "EPOCHS": 3, "BATCH": 8, "TRAIN_SILU_TWIN": False, "TRANSPLANT_EPOCHS": 0, "STRIDE_CHECK_CONF": 0.01,
    "PARITY_IMAGES": 4, "CONF": 0.01,
    "EVAL_IMAGES": 4, "TARGETS": ["rk3588"], "TARGET_IMAGES": 1, "CALIB_COUNT": 30,
    "ALGORITHMS": ["normal"], "METHODS": ["channel"], "HYBRID_LAYERS": 1, "RUN_AUTO_HYBRID": False,
    "CUSTOM_OP_IMAGES": 1, "VIEW_IMAGES": 1, "RUN_MMSE": False, "CALIB_SIZES": [], "BOOTSTRAP": 20, "BATCH_DEMO": 1,
    "LARGE_EXPORT": 0,
    "SAMPLE_IMAGES": 2, "CORES": 1, "FRAME_OBJECT_IMAGES": 2, "EMULATED_BOARD": "",  # the main chain covers it
}


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard data")  # a space in the dataset's own path too
    return {"yaml": make_hard_dataset(root), "run": tmp_path_factory.mktemp("hard run")}


def _run(hard, number):
    execute(number, hard["run"], {**TINY, "DATA_YAML": str(hard["yaml"])})


# One test per notebook, in pipeline order in the same run folder (as test_chain.py), so each one's time shows in
# pytest's durations and a failure names its notebook.
def test_hard_01_trains_on_the_users_data(hard):
    _run(hard, "01")
    run = hard["run"]
    m1 = artifacts.read_metrics(run, "01_train")
    assert m1["names"] == NAMES and m1["model"] == "yolov8s"
    relu = m1["variants"]["relu"]
    assert Path(relu["model_yaml"]).name == "yolov8s-relu.yaml" and relu["activation_census"] == {"SiLU": 0, "ReLU": 57}
    assert relu["parameters"] > 10_000_000  # the s scale (n has 3 M)
    assert [Path(s["image"]).name for s in m1["skipped_images"]] == [CORRUPT]
    assert m1["dataset"]["train"]["images"] == 23  # 24 written, the corrupt one left out
    # what ultralytics trained on never listed it
    train_list = (run / "01_train" / "data.resolved.train.txt").read_text()
    assert CORRUPT not in train_list and len(train_list.splitlines()) == 23


@pytest.mark.parametrize("number", ["02", "03", "04"])
def test_hard_02_to_04_run_on_it(hard, number):
    _run(hard, number)


def test_hard_05_calibrates_on_every_usable_image(hard):
    _run(hard, "05")
    # the calibration list: every usable training image, no corrupt one, no space in any line
    m5 = artifacts.read_metrics(hard["run"], "05_quantize")
    txt = Path(m5["calibration"]["txt"])
    lines = txt.read_text().splitlines()
    assert len(lines) == 23 and not any(" " in ln for ln in lines)
    assert all(f.is_file() for f in read_calibration_list(txt))
    assert all("error" not in r for r in m5["sweep"]) and m5["targets"][0]["built"]
    assert m5["ship"]["rknn_MB"] > 8  # yolov8s in INT8 (yolov8n: 3.7 MB)


def test_hard_07_deploys_on_its_frames(hard):
    _run(hard, "07")
    # evaluation and the deploy bundle ran on the 480x360 val frames; the bundle's labels keep their spaces
    m7 = artifacts.read_metrics(hard["run"], "07_deploy")
    assert m7["runner_equals_notebook"] is True
    assert json.loads((Path(m7["bundle"]) / "config.json").read_text())["labels"] == NAMES
