import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# ultralytics reads these once, at import: a throw-away config folder, offline, no pip installs
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo-cfg-tests-"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic dataset (generated once per test session)."""
    from helpers import data

    root = tmp_path_factory.mktemp("tiny_data")
    cfg = data.SynthConfig(n_train=12, n_val=6, seed=3)
    return data.check_dataset(data.generate_synthetic(root, cfg, progress=False))


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory):
    """A randomly initialised YOLOv8n-ReLU DetectionModel with 3 classes (no training, no download)."""
    from helpers import offline

    run = tmp_path_factory.mktemp("untrained_run")
    offline.configure_ultralytics(run)
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from helpers.activations import write_model_yaml

    torch.manual_seed(0)
    yaml_path = write_model_yaml(run, "relu", "n", nc=3)
    model = DetectionModel(str(yaml_path), nc=3, verbose=False).eval()
    # random init leaves the class logits near -10 (bias prior): lift them so scores spread over 0..1
    for seq in model.model[-1].cv3:
        seq[-1].bias.data.normal_(0, 2)
    return model
