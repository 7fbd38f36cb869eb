"""A notebook's first and last line: inputs from earlier stages, metrics with a computed headline."""
import pytest

from helpers.runfolder import artifacts
from helpers import stages


def test_every_stage_has_inputs_and_a_headline():
    assert set(stages.INPUTS) == set(artifacts.STAGES) == set(stages.DEFINITIONS)
    assert all(d.name == k for k, d in stages.DEFINITIONS.items())
    order = list(artifacts.STAGES)
    for stage, needs in stages.INPUTS.items():
        assert all(order.index(src) < order.index(stage) for src, _ in needs.values()), stage


def test_open_stage_names_the_notebook_to_run_first(tmp_path):
    with pytest.raises(artifacts.ArtifactMissing, match="01_train_relu.ipynb"):
        stages.open_stage(tmp_path, "02_patch")
    with pytest.raises(ValueError, match="unknown stage"):
        stages.open_stage(tmp_path, "99_nothing")


def test_open_and_close(tmp_path, tiny_dataset):
    artifacts.update_metrics(tmp_path, "01_train", variants={"relu": {"weights": "w.pt"}}, imgsz=96,
                             data_yaml=str(tiny_dataset.yaml_path))
    artifacts.update_metrics(tmp_path, "02_patch", parity_ok=True)
    s = stages.open_stage(tmp_path, "03_export")
    assert s.imgsz == 96 and s.parity_ok is True and s.info.names == tiny_dataset.names
    assert s.dir == tmp_path / "03_export" and s.dir.is_dir()
    assert stages.close(tmp_path, "03_export", dict(onnx={"relu_npu9": "a.onnx"}, patched_max_abs_diff=1e-6,
                                                   models={"relu_stock": {"flagged_ops": {"Softmax": 1}}},
                                                   min_cosine=0.99999999, flagged_in_patched={}), show=False) is None
    rec = artifacts.read_metrics(tmp_path, "03_export")
    assert rec["headline"] == {"onnx_files": 1, "patched_max_abs_diff": "1.00e-06", "min_cosine": 0.99999999,
                               "flagged_ops_in_patched": "none"}
    assert artifacts.read_metrics(tmp_path, "03_export")["headline"] == rec["headline"]
    # one call made the conclusions and the checks too, from the same record
    assert [c["id"] for c in rec["conclusions"]] == ["onnx_parity", "npu_ops"] and rec["conclusions"][1]["value"] == ["Softmax"]
    assert [c["id"] for c in rec["expectations"]] == ["onnx_parity", "patched_ops"] and all(c["ok"] for c in rec["expectations"])


def test_06_needs_a_relu_model():
    stages.require_relu({"relu": {}, "silu": {}})
    with pytest.raises(ValueError, match=r"01 recorded only \['silu'\]: run 01 with WEIGHTS"):
        stages.require_relu({"silu": {}})


def test_a_run_is_readable_without_jupyter(tmp_path):
    """workbook.render_html / render_index: every executed notebook and the summary as HTML in <run>/html."""
    import nbformat

    from helpers import workbook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 01 · A title"),
                                         nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
                                             "execute_result", data={"text/plain": "2"}, execution_count=1)])])
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, str(tmp_path / "notebooks" / "01_train_relu.ipynb"))
    (tmp_path / "summary.json").write_text('{"executed": [{"notebook": "01_train_relu.ipynb", "seconds": 30}]}')
    from helpers.runfolder import artifacts

    artifacts.update_metrics(tmp_path, "01_train", headline={"relu_mAP50": 0.9},
                             conclusions=[{"id": "x", "text": "The ReLU model detects."}],
                             expectations=[{"id": "detects", "ok": False, "stop": False, "what": "mAP50 is 0.1",
                                            "fix": "train longer"}])
    page = workbook.render_html(tmp_path / "notebooks" / "01_train_relu.ipynb", tmp_path / "html")
    assert page.name == "01_train_relu.html" and "A title" in page.read_text()
    index = workbook.render_index(tmp_path).read_text()
    assert 'href="01_train_relu.html"' in index and "<table>" in index
    # the report: failed expectations first, then each stage's headline in words, conclusions and time
    assert index.index("Expectations that did not hold") < index.index('id=\'01_train\'')
    assert "train longer" in index and "relu mAP50" in index and "The ReLU model detects." in index
    assert "0.5 min" in index
