"""scripts/disk_check.py: a command that would fill the disk says so before it starts, in one line."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("disk_check", REPO / "scripts" / "disk_check.py")
disk_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(disk_check)


def test_jobs_on_one_filesystem_add_up_and_a_shortfall_names_where_and_how_much(tmp_path):
    free = shutil.disk_usage(tmp_path).free / disk_check.GB
    assert disk_check.shortfalls([("a", tmp_path, free * 0.6, False)]) == []
    (tmp_path / "b").mkdir()
    lines = disk_check.shortfalls([("a", tmp_path, free * 0.6, False), ("b", tmp_path / "b" / "not yet", free * 0.6, False)])
    assert len(lines) == 1 and lines[0].startswith(f"not enough disk: {free * 1.2:.1f} GB needed (a ")
    assert f"b {free * 0.6:.1f} GB in {tmp_path / 'b' / 'not yet'}" in lines[0] and "larger disk" in lines[0]
    # two temporary needs never at once: the larger counts
    temps = [("pip", tmp_path, free * 0.4, True), ("tests", tmp_path, free * 0.5, True), ("a", tmp_path, free * 0.4, False)]
    assert disk_check.shortfalls(temps) == []
    lines = disk_check.shortfalls(temps + [("c", tmp_path, free * 0.2, False)])  # 0.4 + 0.2 + the larger 0.5
    assert len(lines) == 1 and lines[0].startswith(f"not enough disk: {free * 1.1:.1f} GB needed")
    assert f"tests {free * 0.5:.1f} GB for a while in {tmp_path}" in lines[0]


def test_what_is_there_needs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("RK_BOARD_CACHE", str(tmp_path / "boards"))
    for s in ("bullseye", "bookworm"):
        (tmp_path / "boards" / s / "usr").mkdir(parents=True)
    repo = tmp_path / "repo"  # a checkout whose .venv matches its pins, as setup.sh stamps it
    (repo / ".venv").mkdir(parents=True)
    (repo / "requirements.txt").write_text("numpy==1.26.4\n")
    (repo / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(disk_check, "REPO", repo)
    assert [w for w, *_ in disk_check.needs(["setup"])] == ["the environment (.venv)", "pip's temporary files"]
    stamp = subprocess.run("cat requirements.txt pyproject.toml | sha256sum", shell=True, cwd=repo,
                           capture_output=True, text=True).stdout.split()[0]
    (repo / ".venv" / ".setup-stamp").write_text(stamp + "\n")
    assert [w for w, *_ in disk_check.needs(["setup", "tests"])] == ["the tests' temporary folders (TMPDIR)"]
    (tmp_path / "boards" / "bookworm" / "usr").rmdir()
    assert "the emulated boards (RK_BOARD_CACHE)" in [w for w, *_ in disk_check.needs(["tests"])]


def test_the_command_line(tmp_path):
    run = [sys.executable, str(REPO / "scripts" / "disk_check.py")]
    bad = subprocess.run(run + ["setpu"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: disk_check.py setup|tests|main" in bad.stderr
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    assert subprocess.run(run + ["main"], capture_output=True, text=True, env=env).returncode == 0
