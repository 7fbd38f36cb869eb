import hashlib
from pathlib import Path

import numpy as np
import pytest

from helpers.model import data, labels, synthetic


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_identical_files(tmp_path):
    cfg = synthetic.SynthConfig(n_train=6, n_val=3, seed=11)
    a = synthetic.generate_synthetic(tmp_path / "a", cfg, progress=False).parent
    b = synthetic.generate_synthetic(tmp_path / "b", cfg, progress=False).parent
    assert _digest(a) == _digest(b)
    c = synthetic.generate_synthetic(tmp_path / "c", synthetic.SynthConfig(n_train=6, n_val=3, seed=12), progress=False).parent
    assert _digest(a) != _digest(c)


def test_generation_is_reused_not_redone(tmp_path):
    cfg = synthetic.SynthConfig(n_train=4, n_val=2, seed=1)
    y1 = synthetic.generate_synthetic(tmp_path, cfg, progress=False)
    stamp = y1.stat().st_mtime_ns
    y2 = synthetic.generate_synthetic(tmp_path, cfg, progress=False)
    assert y1 == y2 and y2.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".shapes-tmp")]


def test_synthetic_set_has_what_the_workbook_needs():
    """>= 4 classes, empty images, occlusion, and sizes from small to ~half the image."""
    cfg = synthetic.SynthConfig(n_train=150, n_val=0, seed=0)
    sizes, classes, empty = [], set(), 0
    for i in range(cfg.n_train):
        img, rows = synthetic.render_sample(cfg, "train", i)
        assert img.dtype == np.uint8 and img.ndim == 3
        if not rows:
            empty += 1
        for c, x, y, w, h in rows:
            assert 0 <= x - w / 2 and x + w / 2 <= 1 and 0 <= y - h / 2 and y + h / 2 <= 1
            sizes.append(max(w * img.shape[1], h * img.shape[0]) / max(img.shape[:2]))
            classes.add(c)
    assert len(classes) == len(synthetic.CLASSES) >= 4
    assert empty >= 3
    sizes = np.array(sizes)
    assert sizes.min() < 0.08 and sizes.max() > 0.35
    # spread: a real share of small (stride 8), medium (16) and large (32) objects
    assert (sizes < 0.1).mean() > 0.15 and ((sizes > 0.1) & (sizes < 0.25)).mean() > 0.2 and (sizes > 0.25).mean() > 0.08


def test_occluded_objects_lose_their_label():
    cfg = synthetic.SynthConfig(n_train=1, n_val=0, seed=0, max_objects=6, min_visible=1.01, empty_prob=0)
    # min_visible above 1: every object that is touched at all by a later one loses its label
    strict = sum(len(synthetic.render_sample(cfg, "train", i)[1]) for i in range(40))
    loose = sum(len(synthetic.render_sample(synthetic.SynthConfig(n_train=1, n_val=0, seed=0, max_objects=6, min_visible=0.0,
                                                        empty_prob=0), "train", i)[1]) for i in range(40))
    assert strict < loose


# --------------------------------------------------------------------------- data.yaml checks
@pytest.fixture()
def user_set(tmp_path):
    cfg = synthetic.SynthConfig(n_train=3, n_val=2, seed=5)
    src = synthetic.generate_synthetic(tmp_path / "src", cfg, progress=False).parent
    return src


def test_check_dataset_accepts_a_good_set(user_set):
    info = data.check_dataset(user_set / "data.yaml")
    assert info.nc == 5 and len(info.splits["train"]) == 3 and len(info.splits["val"]) == 2


def test_missing_yaml_says_what_to_do(tmp_path):
    with pytest.raises(labels.DatasetError, match="DATA_YAML"):
        data.check_dataset(tmp_path / "nope.yaml")


def test_wrong_path_names_file_and_line(user_set):
    y = user_set / "data.yaml"
    y.write_text(y.read_text().replace("val: images/val", "val: images/valid"))
    with pytest.raises(labels.DatasetError, match=r"data.yaml, line 3: val: 'images/valid'"):
        data.check_dataset(y)


def test_class_count_mismatch_names_the_line(user_set):
    y = user_set / "data.yaml"
    y.write_text(y.read_text().replace("nc: 5", "nc: 4"))
    with pytest.raises(labels.DatasetError, match=r"line 4: nc: 4 but names lists 5"):
        data.check_dataset(y)


def test_out_of_range_label_names_file_and_line(user_set):
    lab = sorted((user_set / "labels" / "train").glob("*.txt"))[0]
    lab.write_text("0 0.5 0.5 0.2 0.2\n1 120 80 30 40\n")
    with pytest.raises(labels.DatasetError, match=rf"{lab.name}, line 2: box .* out of range"):
        data.check_dataset(user_set / "data.yaml")
    lab.write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(labels.DatasetError, match=rf"{lab.name}, line 1: class id 7 is outside 0..4"):
        data.check_dataset(user_set / "data.yaml")


