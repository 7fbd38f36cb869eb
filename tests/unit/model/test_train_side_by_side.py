"""trainings.train_side_by_side: two runs at once on a CPU, a share of the cores each; a rerun reuses both."""
import os

import pytest

from helpers.model import data, synthetic, trainings

CORES = len(os.sched_getaffinity(0))


@pytest.mark.skipif(CORES < 2, reason="side by side needs two cores")
def test_two_runs_train_side_by_side_then_are_reused(tmp_path, capsys):
    run = tmp_path / "run"
    info = data.prepare_dataset("", run, synthetic.SynthConfig(n_train=8, n_val=4, seed=3), progress=False)
    jobs = [dict(data_yaml=str(info.yaml_path), variant=v, epochs=1, imgsz=64, batch=4, cache=False)
            for v in ("relu", "silu")]
    relu, silu = trainings.train_side_by_side(run, jobs)
    shown = capsys.readouterr().out
    assert f"training relu, silu side by side, {CORES // 2} of {CORES} cores each" in shown
    assert "silu    1/1  loss box" in shown  # the child's epoch line, relayed
    for rec, act in ((relu, "ReLU"), (silu, "SiLU")):
        assert rec["beside"] == ["relu", "silu"] and rec["torch_threads"] == [CORES // 2], rec
        assert rec["activation_census"][act] == 57 and rec["reused"] is False
    # both records are found again: nothing trains, no child starts
    again = trainings.train_side_by_side(run, jobs)
    assert [r["reused"] for r in again] == [True, True] and [r["weights"] for r in again] == [relu["weights"],
                                                                                              silu["weights"]]
    assert "side by side" not in capsys.readouterr().out
