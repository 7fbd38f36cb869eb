"""The two pose heads and the board-side pose decoder, against ultralytics on the same model and images."""
import numpy as np
import pytest
import torch

from helpers.model import pose_head
from helpers.model.activations import build_model, write_model_yaml
from helpers.board.decode import pose as bpose
from helpers.model.synthetic_pose import FLIP_IDX, PoseSynthConfig, generate_pose_synthetic

KPT = (9, 3)
IMGSZ = 128


@pytest.fixture(scope="module")
def pose_checkpoint(tmp_path_factory):
    """An untrained YOLOv8n-pose ReLU model whose scores spread over 0..1, saved as ultralytics saves one."""
    from helpers.runfolder import offline

    d = tmp_path_factory.mktemp("pose_ckpt")
    offline.configure_ultralytics(d)
    torch.manual_seed(0)
    model = build_model(write_model_yaml(d, "relu", "n", nc=1, family="yolov8-pose"), 1, KPT).eval()
    for seq in model.model[-1].cv3:  # random init scores every cell ~0.5: spread them, so NMS sees no ties
        seq[-1].bias.data.fill_(0.0)
        seq[-1].weight.data *= 1e4  # (its input features are tiny at random init)
    model.names, model.task = {0: "figure"}, "pose"  # as training sets them (predict reads both)
    torch.save({"model": model.half(), "train_args": {}}, d / "pose.pt")
    return d / "pose.pt"


@pytest.fixture(scope="module")
def pose_images(tmp_path_factory):
    y = generate_pose_synthetic(tmp_path_factory.mktemp("figs"), PoseSynthConfig(n_train=2, n_val=3), progress=False)
    return sorted((y.parent / "images" / "val").glob("*.jpg"))


