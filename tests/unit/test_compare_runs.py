"""scripts/compare_runs.py: the before/after check of a refactor."""

import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location("compare_runs", Path(__file__).parents[2] / "scripts" / "compare_runs.py")
compare_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_runs)


def run(root: Path, record: dict) -> Path:
    (root / "06_analyze").mkdir(parents=True)
    (root / "06_analyze" / "metrics.json").write_text(json.dumps(record))
    return root


def test_a_renamed_field_with_the_same_value_is_no_difference_and_a_changed_value_is(tmp_path, capsys):
    old = run(tmp_path / "a", {"silu_vs_relu": {"silu": {"share of class scores at 0.5": 0.25, "INT8 mAP50": 0.8}},
                               "seconds": 12})
    same = run(tmp_path / "b", {"silu_vs_relu": {"silu": {"cls_share_at_0_5": 0.25, "int8_mAP50": 0.8}}, "seconds": 99})
    moved = run(tmp_path / "c", {"silu_vs_relu": {"silu": {"cls_share_at_0_5": 0.5, "int8_mAP50": 0.8}}, "seconds": 1})
    assert compare_runs.main([str(old), str(same)]) == 0
    assert compare_runs.main([str(old), str(moved)]) == 1
    assert "06_analyze/silu_vs_relu/silu/cls_share_at_0_5: 0.25 vs 0.5" in capsys.readouterr().out
