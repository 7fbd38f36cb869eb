"""The stages' checks: each check reads only the record, says what to try when it fails, and only stop-checks raise."""

import copy

import pytest

from helpers import stages
from helpers.stages import common


def _pose_record():
    parity = {"final_max_kpt_diff_px": 6e-5, "final_unmatched": 0}
    runs = [{"runtime": rt, "threads": t, "min_cosine": 1.0, "pose_mAP50_95": mp}
            for rt, mp in (("ncnn fp32", 0.69), ("ncnn fp16", 0.69)) for t in (1, 2)]
    return {"parity": {"rknn": dict(parity), "ncnn": dict(parity)}, "parity_ok": True, "ncnn_runs": runs,
            "ncnn": {"relu": {"fused": {"ReLU": 63}}},
            "rknn": [{"build": "FP16", "pose_mAP50_95": 0.69}, {"build": "INT8", "pose_mAP50_95": 0.68}],
            "deployed": {"ncnn": {"equals_notebook": True}, "simulator": {"equals_notebook": True}}}


def _by_id(checks):
    return {c["id"]: c for c in checks}


def test_pose_checks_pass_on_a_good_record():
    checks = stages.DEFINITIONS["08_pose"].checks(_pose_record())
    assert all(c["ok"] and c["fix"] == "" for c in checks)
    assert {c["id"] for c in checks if c["stop"]} == {"pose_parity", "ncnn_matches_onnx", "bundle_equals_notebook"}


@pytest.mark.parametrize("spoil, failing, stops", [
    (lambda m: m.update(parity_ok=False), "pose_parity", True),
    (lambda m: m["ncnn_runs"][0].update(min_cosine=0.98), "ncnn_matches_onnx", True),
    (lambda m: m["ncnn_runs"][2].update(pose_mAP50_95=0.60), "ncnn_fp16_margin", False),
    (lambda m: m["ncnn"]["relu"].update(fused={}), "relu_fused", False),
    (lambda m: m["rknn"][1].update(pose_mAP50_95=0.50), "int8_pose_margin", False),
    (lambda m: m["deployed"]["simulator"].update(equals_notebook=False), "bundle_equals_notebook", True),
])
def test_each_pose_check_fails_alone_and_says_what_to_try(spoil, failing, stops):
    m = copy.deepcopy(_pose_record())
    spoil(m)
    checks = _by_id(stages.DEFINITIONS["08_pose"].checks(m))
    assert [k for k, c in checks.items() if not c["ok"]] == [failing]
    assert checks[failing]["fix"] and checks[failing]["stop"] is stops
    if stops:
        with pytest.raises(common.ExpectationFailed, match=failing):
            common.report_checks(list(checks.values()))
    else:
        common.report_checks(list(checks.values()))  # a warning is shown, not raised


def test_bundle_check_names_the_backend_that_differs():
    m = _pose_record()
    m["deployed"]["ncnn"]["equals_notebook"] = False
    assert "except with ncnn" in _by_id(stages.DEFINITIONS["08_pose"].checks(m))["bundle_equals_notebook"]["what"]


def test_every_stage_with_checks_is_known():
    from helpers.runfolder.artifacts import STAGES

    assert set(stages.DEFINITIONS) == set(STAGES)  # every notebook checks its key expectation


def _analyze_record(int8_map50=0.8841, float_detections=1765):
    rows = [{"variant": "relu", "runtime": "onnxruntime float32", "mAP50": 0.8872, "mAP50_95": 0.7443,
             "detections": float_detections},
            {"variant": "relu", "runtime": "RKNN INT8 simulator", "mAP50": int8_map50, "mAP50_95": 0.7447},
            {"variant": "silu", "runtime": "RKNN INT8 simulator", "mAP50": 0.5, "mAP50_95": 0.4}]
    return {"map_table": rows, "from_05": {"variant": "relu",
                                           "float": {"mAP50": 0.8872, "mAP50_95": 0.7443, "detections": 1765},
                                           "int8": {"config_name": "int8_normal_channel", "mAP50": 0.8841,
                                                    "mAP50_95": 0.7447}}}


def test_06_reproduces_05_on_the_same_images():
    (ok,) = stages.DEFINITIONS["06_analyze"].checks(_analyze_record())
    assert ok["ok"] and "05 recorded 0.8841" in ok["what"]
    (bad,) = stages.DEFINITIONS["06_analyze"].checks(_analyze_record(int8_map50=0.87))
    assert not bad["ok"] and bad["stop"] and "re-run 05" in bad["fix"]
    with pytest.raises(common.ExpectationFailed, match="int8_reproduces_05"):
        common.report_checks([bad])


def test_06_does_not_compare_other_images():
    (c,) = stages.DEFINITIONS["06_analyze"].checks(_analyze_record(int8_map50=0.5, float_detections=900))
    assert c["ok"] and "not compared" in c["what"]
