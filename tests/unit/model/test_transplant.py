"""helpers.model.transplant: tensors of a checkpoint into a freshly built model, by name and shape."""
import pytest
import torch

from helpers.model import transplant
from helpers.model.activations import activation_census, build_model, write_model_yaml


def _save(model, path):
    torch.save({"model": model.half(), "train_args": {}}, path)  # the shape ultralytics saves
    return path


@pytest.fixture(scope="module")
def yamls(tmp_path_factory):
    d = tmp_path_factory.mktemp("transplant")
    from helpers.runfolder import offline

    offline.configure_ultralytics(d)
    return d, {a: write_model_yaml(d, a, "n", nc=5) for a in ("relu", "silu")}


def test_silu_weights_into_a_relu_model_match_every_tensor(yamls):
    d, y = yamls
    torch.manual_seed(1)
    src = _save(build_model(y["silu"], 5), d / "silu.pt")
    relu = build_model(y["relu"], 5)
    plan = transplant.check(transplant.plan(relu, src), "yolov8n")
    assert plan.tensors_matched == plan.tensors_total and plan.share == 1.0 and plan.mismatched == []
    before = relu.model[0].conv.weight.clone()
    assert transplant.apply(relu, plan) == plan.tensors_total
    assert not torch.equal(before, relu.model[0].conv.weight)  # the weights moved ...
    assert activation_census(relu) == {"SiLU": 0, "ReLU": 57}  # ... the activations did not


def test_another_class_count_leaves_only_the_class_layers(yamls):
    d, y = yamls
    src = _save(build_model(y["silu"], 80), d / "coco_like.pt")
    plan = transplant.check(transplant.plan(build_model(y["relu"], 5), src), "yolov8n")
    assert 0.8 < plan.share < 1.0 and plan.source["source_nc"] == 80
    assert plan.mismatched and all(".cv3." in name for name, _, _ in plan.mismatched)


def test_another_scale_is_refused_with_what_to_do(yamls, tmp_path):
    d, y = yamls
    s_yaml = write_model_yaml(tmp_path, "silu", "s", nc=5)
    src = _save(build_model(s_yaml, 5), tmp_path / "yolov8s.pt")
    with pytest.raises(transplant.TransplantError, match=r"scale-'s' model .* builds yolov8n: set MODEL"):
        transplant.check(transplant.plan(build_model(y["relu"], 5), src), "yolov8n")
    with pytest.raises(transplant.TransplantError, match="never downloads"):
        transplant.plan(build_model(y["relu"], 5), tmp_path / "yolov8n.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(transplant.TransplantError, match="not an ultralytics checkpoint"):
        transplant.plan(build_model(y["relu"], 5), tmp_path / "junk.pt")


def test_the_transplant_measurement_runs_only_when_there_is_something_to_compare():
    from helpers.model import trainings

    scratch, twin = {"weights": "relu.pt", "transplant": None}, {"weights": "silu.pt"}
    # nothing is trained in these cases (the chain test runs the real measurement)
    assert trainings.measure_transplant("run", None, {"relu": scratch, "silu": twin}, 0) == (None, None)
    assert trainings.measure_transplant("run", None, {"silu": twin}, 10) == (None, None)  # a brought SiLU model
    from_weights = {**scratch, "transplant": {"share": 1.0}}  # the ReLU model itself started from WEIGHTS
    assert trainings.measure_transplant("run", None, {"relu": from_weights, "silu": twin}, 10) == (None, None)
    brought = {"relu": {**scratch, "brought": "relu.pt"}, "silu": {**twin, "brought": "silu.pt"}}  # TRAINED_WEIGHTS
    assert trainings.measure_transplant("run", None, brought, 10) == (None, None)
