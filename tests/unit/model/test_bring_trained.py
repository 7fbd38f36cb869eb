"""A trained checkpoint brought in place of training, of the three kinds users bring (the tests make them)."""
import pytest
import torch
import torch.nn as nn

from helpers.model import bring
from helpers.model.activations import activation_census, activation_kind, build_model, write_model_yaml
from helpers.model.heads import load_model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from helpers.runfolder import offline

    d = tmp_path_factory.mktemp("brought")
    offline.configure_ultralytics(d)
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import ROOT

    def save(model, name):
        torch.save({"model": model.half(), "train_args": {}}, d / name)
        return d / name

    out = {"relu-yaml": save(build_model(write_model_yaml(d, "relu", "n", nc=5), 5), "relu_yaml.pt"),
           "silu": save(build_model(write_model_yaml(d, "silu", "n", nc=5), 5), "silu.pt")}
    default = Conv.default_act
    Conv.default_act = nn.ReLU()  # what the seed write-up did by editing site-packages
    try:
        edited = DetectionModel(str(ROOT / "cfg" / "models" / "v8" / "yolov8n.yaml"), nc=5, verbose=False)
    finally:
        Conv.default_act = default
    out["relu-edited"] = save(edited, "relu_edited.pt")
    return out


@pytest.mark.parametrize("kind,variant", [("relu-yaml", "relu"), ("relu-edited", "relu"), ("silu", "silu")])
def test_the_census_tells_what_was_brought(checkpoints, tiny_dataset, tmp_path, kind, variant):
    info = type(tiny_dataset)(**{**tiny_dataset.__dict__, "names": ["a", "b", "c", "d", "e"]})
    rec = bring.bring_trained(tmp_path, checkpoints[kind], info, 96, evaluate=False)
    assert rec["activation_kind"]["kind"] == kind and rec["variant"] == variant
    assert (tmp_path / "01_train" / f"{variant}.pt").is_file() and rec["names"] == ["0", "1", "2", "3", "4"]
    model = load_model(rec["weights"])  # the workbook uses the checkpoint's modules ...
    want = {"SiLU": 57, "ReLU": 0} if kind == "silu" else {"SiLU": 0, "ReLU": 57}
    assert activation_census(model) == want
    if kind == "relu-edited":  # ... because a rebuild from its stored yaml silently returns to SiLU
        from ultralytics.nn.tasks import DetectionModel

        assert activation_census(DetectionModel(model.yaml, nc=5, verbose=False))["SiLU"] == 57
        assert "would silently give SiLU" in rec["activation_kind"]["note"]


def test_a_checkpoint_that_does_not_fit_is_refused(checkpoints, tiny_dataset, tmp_path):
    three = type(tiny_dataset)(**{**tiny_dataset.__dict__, "names": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="the model has 5 classes .* has 3: set DATA_YAML"):
        bring.bring_trained(tmp_path, checkpoints["silu"], three, 96, evaluate=False)
    with pytest.raises(ValueError, match="TRAINED_WEIGHTS: no file at"):
        bring.bring_trained(tmp_path, tmp_path / "nothing.pt", tiny_dataset, 96, evaluate=False)
    assert activation_kind(build_model(write_model_yaml(tmp_path, "relu", "n", nc=3), 3))["kind"] == "relu-yaml"
