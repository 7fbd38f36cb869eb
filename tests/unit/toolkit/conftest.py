"""Fixtures of the toolkit tests: a small untrained model exported to ONNX, a calibration set, inputs."""
import numpy as np
import pytest

from helpers import export, heads
from helpers.toolkit import calibration

IMGSZ = 96


@pytest.fixture(scope="session")
def onnx9(untrained_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("rknn_unit")
    return export.export_onnx(heads.patch_for_npu(untrained_model, fuse=True), d / "npu9.onnx", IMGSZ)


@pytest.fixture(scope="session")
def calib(tiny_dataset, tmp_path_factory):
    return calibration.write_calibration_set(tiny_dataset, tmp_path_factory.mktemp("calib"), count=6, imgsz=IMGSZ)


@pytest.fixture(scope="session")
def inputs(calib):
    from helpers.board.preprocess import load_image, to_nhwc_uint8

    return np.concatenate([to_nhwc_uint8(load_image(f)) for f in calib.files[:2]])
