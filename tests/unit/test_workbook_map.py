"""The glossary and the 00 map stay in step with the notebooks."""
import json
import re
from pathlib import Path

import pytest

from helpers.runfolder import artifacts
from helpers import stages, workbook_map

ROOT = Path(__file__).resolve().parents[2]
NB_DIR = ROOT / "notebooks"
GLOSSARY = (NB_DIR / "GLOSSARY.md").read_text()
TERMS = [ln[3:].strip() for ln in GLOSSARY.splitlines() if ln.startswith("## ")]


def _anchor(term: str) -> str:  # how JupyterLab and GitHub turn a heading into an anchor
    return re.sub(r"[^a-z0-9 -]", "", term.lower()).replace(" ", "-")


def _notebook_text(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def test_every_glossary_term_is_used_by_a_notebook():
    text = "\n".join(_notebook_text(p) for p in sorted(NB_DIR.glob("*.ipynb"))).lower()
    assert len(TERMS) >= 15
    unused = [t for t in TERMS if not any(w.lower() in text for w in re.split(r" and | vs ", t))]
    assert not unused, f"glossary terms no notebook uses: {unused}"


@pytest.mark.parametrize("path", sorted(NB_DIR.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_links_the_glossary_and_its_anchors_resolve(path):
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert "(GLOSSARY.md)" in first, "the first cell links the glossary"
    anchors = {_anchor(t) for t in TERMS}
    for a in re.findall(r"GLOSSARY\.md#([a-z0-9-]+)", _notebook_text(path)):
        assert a in anchors, f"{path.name} links GLOSSARY.md#{a}, which is no glossary heading"


def test_the_map_lists_every_stage_with_its_inputs(tmp_path):
    rows = workbook_map.entries(tmp_path)
    assert [r["notebook"] for r in rows] == list(artifacts.STAGES.values())
    for r in rows:
        want = sorted({src for src, _ in stages.INPUTS[r["stage"]].values()})
        assert r["needs"] == [artifacts.STAGES[s] for s in want]
        assert r["title"].startswith(r["notebook"][:2] + " · ") and r["does"].endswith(".")
        assert r["headline"] is None and r["seconds"] is None
    assert "not run yet" in workbook_map.markdown(tmp_path) and "README" in workbook_map.markdown(tmp_path)


def test_the_map_shows_what_a_run_recorded(tmp_path):
    artifacts.update_metrics(tmp_path, "03_export", headline={"onnx_files": 6, "min_cosine": 0.99999})
    (tmp_path / "summary.json").write_text(json.dumps({"executed": [{"notebook": "03_export_onnx.ipynb",
                                                                     "seconds": 90.0}]}))
    md = workbook_map.markdown(tmp_path)
    row = next(ln for ln in md.splitlines() if "03_export_onnx" in ln)
    assert "1.5 min · onnx_files 6; min_cosine 0.99999" in row  # a cosine is not rounded to 1
    assert "Figures: the run in" in md
    # a stage shows its answer, not its bookkeeping: 05's shipped configuration and its INT8 mAP first
    artifacts.update_metrics(tmp_path, "05_quantize", headline={"configs_built": 8, "configs_failed": 0, "ship": "x",
                                                                "ship_mAP50_95": 0.7705, "resolution_mAP50_95": 0.0092})
    row = next(ln for ln in workbook_map.markdown(tmp_path).splitlines() if "05_quantize" in ln)
    assert row.endswith("| ship x; ship_mAP50_95 0.7705; resolution_mAP50_95 0.0092 |"), row


def test_00_runs_headless(tmp_path):
    import papermill as pm

    out = tmp_path / "00.ipynb"
    pm.execute_notebook(str(NB_DIR / "00_start_here.ipynb"), str(out), parameters={"RUN_DIR": str(tmp_path)},
                        kernel_name="python3", cwd=str(NB_DIR), progress_bar=False)
    cell = next(c for c in json.loads(out.read_text())["cells"] if "workbook_map.markdown" in "".join(c["source"]))
    shown = json.dumps(cell["outputs"])
    assert "09_compare_paths.ipynb" in shown and "not run yet" in shown
