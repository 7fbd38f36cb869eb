"""Committed notebooks: no outputs, one literal parameters cell, kernel python3, NN_verb_object names."""
import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS][:3] == ["00", "01", "02"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    assert re.fullmatch(r"\d\d_[a-z]+(_[a-z0-9]+)+\.ipynb", path.name), "name must be NN_verb_object.ipynb"
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or
                                                                                  c.get("execution_count"))]
    assert not dirty, f"cells {dirty} carry outputs: strip them (nbstripout) before committing"
    assert nb["cells"][0]["cell_type"] == "markdown", "open with what you'll do, learn and need"
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for node in ast.parse("".join(params[0]["source"])).body:
        # NAME: type = literal  (the annotation feeds `papermill --help-notebook`)
        assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name), ast.dump(node)
        name = node.target.id
        assert name.isupper(), f"parameter {name} should be UPPER_CASE"
        value = ast.literal_eval(node.value)  # literal values only
        assert type(value).__name__ == node.annotation.id, f"{name}: {value!r} is not {node.annotation.id}"
    assert "RUN_DIR" in "".join(params[0]["source"])


def test_papermill_reads_every_parameter():
    import papermill

    from helpers.workbook import notebook_parameters

    for path in NOTEBOOKS:  # what `papermill --help-notebook` shows
        inferred = papermill.inspect_notebook(str(path))
        assert set(inferred) == set(notebook_parameters(path)), path.name
        assert all(p["inferred_type_name"] != "None" for p in inferred.values()), inferred


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_long_notebooks_open_with_their_contents(path):
    """More than five sections: the first cell lists them, in order (a stale list is worse than none)."""
    nb = json.loads(path.read_text())
    heads = [ln[3:].split(" · ", 1)[-1] for c in nb["cells"] if c["cell_type"] == "markdown"
             for ln in "".join(c["source"]).splitlines() if ln.startswith("## ")]
    first = "".join(nb["cells"][0]["source"])
    if len(heads) <= 5:
        assert "**Contents.**" not in first
        return
    listed = first.split("**Contents.**", 1)[1].strip().splitlines()
    assert listed == [f"{k + 1}. {h}" for k, h in enumerate(heads)]


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00_")], ids=lambda p: p.name)
def test_every_notebook_ends_with_computed_conclusions(path):
    """The last code cell is one call: the stage's conclusions, checks and headline (helpers.stages.close).
    (00, the map, is no stage and records nothing.)"""
    code = [("".join(c["source"])) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    stage = next(s for s, nb in __import__("helpers.runfolder.artifacts", fromlist=["STAGES"]).STAGES.items() if nb == path.name)
    assert f'stages.close(RUN_DIR, "{stage}", record)' in code[-1], path.name


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00_")], ids=lambda p: p.name)
def test_every_notebook_has_a_try_this_box_and_questions(path):
    """The reader's own experiment (a Try this box with its measured figure) and three to five questions."""
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert any("try_this.show(" in c for c in code), "no Try this box"
    assert any("try_this=" in c for c in code[-1:]), "the closing cell records the box's figures (try_this=...)"
    q = [c for c in cells if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("**Questions.**")]
    assert len(q) == 1, "one Questions cell"
    items = [ln for ln in "".join(q[0]["source"]).splitlines() if ln[:2].rstrip(".").isdigit()]
    assert 3 <= len(items) <= 5, items


#: every module of the package by its name (``viz``, ``bundles``, ``runtimes``, ...): what a notebook calls into
HELPER_NAMES = {p.stem if p.stem != "__init__" else p.parent.name
                for p in (Path(__file__).resolve().parents[2] / "helpers").rglob("*.py")} - {"helpers", "__main__"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_helper_module_a_notebook_calls_is_imported(path):
    """``viz.captioned(...)`` needs ``viz`` imported in that notebook: after a module moves, a notebook that kept
    calling it by its old name fails here, in seconds, instead of halfway through a chain run."""
    imported, used = set(), {}
    for i, c in enumerate(json.loads(path.read_text())["cells"]):
        src = "".join(c["source"])
        if c["cell_type"] != "code" or src.lstrip().startswith("%%"):  # a %%toolkit cell runs in its own process
            continue
        tree = ast.parse("\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.Assign, ast.For, ast.With)):  # a local of the same name is not a module
                imported |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in HELPER_NAMES):
                used.setdefault(node.value.id, i)
    missing = {name: f"cell {i}" for name, i in used.items() if name not in imported}
    assert not missing, f"{path.name} calls these helpers modules without importing them: {missing}"
