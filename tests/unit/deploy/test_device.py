"""helpers.deploy.device against a real OpenSSH server on 127.0.0.1 and the real adb server (no device)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.deploy import device, on_board

from tests.conftest import free_port as _free_port

@pytest.fixture
def ssh(sshd):
    with device.SshDevice("127.0.0.1", sshd["port"], "root", key_file=sshd["key"], trust_new_host=True) as dev:
        yield dev


def test_ssh_push_shell_pull_roundtrip(ssh, sshd, tmp_path):
    src = tmp_path / "bundle"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(3000))
    (src / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(src / "run.sh", 0o755)
    remote = f"{sshd['remote']}/bundle"
    ssh.push(src, remote)
    assert ssh.shell(f"cd {remote} && ./run.sh")[1].strip() == "ran"
    back = ssh.pull(remote, tmp_path / "back")
    assert (back / "a.txt").read_text() == "alpha"
    assert (back / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    # pushing again replaces the folder as a whole; no temporary folder is left behind
    (src / "a.txt").write_text("beta")
    ssh.push(src, remote)
    assert ssh.shell(f"cat {remote}/a.txt")[1] == "beta"
    assert ssh.shell(f"ls {sshd['remote']}")[1].split() == ["bundle"]
    # a pull never overwrites an existing local path unless told to
    with pytest.raises(FileExistsError, match="back exists"):
        ssh.pull(remote, tmp_path / "back")
    assert (back / "a.txt").read_text() == "alpha"


def test_ssh_errors_are_clear(ssh, sshd, tmp_path):
    with pytest.raises(device.RemoteCommandFailed, match=r"exit 3.*oops"):
        ssh.shell("echo oops >&2; exit 3")
    with pytest.raises(device.DeviceError, match="nothing at /no/such/path"):
        ssh.pull("/no/such/path", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(device.DiskFull, match="free some space"):
        ssh.free_bytes = lambda path: 10  # a nearly full device
        ssh.push(Path(__file__), f"{sshd['remote']}/full")
    with pytest.raises(device.ConnectionFailed, match="cannot reach root@127.0.0.1"):
        device.SshDevice("127.0.0.1", _free_port(), "root", key_file=sshd["key"], timeout=3)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    with pytest.raises(device.AuthFailed, match="refused the login"):
        device.SshDevice("127.0.0.1", sshd["port"], "root", key_file=str(tmp_path / "stranger"), trust_new_host=True)
    with pytest.raises(device.ConnectionFailed, match="unknown host key"):
        device.SshDevice("127.0.0.1", sshd["port"], "root", key_file=sshd["key"])


def test_versions_parse_and_mismatch_names_files():
    text = ("soc: rockchip rk3588-evb1-lp4-v10 rockchip rk3588\n"
            "librknnrt: librknnrt version: 2.3.0 (c949ad889d@2024-11-07T11:35:33)\n"
            "rknn_server: rknn_server version: 2.5.0 (xx)\nnpu_driver: RKNPU driver: v0.9.8\n")
    v = device.parse_versions(text)
    assert v.as_dict() == {"soc": "rk3588", "librknnrt": "2.3.0", "rknn_server": "2.5.0", "npu_driver": "0.9.8"}
    with pytest.raises(device.VersionMismatch, match=r"/usr/lib/librknnrt.so is version 2.3.0.*push "
                       r"rknpu2/runtime/Linux/librknn_api/aarch64/librknnrt.so from the rknn-toolkit2 v2.5.0"):
        device.check_versions(v, "2.5.0", "rk3588")
    device.check_versions(device.BoardVersions("rk3588", "2.5.0", "2.5.0", "0.9.8"), "2.5.0", "rk3588",
                          need_server=True)
    with pytest.raises(device.VersionMismatch, match="the board is an rk3566"):
        device.check_versions(device.BoardVersions("rk3566", "2.5.0"), "2.5.0", "rk3588")
    assert device.parse_versions("soc: \nlibrknnrt: \n").librknnrt is None


def test_ssh_versions_on_a_machine_without_npu(ssh):
    v = ssh.versions()
    assert v.librknnrt is None and v.rknn_server is None
    with pytest.raises(device.VersionMismatch, match="/usr/lib/librknnrt.so is missing"):
        device.check_versions(v, "2.5.0")


def test_adb_no_device_with_the_real_adb_server():
    adb = shutil.which("adb")
    if os.geteuid() == 0:
        assert adb, "adb is missing: scripts/setup.sh installs it (apt)"
    elif not adb:
        pytest.skip("adb not installed")
    port = _free_port()
    env = {**os.environ, "ANDROID_ADB_SERVER_PORT": str(port), "HOME": os.environ.get("HOME", "/tmp")}
    subprocess.run([adb, "-P", str(port), "start-server"], check=True, env=env, capture_output=True, timeout=60)
    try:
        assert device.AdbDevice.list_serials(port=port) == []
        with pytest.raises(device.NoDevice, match="no adb device found: connect the board"):
            device.AdbDevice(port=port)
    finally:
        subprocess.run([adb, "-P", str(port), "kill-server"], env=env, capture_output=True, timeout=60)
    with pytest.raises(device.ConnectionFailed, match="no adb server at 127.0.0.1"):
        device.AdbDevice(port=port)


def test_parse_ssh_address():
    assert on_board.parse_ssh_address("radxa@rock5b.local:2222") == ("radxa", "rock5b.local", 2222)
    assert on_board.parse_ssh_address("192.168.1.50") == ("root", "192.168.1.50", 22)
    for bad in ("root@", "a@b@c", "host:port", "root@host:70000", "two words"):
        with pytest.raises(ValueError, match="is not user@host"):
            on_board.parse_ssh_address(bad)


def test_run_on_board_checks_the_runtime_before_pushing(ssh, sshd, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"model": "model.rknn", "imgsz": 320, "toolkit_version": "2.5.0", "target": "rk3588"}')
    assert on_board.run_on_board(bundle, tmp_path / "out") == {"connected": False}
    remote = f"{sshd['remote']}/never_pushed"
    with pytest.raises(device.VersionMismatch, match="/usr/lib/librknnrt.so is missing.*2.5.0"):
        on_board.run_on_board(bundle, tmp_path / "out", ssh=f"root@127.0.0.1:{sshd['port']}", key_file=sshd["key"],
                            remote_dir=remote, trust_new_host=True)
    assert ssh.shell(f"test -e {remote}", check=False)[0] != 0 and not (tmp_path / "out").exists()


def test_the_runner_on_a_board_refuses_a_model_built_for_another_soc(ssh, sshd, tmp_path):
    """The bundle runs over SSH on a "board" whose device tree names an RK3566; its model targets the RK3588."""
    import json
    import sys

    import cv2
    import numpy as np

    from helpers.deploy import bundles

    bundle = tmp_path / "bundle"
    shutil.copytree(bundles.BOARD_DIR, bundle / bundles.BUNDLE_PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "run.py").write_text(bundles.RUN_PY)
    (bundle / "config.json").write_text(json.dumps({"model": "model.rknn", "imgsz": 64, "target": "rk3588"}))
    (bundle / "samples").mkdir()
    cv2.imwrite(str(bundle / "samples" / "a.png"), np.zeros((64, 64, 3), np.uint8))
    compatible = tmp_path / "compatible"
    compatible.write_bytes(b"radxa,rock-3c\0rockchip,rk3566\0")
    with pytest.raises(device.RemoteCommandFailed, match=r"this board is an rk3566 .* built for rk3588: rebuild"):
        on_board.run_remote(ssh, bundle, f"{sshd['remote']}/soc", "samples", tmp_path / "out", sys.executable,
                                 ("--backend", "rknnlite"), env={"RKDEPLOY_COMPATIBLE": compatible})
    assert device.parse_versions("soc: rockchip rv1106 \nlibrknnrt: \n").soc == "rv1106"
