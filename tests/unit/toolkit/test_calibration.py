"""helpers.toolkit.calibration: the stratified, letterboxed calibration set and its checks."""

import numpy as np
import pytest

from helpers.toolkit import calibration
from helpers.model.labels import DatasetError

IMGSZ = 96


def test_calibration_set_is_stratified_letterboxed_and_listed(calib, tiny_dataset):
    files = calibration.check_calibration_list(calib.txt, IMGSZ)
    assert files == calib.files and len(files) == 6
    assert len(set(calib.sources)) == 6  # no image twice
    assert sum(calib.strata.values()) == 6 and len(calib.strata) >= 4  # round-robin over the strata
    import cv2
    assert all(cv2.imread(str(f)).shape == (IMGSZ, IMGSZ, 3) for f in files)


def test_calibration_errors(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="at least one image"):
        calibration.write_calibration_set(tiny_dataset, tmp_path, count=0, imgsz=IMGSZ)
    empty = type(tiny_dataset)(**{**tiny_dataset.__dict__, "splits": {"train": [], "val": []}})
    with pytest.raises(DatasetError, match="no images to calibrate"):
        calibration.write_calibration_set(empty, tmp_path, count=4, imgsz=IMGSZ)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    broken = type(tiny_dataset)(**{**tiny_dataset.__dict__, "splits": {"train": [bad], "val": []}})
    with pytest.raises(DatasetError, match="broken.jpg is unreadable"):
        calibration.write_calibration_set(broken, tmp_path / "c", count=1, imgsz=IMGSZ)
    txt = tmp_path / "dataset.txt"
    txt.write_text("\n")
    with pytest.raises(ValueError, match="lists no images"):
        calibration.check_calibration_list(txt, IMGSZ)
    import cv2
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((50, 80, 3), np.uint8))
    txt.write_text(f"{big}\n")
    with pytest.raises(ValueError, match=r"dataset.txt:1: .*big.png is 80x50, the model takes 96x96"):
        calibration.check_calibration_list(txt, IMGSZ)
    txt.write_text(f"{tmp_path / 'gone.png'}\n")
    with pytest.raises(ValueError, match="gone.png is missing"):
        calibration.check_calibration_list(txt, IMGSZ)


def test_file_names_with_spaces_never_reach_the_list(tmp_path):
    from helpers.model import data
    from tests.support.hard_dataset import CORRUPT, make_hard_dataset

    info = data.check_dataset(make_hard_dataset(tmp_path / "ds"))
    cal = calibration.write_calibration_set(info, tmp_path / "run dir" / "cal", count=30, imgsz=IMGSZ)
    lines = cal.txt.read_text().splitlines()
    assert len(lines) == 23 and not any(" " in ln for ln in lines)  # every usable image, no space in any line
    assert CORRUPT.replace(" ", "_")[:-4] not in cal.txt.read_text()  # the corrupt image is not there
    assert calibration.check_calibration_list(cal.txt, IMGSZ) == cal.files
    bad = cal.txt.with_name("bad.txt")
    bad.write_text(f"{lines[0]}\nimg 0001.png\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: 'img 0001.png' contains a space"):
        calibration.check_calibration_list(bad, IMGSZ)
