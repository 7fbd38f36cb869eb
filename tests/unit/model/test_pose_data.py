"""The stick-figure keypoint dataset and the pose data.yaml checks."""
import numpy as np
import pytest

from helpers.model import data, labels
from helpers.model.synthetic_pose import FLIP_IDX, KEYPOINTS, PoseSynthConfig, generate_pose_synthetic, render_sample


@pytest.fixture(scope="module")
def pose_yaml(tmp_path_factory):
    return generate_pose_synthetic(tmp_path_factory.mktemp("figures"), PoseSynthConfig(n_train=12, n_val=6),
                                   progress=False)


def test_generator_is_deterministic_and_labels_every_kind_of_keypoint():
    cfg = PoseSynthConfig()
    a, la = render_sample(cfg, "train", 3)
    b, lb = render_sample(cfg, "train", 3)
    assert np.array_equal(a, b) and la == lb
    vis = [v for i in range(40) for lab in render_sample(cfg, "train", i)[1] for _, _, v in lab[5]]
    assert {0, 1, 2} <= set(vis)  # outside the frame, hidden, visible
    for i in range(40):
        for _, xc, yc, w, h, kp in render_sample(cfg, "train", i)[1]:
            assert len(kp) == len(KEYPOINTS)
            for x, y, v in kp:
                if v:  # every labelled keypoint lies in its box; "left" is the viewer's left of its pair
                    assert xc - w / 2 - 1e-6 <= x <= xc + w / 2 + 1e-6 and yc - h / 2 - 1e-6 <= y <= yc + h / 2 + 1e-6
            for left, right in ((1, 2), (5, 6)):
                if kp[left][2] and kp[right][2]:
                    assert kp[left][0] < kp[right][0]


def test_generated_dataset_passes_the_checks(pose_yaml):
    info = data.check_dataset(pose_yaml)
    assert info.task == "pose" and info.kpt_shape == (9, 3) and info.flip_idx == list(FLIP_IDX)
    assert info.names == ["figure"] and len(info.splits["val"]) == 6
    boxes, kpts = labels.load_keypoints(info.splits["train"][0], info.nc, info.kpt_shape)
    assert kpts.shape == (len(boxes), 9, 3)


def _copy(pose_yaml, tmp_path, yaml_edit=None, label_edit=None):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(pose_yaml.parent, root)
    y = root / "data.yaml"
    if yaml_edit:
        y.write_text(yaml_edit(y.read_text()))
    if label_edit:
        lab = sorted((root / "labels" / "train").glob("*.txt"))
        lab = next(f for f in lab if f.read_text().strip())
        lab.write_text(label_edit(lab.read_text()))
    return y


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("kpt_shape: [9, 3]", "kpt_shape: [9, 4]"), "kpt_shape must be"),
    (lambda t: t.replace("flip_idx: [0, 2, 1, 4, 3, 6, 5, 8, 7]", "flip_idx: [0, 2, 1, 4, 3, 6, 5, 8]"),
     "permutation of 0..8"),
    (lambda t: t.replace("flip_idx: [0, 2, 1, 4, 3, 6, 5, 8, 7]", "flip_idx: [1, 2, 0, 3, 4, 5, 6, 7, 8]"),
     "must swap pairs"),
    (lambda t: t.replace("kpt_shape: [9, 3]\n", ""), "flip_idx without kpt_shape"),
])
def test_bad_pose_yaml_is_a_clear_error(pose_yaml, tmp_path, edit, words):
    with pytest.raises(labels.DatasetError, match=words):
        data.check_dataset(_copy(pose_yaml, tmp_path, yaml_edit=edit))


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.splitlines()[0].rsplit(" ", 3)[0] + "\n", r"needs 32: 'class xc yc w h' then 9 keypoints"),
    (lambda t: t.splitlines()[0].rsplit(" ", 1)[0] + " 5\n", "visibility must be 0"),
    (lambda t: " ".join(t.splitlines()[0].split()[:5] + ["120", "80", "2"] + t.splitlines()[0].split()[8:]) + "\n",
     "pixel coordinates"),
])
def test_bad_pose_label_is_a_clear_error(pose_yaml, tmp_path, edit, words):
    with pytest.raises(labels.DatasetError, match=words):
        data.check_dataset(_copy(pose_yaml, tmp_path, label_edit=edit))


def test_resolved_yaml_keeps_the_pose_keys(pose_yaml, tmp_path):
    import yaml

    info = data.check_dataset(pose_yaml)
    d = yaml.safe_load(info.write_resolved_yaml(tmp_path / "resolved.yaml").read_text())
    assert d["kpt_shape"] == [9, 3] and d["flip_idx"] == list(FLIP_IDX)


def test_pose_map_is_one_for_the_ground_truth_and_drops_with_keypoint_error(pose_yaml):
    from helpers.model import metrics
    from helpers.board.decode.pose import PoseDetections

    info = data.check_dataset(pose_yaml)
    es = metrics.make_eval_set(info, 320)
    assert es.kpt_shape == (9, 3) and all(im.gt_keypoints.shape == (len(im.gt_boxes), 9, 3) for im in es.images)

    def dets(shift):
        out = []
        for im in es.images:
            k = im.gt_keypoints.copy()
            k[..., 0] += shift
            out.append(PoseDetections(im.gt_boxes, np.ones(len(k), np.float32), im.gt_classes,
                                      np.zeros(len(k), np.int64), keypoints=k))
        return out

    perfect = metrics.coco_pose_map(es, dets(0.0))
    assert perfect["pose_mAP50"] == 1.0 and perfect["pose_mAP50_95"] == 1.0 and perfect["box_mAP50"] == 1.0
    off = metrics.coco_pose_map(es, dets(6.0))  # every keypoint 6 px off: OKS falls, boxes stay perfect
    assert off["box_mAP50_95"] == 1.0 and off["pose_mAP50_95"] < 0.9
    np.testing.assert_allclose(metrics.kpt_sigmas(9), 1 / 9)
