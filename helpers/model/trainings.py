"""What notebooks 01 and 08 train, and how: both activations side by side on a CPU's cores, the transplant
measured against the scratch run, the keypoint models; checkpoints brought instead of training.

One run (:func:`.train.train_variant`) keeps a 2-core CPU less than fully busy: its data loading and augmentation
run on one thread between the steps. Two independent runs side by side, each with its share of the cores, keep
every core busy, so :func:`train_side_by_side` trains them together: the first in this process, each other one in
a child process (``python -m helpers.model.trainings SPEC.json``). The run records say what each measured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .train import CURVES, pick_device, read_results_csv, train_loss, train_variant

#: lines of a failed child's output its error shows
CHILD_LOG_TAIL = 30


def _start_child(run_dir, job: dict, share: int, names: list, tail: list):
    """One run of :func:`train_side_by_side` in a child process; its lines relayed to this process's screen as
    they come (the last :data:`CHILD_LOG_TAIL` kept in ``tail``). Returns (process, relay thread, spec file)."""
    import subprocess
    import sys
    import tempfile
    import threading

    screen = sys.stdout  # the children's lines go here, not where the run trained here sends its own output
    spec = {"run_dir": str(run_dir), **job, "cpu_threads": share, "beside": names}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f, default=str)  # paths as text
    proc = subprocess.Popen([sys.executable, "-m", "helpers.model.trainings", f.name], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, cwd=str(Path(__file__).resolve().parents[2]))

    def relay():
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            del tail[:-CHILD_LOG_TAIL]
            print(line, end="", file=screen, flush=True)

    t = threading.Thread(target=relay, daemon=True)
    t.start()
    return proc, t, f.name


def train_side_by_side(run_dir, jobs: list[dict]) -> list[dict]:
    """Train independent runs at the same time, each on its share of the CPU cores; return their records in order.

    ``jobs``: keyword arguments of :func:`.train.train_variant` (``data_yaml`` and ``variant`` included), plain
    values only. On a CPU with two or more cores and two or more runs to train (a run that can be reused is not
    trained), each gets ``cores // runs`` torch threads, the first in this process and the others in child
    processes. On a GPU, on one core, or with one run to train, the runs go one after the other, each on every
    core. A failed child raises with the last lines of its output (its full log is its ``<name>.train.log``).
    """
    cores = len(os.sched_getaffinity(0))
    on_cpu = [pick_device(j.get("device", "auto")) == "cpu" for j in jobs]
    pending = [i for i, j in enumerate(jobs) if not on_cpu[i] or train_variant(run_dir, **j, reuse_only=True) is None]
    if len(pending) < 2 or cores < 2 or not all(on_cpu[i] for i in pending):
        return [train_variant(run_dir, **j) for j in jobs]
    share = max(1, cores // len(pending))
    names = [jobs[i].get("name") or jobs[i]["variant"] for i in pending]
    children, tails = [], {name: [] for name in names}
    try:
        for i, name in zip(pending[1:], names[1:]):
            children.append((i, name, *_start_child(run_dir, jobs[i], share, names, tails[name])))
        print(f"training {', '.join(names)} side by side, {share} of {cores} cores each", flush=True)
        records = {pending[0]: train_variant(run_dir, **jobs[pending[0]], cpu_threads=share, beside=names)}
        for i, name, proc, relay, _ in children:
            code = proc.wait()
            relay.join()
            if code != 0:
                raise RuntimeError(f"training {name!r} (a child process beside {names[0]!r}) failed with exit code "
                                   f"{code}; its output ends:\n" + "\n".join(tails[name]))
            records[i] = train_variant(run_dir, **{**jobs[i], "force": False}, reuse_only=True)
            if records[i] is None:
                raise RuntimeError(f"training {name!r} ended without a record to reuse; its output ends:\n"
                                   + "\n".join(tails[name]))
            records[i]["reused"] = False  # trained just now, by the child
    finally:
        for _, _, proc, _, spec_file in children:
            if proc.poll() is None:  # an error or an interrupt here: the children go too
                proc.terminate()
                proc.wait()
            Path(spec_file).unlink(missing_ok=True)
    return [records[i] if i in records else train_variant(run_dir, **j) for i, j in enumerate(jobs)]


def transplant_comparison(scratch: dict, transplanted: dict, metric: str = "mAP50") -> dict:
    """What starting from another model's weights bought: losses early on, mAP at equal epochs and at the end,
    and how many epochs the transplanted run needed to reach the scratch run's final mAP50.

    Both arguments are :func:`train_variant` records. The scratch run usually trains longer: its
    figure "at equal epochs" is read from its curve mid-schedule (learning rate still high, mosaic
    still on), which is said in the conclusion. ``metric`` is the mAP followed (``pose_mAP50`` for
    keypoint models: OKS).
    """
    col = CURVES[metric]
    rows = {k: read_results_csv(Path(r["ultralytics_run"]) / "results.csv") for k, r in
            (("scratch", scratch), ("transplanted", transplanted))}
    n = min(len(rows["scratch"]), len(rows["transplanted"]))
    loss = {k: [round(train_loss(r), 4) for r in v] for k, v in rows.items()}
    reach = next((i + 1 for i, r in enumerate(rows["transplanted"]) if r.get(col, 0) >= scratch[metric]), None)
    final_keys = ("mAP50", "mAP50_95") + (("pose_mAP50", "pose_mAP50_95") if metric.startswith("pose") else ())
    out = {"epochs": {k: len(v) for k, v in rows.items()}, "metric": metric,
           "loss_first_epochs": {k: v[:5] for k, v in loss.items()},
           "mAP50_at_equal_epochs": {k: rows[k][n - 1].get(col) for k in rows} if n else {},
           "final": {k: {m: round(r[m], 4) for m in final_keys}
                     for k, r in (("scratch", scratch), ("transplanted", transplanted))},
           "epochs_to_reach_scratch_final_mAP50": reach,
           "transplant": transplanted.get("transplant"), "census": transplanted["activation_census"]}
    return out  # the sentence that reads it is the stage's: stages.s01_train.transplant_sentence


def train_models(run_dir, info, *, trained_weights: str = "", weights: str = "", silu_twin: bool = True,
                 **common) -> dict:
    """Notebook 01's models: brought checkpoints (``trained_weights``: no training, :func:`bring_all`), or the ReLU
    model (from scratch, or started from ``weights``) and, with ``silu_twin``, its SiLU twin. ``{variant: record}``."""
    if trained_weights:
        from .bring import bring_all

        return bring_all(run_dir, trained_weights, info, common.get("imgsz", 320))
    jobs = [dict(data_yaml=str(info.yaml_path), variant="relu", weights=weights or None, **common)]
    if silu_twin:  # the twin trains beside the ReLU model on a multi-core CPU (train_side_by_side)
        jobs.append(dict(data_yaml=str(info.yaml_path), variant="silu", **common))
    return {j["variant"]: rec for j, rec in zip(jobs, train_side_by_side(run_dir, jobs))}


def measure_transplant(run_dir, info, records: dict, transplant_epochs: int,
                       **common) -> tuple[dict, dict] | tuple[None, None]:
    """A ReLU run of ``transplant_epochs`` started from the SiLU twin's weights, compared with the scratch ReLU run.

    Returns (comparison, the transplanted run's record), or (None, None) when there is nothing to measure:
    ``transplant_epochs`` is 0, or 01 did not train both a scratch ReLU model and a SiLU twin (brought models, or
    the ReLU model itself started from ``WEIGHTS``).
    """
    if (not transplant_epochs or not {"relu", "silu"} <= set(records) or records["relu"].get("transplant")
            or any(r.get("brought") for r in records.values())):  # brought models: nothing was trained here
        return None, None
    short = {**common, "epochs": transplant_epochs,
             "close_mosaic": min(common.get("close_mosaic", 15), transplant_epochs // 3)}
    moved = train_variant(run_dir, info.yaml_path, "relu", weights=records["silu"]["weights"], name="relu_from_silu",
                          **short)
    return transplant_comparison(records["relu"], moved), moved


def silu_twin_of(run_dir) -> str | None:
    """The SiLU twin 01 trained in this run (the default transplant source of 08), or None."""
    from ..runfolder.artifacts import metrics_path

    p = metrics_path(run_dir, "01_train")
    if not p.is_file():
        return None
    silu = json.loads(p.read_text()).get("variants", {}).get("silu")
    return silu["weights"] if silu and Path(silu["weights"]).is_file() else None


def train_pose_models(run_dir, info, *, weights: str = "", model: str = "yolov8n-pose", trained_weights: str = "",
                      **common) -> dict:
    """Notebook 08's keypoint models: ReLU from scratch and, with a source (``weights``, else 01's SiLU twin),
    ReLU started from it, same epochs. Returns ``{"scratch": rec, "transplanted": rec | None, "comparison": ...,
    "main": the better start (the transplanted one when there is one)}``. ``trained_weights``: an already trained
    keypoint checkpoint used as it is instead (``"brought"``: its record; no training, no comparison)."""
    if trained_weights:
        from .bring import bring_trained

        brought = bring_trained(run_dir, trained_weights, info, common.get("imgsz", 320), stage="08_pose",
                                param="POSE_TRAINED_WEIGHTS")
        return {"scratch": None, "transplanted": None, "brought": brought, "source": None, "comparison": None,
                "main": brought}
    source = weights or silu_twin_of(run_dir)
    kw = dict(data_yaml=str(info.yaml_path), variant="relu", model=model, stage="08_pose", **common)
    jobs = [dict(name="pose_relu_scratch", **kw)] + ([dict(name="pose_relu_transplanted", weights=str(source), **kw)]
                                                     if source else [])
    scratch, moved = (train_side_by_side(run_dir, jobs) + [None])[:2]  # side by side on a multi-core CPU
    return {"scratch": scratch, "transplanted": moved, "brought": None, "source": source,
            "comparison": transplant_comparison(scratch, moved, metric="pose_mAP50") if moved else None,
            "main": moved or scratch}


if __name__ == "__main__":  # one run of train_side_by_side, in a child process: python -m helpers.model.trainings SPEC
    import sys

    train_variant(**json.loads(Path(sys.argv[1]).read_text()))
