"""helpers.notebook.wording: one sign convention, noise worded as noise; 06's central answer follows the intervals."""
import pytest

from helpers.notebook import wording
from helpers.stages import s06_activation


def test_a_difference_inside_its_interval_is_noise_whatever_its_sign():
    w = wording.difference("INT8", "float", 0.7705, 0.7718, low=-0.0088, high=0.0081)
    assert w["difference"] == -0.0013 and w["noise"] and w["higher"] is None
    assert w["text"] == ("INT8 − float mAP50-95 -0.0013 (0.7705 vs 0.7718; 95 % interval -0.0088 to +0.0081): "
                         "within noise")
    lost = wording.difference("INT8", "float", 0.5825, 0.7718, low=-0.2241, high=-0.163)
    assert not lost["noise"] and lost["higher"] == "float" and lost["text"].endswith("float higher, beyond noise")
    # without an interval, the evaluation's resolution decides
    assert wording.difference("a", "b", 0.75, 0.745, resolution=0.0068)["noise"]
    assert wording.difference("a", "b", 0.76, 0.745, resolution=0.0068)["higher"] == "a"
    # nothing measured: not a finding
    assert wording.is_noise(0.05) and wording.difference("a", "b", 0.8, 0.75)["text"].endswith(
        "(0.8 vs 0.75; no interval measured): not a finding")


def _row(setting, relu, silu, low, high):
    return {"setting": setting, "relu_mAP50_95": relu, "silu_mAP50_95": silu, "silu_minus_relu": round(silu - relu, 4),
            "low": low, "high": high, "images": 60, "resamples": 100}


@pytest.mark.parametrize("int8_rows, verdict", [
    ([_row("INT8, 05's settings (a)", 0.7705, 0.7363, -0.05, -0.02), _row("INT8, the toolkit's defaults (b)", 0.7732,
                                                                          0.7698, -0.012, 0.004)],
     "After INT8 the answer depends on the settings: ReLU higher with 05's settings (a); within noise with the "
     "toolkit's defaults (b)."),
    ([_row("INT8, 05's settings (a)", 0.77, 0.75, -0.03, -0.01)], "After INT8 the ReLU model scores higher with every "
                                                                  "setting tried."),
    ([_row("INT8, 05's settings (a)", 0.77, 0.771, -0.01, 0.012)], "After INT8 neither activation scores measurably "
                                                                   "higher on these 60 images, with any setting tried."),
])
def test_the_central_answer_follows_each_interval(int8_rows, verdict):
    rows = [_row("float (onnxruntime)", 0.7718, 0.7751, -0.004, 0.011)] + int8_rows
    a = s06_activation.activation_answer(rows)
    assert verdict in a["text"] and a["value"]["float (onnxruntime)"]["higher"] is None
    assert "66.1 frames/s against 48.4" in a["text"] and "transplant" not in a["value"]
    t = {"final": {"scratch": {"mAP50_95": 0.7888}, "transplanted": {"mAP50_95": 0.7825}},
         "epochs": {"scratch": 75, "transplanted": 20}}
    b = s06_activation.activation_answer(rows, {"transplant": t, "silu": {"mAP50_95": 0.79684}})
    assert b["value"]["transplant"] == {"scratch": 0.7888, "transplanted": 0.7825, "silu": 0.7968}
    assert b["text"].endswith("in its 20 epochs the transplant does not close the gap.")
    t["final"]["transplanted"]["mAP50_95"] = 0.80
    assert "that gap is one of training, not of the activation" in s06_activation.activation_answer(
        rows, {"transplant": t, "silu": {"mAP50_95": 0.79684}})["text"]
