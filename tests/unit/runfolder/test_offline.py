"""The training path runs with the network blocked, and nothing even tries to connect."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_training_path_makes_no_network_attempt(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = tmp_path / "run"
    code = textwrap.dedent(f"""
        import json, sys
        attempts = []
        NET = {{"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                "socket.sendto", "urllib.Request", "http.client.connect"}}

        def hook(event, args):
            if event in NET:
                if event == "socket.connect" and isinstance(args[1], (str, bytes)):
                    return  # AF_UNIX: local IPC, not the network
                attempts.append([event, repr(args)[:200]])
                raise OSError(f"network blocked by the test: {{event}}")

        sys.addaudithook(hook)
        from helpers.model import data, synthetic, train
        cfg = synthetic.SynthConfig(n_train=8, n_val=4, seed=2)
        info = data.prepare_dataset("", {str(run)!r}, cfg, progress=False)
        rec = train.train_variant({str(run)!r}, info.yaml_path, "relu", epochs=1, imgsz=64, batch=4)
        print("RESULT " + json.dumps({{"attempts": attempts, "census": rec["activation_census"],
                                      "weights": rec["weights"], "log": rec["log_file"]}}))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "XDG_"))}
    env["HOME"] = str(home)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(next(l for l in r.stdout.splitlines() if l.startswith("RESULT "))[7:])
    assert result["attempts"] == [], result["attempts"]
    assert result["census"] == {"SiLU": 0, "ReLU": 57}
    assert Path(result["weights"]).is_file()
    # quiet: one line to say where the log goes, one per epoch; ultralytics' own output is in the log file
    shown = [ln for ln in r.stdout.splitlines() if ln.startswith("relu")]
    assert len(shown) == 3, shown
    assert shown[0].startswith("relu: training;") and shown[1].startswith("relu    1/1  loss box")
    assert "mAP50-95" in shown[1] and shown[2].startswith("relu  best.pt, final validation: mAP50")
    log = Path(result["log"]).read_text()
    assert "mAP50-95" in log and len(log.splitlines()) > 10 and "Epoch" in log and "relu    1/1  loss box" in log
    # ultralytics' first-import banner and its nc notice are left out; nothing else is
    assert "Creating new Ultralytics Settings" not in r.stdout + log and "Overriding model.yaml" not in r.stdout + log
    # ultralytics' settings, font and caches stayed in the run folder, not in the user's home
    # (matplotlib's own font cache in ~/.cache is not ultralytics')
    leaked = [p for p in home.rglob("*") if "ultralytics" in str(p).lower()]
    assert not leaked, leaked
    settings = json.loads((run / "ultralytics" / "Ultralytics" / "settings.json").read_text())
    assert settings["sync"] is False and settings["datasets_dir"].startswith(str(run))
    assert (run / "ultralytics" / "Ultralytics" / "Arial.ttf").is_file()


def test_importing_ultralytics_through_helpers_makes_no_network_attempt(tmp_path):
    """04 and 06 used to import ultralytics (through helpers.model.heads) before any offline setting: 4 DNS look-ups."""
    code = textwrap.dedent("""
        import sys
        attempts = []

        def hook(event, args):
            if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.connect"):
                if event == "socket.connect" and isinstance(args[1], (str, bytes)):
                    return
                attempts.append(event)
                raise OSError("blocked")

        sys.addaudithook(hook)
        from helpers.model import heads, metrics
        from helpers.experiments import routes  # each imports ultralytics (or torch) on the way
        import ultralytics.utils
        print("RESULT", attempts, ultralytics.utils.ONLINE)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "XDG_"))}
    env["HOME"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RESULT [] False" in r.stdout, r.stdout
    assert not [p for p in tmp_path.rglob("*") if "ultralytics" in str(p).lower()]  # nothing in the home


def test_a_long_run_shows_about_ten_epoch_lines():
    from helpers.model.training_log import shown

    on_screen = [e for e in range(1, 76) if shown(e, 75)]
    assert on_screen[0] == 1 and on_screen[-1] == 75 and 9 <= len(on_screen) <= 12, on_screen
    assert [e for e in range(1, 4) if shown(e, 3)] == [1, 2, 3]  # a short run shows every epoch