def test_empty_split_is_an_error(user_set):
    for f in (user_set / "images" / "val").iterdir():
        f.unlink()
    with pytest.raises(labels.DatasetError, match="the val split is empty"):
        data.check_dataset(user_set / "data.yaml")


def test_bad_yaml_names_the_line(tmp_path):
    y = tmp_path / "data.yaml"
    y.write_text("train: a\nval: [b\nnames: [x]\n")
    with pytest.raises(labels.DatasetError, match=r"line \d+: not valid YAML"):
        data.check_dataset(y)


def test_resolved_yaml_is_absolute_and_loadable(user_set, tmp_path):
    info = data.check_dataset(user_set / "data.yaml")
    resolved = data.check_dataset(info.write_resolved_yaml(tmp_path / "r.yaml"))
    assert resolved.splits == info.splits and resolved.names == info.names


def test_a_users_dataset_as_ultralytics_accepts_it(tmp_path):
    from tests.support.hard_dataset import CORRUPT, NAMES, NO_LABEL, POLYGON, make_hard_dataset

    info = data.check_dataset(make_hard_dataset(tmp_path))
    assert info.names == NAMES
    # the corrupt image is reported by name and left out of every split
    assert [(s["split"], Path(s["image"]).name) for s in info.skipped] == [("train", CORRUPT)]
    assert info.skipped[0]["reason"].startswith("corrupt, or a format OpenCV cannot decode")
    assert CORRUPT not in {p.name for p in info.splits["train"]} and len(info.splits["train"]) == 23
    assert len(labels.load_labels(info.root / "images" / "train" / NO_LABEL, info.nc)) == 0
    # polygon rows become the box around their points, as ultralytics does
    poly = labels.load_labels(info.root / "images" / "train" / POLYGON, info.nc)
    assert len(poly) and np.all(poly[:, 3:] > 0) and np.all(poly[:, 1:] <= 1)
    # the resolved yaml (what ultralytics gets) lists no skipped image and keeps the names
    import yaml
    y = yaml.safe_load(info.write_resolved_yaml(tmp_path / "r" / "data.yaml").read_text())
    assert [y["names"][i] for i in range(5)] == NAMES
    assert CORRUPT not in Path(y["train"]).read_text()


@pytest.mark.parametrize("row", ["0 nan 0.5 0.2 0.2", "0 0.5 0.5 inf 0.2", "0 0.5 0.5 0.2 -inf", "nan 0.5 0.5 0.2 0.2",
                                 "0 0.1 0.1 0.3 NaN 0.3 0.3 0.1 0.3"])
def test_nan_or_inf_in_a_label_is_refused_with_file_and_line(tmp_path, row):
    """NaN compares false with every bound, so a range check alone lets it through; ultralytics' loader rejects it."""
    lab = tmp_path / "labels" / "a.txt"
    lab.parent.mkdir()
    first = "1 0.5 0.5 0.2 0.2" if len(row.split()) == 5 else "1 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3"
    lab.write_text(f"{first}\n{row}\n")
    with pytest.raises(labels.DatasetError, match=r"a.txt, line 2: .* holds nan or inf"):
        labels.check_labels(lab, 3)
    pose = tmp_path / "labels" / "p.txt"
    pose.write_text("0 0.5 0.5 0.2 0.2 0.4 0.4 2 0.6 0.6 2\n0 0.5 0.5 0.2 0.2 nan 0.4 2 0.6 0.6 2\n")
    with pytest.raises(labels.DatasetError, match=r"p.txt, line 2: .* holds nan or inf"):
        labels.check_pose_labels(pose, 1, (2, 3))


def test_label_rows_ultralytics_refuses(tmp_path):
    lab = tmp_path / "labels" / "a.txt"
    lab.parent.mkdir()
    lab.write_text("0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n")
    with pytest.raises(labels.DatasetError, match="mixes box rows"):
        labels.check_labels(lab, 3)
    lab.write_text("0 0.1 0.1 0.3 0.1 0.3 0.3 0.2\n")  # 7 coordinates: not pairs
    with pytest.raises(labels.DatasetError, match="line 1: a polygon row .* 7 coordinates"):
        labels.check_labels(lab, 3)
    lab.write_text("1.5 0.5 0.5 0.2 0.2\n")
    with pytest.raises(labels.DatasetError, match="class id 1.5 is outside"):
        labels.check_labels(lab, 3)
    lab.write_text("2 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n0 1.005 0.5 0.01 0.2\n")  # duplicate dropped; 1 % tolerance
    assert labels.check_labels(lab, 3) == [(2, 0.5, 0.5, 0.2, 0.2), (0, 1.005, 0.5, 0.01, 0.2)]
