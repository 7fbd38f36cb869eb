"""helpers.toolkit.report and hybrid: the accuracy report and the quantization config file."""
from pathlib import Path

import pytest

from helpers.toolkit import config, hybrid, jobs, report
from helpers.toolkit.logs import ToolkitError

IMGSZ = 96


def test_accuracy_analysis_report_parses(onnx9, calib, tmp_path):
    res = jobs.accuracy_analysis(onnx9, config.BuildConfig(quantize=True), calib.files[0], tmp_path / "analysis",
                               dataset=calib.txt)
    rows = res["rows"]
    assert Path(res["report"]).is_file() and not (tmp_path / "analysis" / "simulator").exists()
    assert rows[0]["op"] == "Input" and rows[0]["entire_cos"] == pytest.approx(1.0)
    assert {r["layer"] for r in rows} >= {"box_dfl_s8", "cls_prob_s8", "score_sum_s32"}
    assert any(r["fused"] for r in rows)  # Conv folded into its ReLU
    valued = [r for r in rows if not r["fused"] and not r["q_zero"]]
    assert all(-1.0 <= r["single_cos"] <= 1.0 + 1e-6 for r in valued)
    # the distances are read, not defaulted: the input compared with itself is 0 apart, and INT8 moved some layer
    assert rows[0]["entire_euc"] == pytest.approx(0.0, abs=1e-6)
    assert max(r["entire_euc"] for r in valued) > 0 and all(isinstance(r["entire_euc"], float) for r in valued)
    worst = report.worst_layers(rows, 3)
    assert len(worst) == 3 and all(r["op"] not in ("Input", "exDataConvert") for r in worst)
    # the same names are what the hybrid quantization config uses
    layers = jobs.hybrid_layer_names(onnx9, config.BuildConfig(quantize=True), calib.txt, tmp_path / "hybrid")
    assert {r["layer"] for r in valued if r["op"] != "exDataConvert"} - {"images"} <= set(layers)


def test_parser_handles_colour_codes_and_q_zero():
    text = ("[Conv] /a/Conv_output_0\n"
            "[Relu] /a/Relu_output_0          0.99971 | 11.31016  0.99971 | 11.31016\n"
            "[Sigmoid] cls_prob_s32_int8      \x1b[1;31m q_zero\x1b[0m | \x1b[1;31m q_zero\x1b[0m   "
            "\x1b[1;31m q_zero\x1b[0m | \x1b[1;31m q_zero\x1b[0m\n"
            "[exDataConvert] score_sum_s32     \x1b[1;31m q_zero\x1b[0m | \x1b[1;31m q_zero\x1b[0m   "
            "\x1b[1;33m0.59111\x1b[0m | 0.00041\n")
    rows = report.parse_error_analysis(text)
    assert [r["fused"] for r in rows] == [True, False, False, False]
    assert rows[1]["single_euc"] == pytest.approx(11.31016) and rows[2]["q_zero"] and rows[2]["single_cos"] is None
    assert rows[3]["entire_cos"] is None and rows[3]["single_cos"] == pytest.approx(0.59111)
    assert report.worst_layers(rows, 1)[0]["layer"] == "cls_prob_s32_int8"
    with pytest.raises(ValueError, match="no layer rows"):
        report.parse_error_analysis("hello")


def test_quantization_cfg_editing():
    text = ("custom_quantize_layers: {}\nquantize_parameters:\n    images:\n        qtype: asym\n"
            "    /model.0/conv/Conv_output_0:\n        qtype: asym\n")
    assert hybrid.quantization_cfg_layers(text) == ["images", "/model.0/conv/Conv_output_0"]
    edited = hybrid.set_float_layers(text, ["/model.0/conv/Conv_output_0"])
    assert edited.startswith("custom_quantize_layers:\n    /model.0/conv/Conv_output_0: float16\nquantize_parameters:")
    assert hybrid.set_float_layers(edited, []).startswith("custom_quantize_layers: {}\nquantize_parameters:")
    with pytest.raises(ValueError, match="not a quantization config"):
        hybrid.set_float_layers("foo: 1\n", ["x"])


def test_hybrid_with_unknown_layer_is_a_clear_error(onnx9, calib, tmp_path):
    with pytest.raises(ToolkitError, match="layers not in the quantization config: \\['no_such_layer'\\]"):
        jobs.simulate(onnx9, config.BuildConfig(quantize=True, float_layers=["no_such_layer"]), dataset=calib.txt,
                    workdir=tmp_path)
