"""Each notebook shows a mechanism by hand before the helper that wraps it (the README's promise)."""
import json
from pathlib import Path

import pytest

NB = Path(__file__).parents[2] / "notebooks"

#: notebook -> (a line of the by-hand cell, the helper call that does the same for every model)
FIRST = {
    "02_patch_heads": ("logits = box.reshape(4, 16", "parity.head_patch_parity("),
    "03_export_onnx": ("torch.onnx.export(", "export.export_variant("),
    "04_convert_rknn": ("rknn.build(", "routes.channel_order_check("),
    "05_quantize_int8": ("rknn.build(do_quantization=True", "builds.sweep("),
    "06_analyze_accuracy": ("rknn.accuracy_analysis(", "comparisons.layer_analyses("),
    "07_deploy_board": ("def in_order(", '"--cores", str(CORES)'),
    "07_deploy_board#tiles": ("list(range(0, W - tile, step))", "pictures.tile_merge_picture("),
    "09_compare_paths": ('YOLO(one_liner_weights).export(format="rknn"', "ultralytics_rknn.ultralytics_exports("),
}


def _first_cell_with(cells, text):
    return next(i for i, c in enumerate(cells) if c["cell_type"] == "code" and text in "".join(c["source"]))


@pytest.mark.parametrize("name", sorted(FIRST))
def test_the_hand_version_comes_before_its_helper(name):
    cells = json.loads((NB / f"{name.split('#')[0]}.ipynb").read_text())["cells"]
    by_hand, helper = FIRST[name]
    assert _first_cell_with(cells, by_hand) < _first_cell_with(cells, helper), name


@pytest.mark.parametrize("path", sorted(NB.glob("0[1-9]_*.ipynb")), ids=lambda p: p.stem)
def test_questions_ask_why_and_an_experiment_names_real_parameters(path):
    import re

    cells = json.loads(path.read_text())["cells"]
    (questions,) = [("".join(c["source"])) for c in cells if "".join(c["source"]).startswith("**Questions.**")]
    assert questions.count("Why") + questions.count("why") >= 2, path.stem
    own = questions.split("**On your own.**", 1)[1]
    params = "".join(next(c["source"] for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])))
    named = re.findall(r"`([A-Z][A-Z_0-9]+) = ", own)
    assert named and all(re.search(rf"^{n}: ", params, re.M) for n in named), (path.stem, named)