def test_both_layouts_carry_the_same_numbers(pose_checkpoint):
    from helpers.model.heads import load_model

    m = load_model(pose_checkpoint)
    x = torch.rand(1, 3, IMGSZ, IMGSZ)
    with torch.no_grad():
        rk = [o.numpy() for o in pose_head.patch_pose(m, "rknn")(x)]
        nc = [o.numpy() for o in pose_head.patch_pose(m, "ncnn")(x)]
        stock = m(x)[0][0].numpy().T
    assert [o.shape for o in nc] == [(1, IMGSZ // s, IMGSZ // s, 1 + 64 + 27) for s in (8, 16, 32)]
    assert len(rk) == 12 and rk[3].shape == (1, 27, IMGSZ // 8, IMGSZ // 8)
    a, b = pose_head.decode_dense_pose(rk, IMGSZ, KPT, 1, "rknn"), pose_head.decode_dense_pose(nc, IMGSZ, KPT, 1, "ncnn")
    assert len(a) == len(b) > 0
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, atol=1e-4)
    # ... and what ultralytics' own Pose head decodes: boxes, scores, keypoints (x, y, sigmoid visibility)
    boxes, scores, kpts = a
    np.testing.assert_allclose(scores[:, 0], stock[:, 4], atol=1e-5)
    np.testing.assert_allclose(kpts.reshape(len(kpts), -1), stock[:, 5:], atol=1e-3)
    xywh = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
    np.testing.assert_allclose(xywh, stock[:, :4], atol=1e-3)


@pytest.mark.parametrize("layout", ["rknn", "ncnn"])
def test_patched_head_and_decoder_equal_ultralytics_predict(pose_checkpoint, pose_images, tmp_path, layout):
    r = pose_head.pose_parity(pose_checkpoint, pose_images, IMGSZ, layout, conf=0.5, iou=0.45, run_dir=tmp_path)
    assert r["images"] == 3 and r["final_ultralytics"] > 10, r  # compared something
    assert r["final_unmatched"] == 0 and r["final_ours"] == r["final_ultralytics"], r
    assert r["dense_max_box_diff_px"] < 1e-2 and r["dense_max_kpt_diff_px"] < 1e-2 and r["dense_max_score_diff"] < 1e-5
    assert r["final_max_box_diff_px"] < 1e-2 and r["final_max_kpt_diff_px"] < 1e-2, r
    assert r["final_max_kpt_vis_diff"] < 1e-4 and r["final_max_score_diff"] < 1e-4, r


def test_decoder_keypoints_follow_the_letterbox_and_the_flip():
    """A keypoint placed in a known cell comes back at its pixel; mirrored outputs give mirrored keypoints
    once flip_idx swaps the pairs (what ultralytics' flip augmentation relies on)."""
    from helpers.board.preprocess import Letterbox

    h = w = 4
    raw = np.zeros((27, h, w), np.float32)
    raw[0::3] = 0.25  # x: half a cell right of the cell's corner... for every keypoint
    raw[1::3] = -0.25
    raw[2::3] = 3.0
    gx, gy = np.array([1]), np.array([2])
    k = bpose.decode_keypoints(raw.reshape(27, -1)[:, [2 * w + 1]], gx, gy, 8, KPT)
    np.testing.assert_allclose(k[0, :, 0], (2 * 0.25 + 1) * 8)
    np.testing.assert_allclose(k[0, :, 1], (2 * -0.25 + 2) * 8)
    np.testing.assert_allclose(k[0, :, 2], 1 / (1 + np.exp(-3.0)), rtol=1e-6)
    lb = Letterbox((60, 120), (64, 64), (32, 64), 0, 16)  # 120x60 image letterboxed to 64: scale 0.533, pad 16
    back = bpose.keypoints_to_original(np.array([[[32, 32, 1.0], [100, 0, 0.5]]], np.float32), lb)
    np.testing.assert_allclose(back[0, 0], [60, 30, 1.0], atol=1e-4)
    assert back[0, 1, 0] == 120 and back[0, 1, 1] == 0  # clipped to the image, as ultralytics clips
    pts = np.random.default_rng(0).uniform(0, 100, (9, 2))
    mirrored = np.stack([100 - pts[:, 0], pts[:, 1]], 1)[list(FLIP_IDX)]
    assert np.allclose(np.stack([100 - mirrored[:, 0], mirrored[:, 1]], 1)[list(FLIP_IDX)], pts)


def test_bad_pose_outputs_are_a_clear_error():
    with pytest.raises(ValueError, match="4 NCHW outputs per stride"):
        bpose.postprocess_pose([np.zeros((1, 64, 4, 4))] * 3, (32, 32), KPT)
    with pytest.raises(ValueError, match=r"\[1, H, W, 92\]"):
        bpose.postprocess_pose([np.zeros((1, 4, 4, 90))], (32, 32), KPT, layout="ncnn")


def test_ncnn_export_fuses_relu_and_runs_like_torch(pose_checkpoint, tmp_path):
    """pnnx converts the ncnn head; every ReLU folds into its convolution; ncnn (fp32 and fp16 flags, 1 and 2
    threads) computes what torch computes; a SiLU twin keeps its Swish layers."""
    from helpers.model import ncnn_export
    from helpers.board.runtimes import open_runtime
    from helpers.model.heads import load_model
    from helpers.model.parity import cosine

    model = pose_head.patch_pose(load_model(pose_checkpoint), "ncnn", fuse=True)
    r = ncnn_export.export_ncnn(model, tmp_path, IMGSZ, "relu_pose")
    assert r["census_pnnx"]["nn.ReLU"] == 63 and r["census_pnnx"]["nn.Conv2d"] == 72 and r["unmapped_params"] == 0
    assert "ReLU" not in r["census_ncnn"] and r["fused"] == {"ReLU": 63}
    work = tmp_path / "relu_pose.pnnx_work"  # the log and the graphs as text stay, the weights' copies go
    assert sorted(f.name for f in work.iterdir()) == ["pnnx.log", "relu_pose.ncnn.param", "relu_pose.pnnx.param",
                                                      "relu_pose_ncnn.py", "relu_pose_pnnx.py"]
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, IMGSZ, IMGSZ)).astype(np.float32)
    with torch.no_grad():
        ref = [o.numpy() for o in model(torch.from_numpy(x))]
    for fp16, threads in ((False, 1), (True, 2)):
        with open_runtime(r["param"], fp16=fp16, threads=threads) as rt:
            out = rt.run([x])
        assert [o.shape for o in out] == [o.shape for o in ref]
        assert min(cosine(a, b) for a, b in zip(ref, out)) > 0.9999
    silu = build_model(write_model_yaml(tmp_path, "silu", "n", nc=1, family="yolov8-pose"), 1, KPT).eval()
    s = ncnn_export.export_ncnn(pose_head.patch_pose(silu, "ncnn", fuse=True), tmp_path, IMGSZ, "silu_pose")
    assert s["census_ncnn"]["Swish"] == 63 and s["fused"] == {}


def test_ncnn_runtime_refuses_what_it_cannot_load(tmp_path):
    from helpers.board.runtimes import RuntimeFailure, open_runtime

    (tmp_path / "a.param").write_text("7767517\n1 1\nInput in0 0 1 in0\n")
    with pytest.raises(RuntimeFailure, match="no a.bin next to a.param"):
        open_runtime(tmp_path / "a.param")
    (tmp_path / "b.param").write_text("not a param\n")
    (tmp_path / "b.bin").write_bytes(b"")
    with pytest.raises(RuntimeFailure, match="magic 7767517"):
        open_runtime(tmp_path / "b.param")
