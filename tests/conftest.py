import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# ultralytics reads these once, at import: a throw-away config folder, offline, no pip installs
if "YOLO_CONFIG_DIR" not in os.environ:
    _CFG_DIR = tempfile.mkdtemp(prefix="yolo-cfg-tests-")
    os.environ["YOLO_CONFIG_DIR"] = _CFG_DIR
    atexit.register(shutil.rmtree, _CFG_DIR, ignore_errors=True)  # leave nothing behind in /tmp
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small synthetic dataset (generated once per test session)."""
    from helpers.model import data, synthetic

    root = tmp_path_factory.mktemp("tiny_data")
    cfg = synthetic.SynthConfig(n_train=12, n_val=6, seed=3)
    return data.check_dataset(synthetic.generate_synthetic(root, cfg, progress=False))


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory):
    """A randomly initialised YOLOv8n-ReLU DetectionModel with 3 classes (no training, no download)."""
    from helpers.runfolder import offline

    run = tmp_path_factory.mktemp("untrained_run")
    offline.configure_ultralytics(run)
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from helpers.model.activations import write_model_yaml

    torch.manual_seed(0)
    yaml_path = write_model_yaml(run, "relu", "n", nc=3)
    model = DetectionModel(str(yaml_path), nc=3, verbose=False).eval()
    # random init leaves the class logits near -10 (bias prior): lift them so scores spread over 0..1
    for seq in model.model[-1].cv3:
        seq[-1].bias.data.normal_(0, 2)
    return model


SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A throw-away sshd: high port on 127.0.0.1, fresh host and client keys, temp folders."""
    if os.geteuid() != 0:
        pytest.skip("the SSH tests start sshd as root (scripts/setup.sh installs openssh-server when root)")
    assert Path(SSHD).is_file(), "openssh-server is missing: scripts/setup.sh installs it (apt)"
    d = tmp_path_factory.mktemp("sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation folder
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"sshd did not start: {proc.stderr.read().decode()}")
    remote_home = d / "remote"
    remote_home.mkdir()
    yield {"port": port, "key": str(d / "client_key"), "remote": str(remote_home), "dir": d}
    proc.terminate()
    proc.wait(10)


# the toolkit, experiment and widget tests: a small untrained model exported to ONNX (96 px), a calibration
# set, inputs (helpers imported inside: a session that needs none of them imports nothing)
TOOLKIT_IMGSZ = 96


@pytest.fixture(scope="session")
def onnx9(untrained_model, tmp_path_factory):
    from helpers.model import export, heads

    d = tmp_path_factory.mktemp("rknn_unit")
    return export.export_onnx(heads.patch_for_npu(untrained_model, fuse=True), d / "npu9.onnx", TOOLKIT_IMGSZ)


@pytest.fixture(scope="session")
def calib(tiny_dataset, tmp_path_factory):
    from helpers.toolkit import calibration

    return calibration.write_calibration_set(tiny_dataset, tmp_path_factory.mktemp("calib"), count=6, imgsz=TOOLKIT_IMGSZ)


@pytest.fixture(scope="session")
def inputs(calib):
    from helpers.board.preprocess import load_image, to_nhwc_uint8

    return np.concatenate([to_nhwc_uint8(load_image(f)) for f in calib.files[:2]])
