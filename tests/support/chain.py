"""Running one notebook of a chain test (papermill), with the checks every chain makes."""
import json
import os
from pathlib import Path

from helpers import workbook


def execute(number: str, run_dir: Path, params: dict) -> dict:
    """Run notebook ``number`` into ``run_dir`` with ``params``; no network attempt allowed; the executed notebook."""
    (nb,) = workbook.notebooks([number])
    workbook.execute(nb, run_dir, params)
    out = run_dir / "notebooks" / nb.name
    assert out.is_file()
    attempts = Path(os.environ["NETGUARD_LOG"]).read_text()
    assert attempts == "", f"{nb.name} (or a process it started) tried to reach the network:\n{attempts}"
    assert workbook.unexpected_errors(out) == []
    return json.loads(out.read_text())


def run_cells(number: str, params: dict, *marks: str) -> dict:
    """Notebook ``number``'s parameters cell with ``params`` applied (as papermill does), then each code cell that
    contains one of ``marks``, in notebook order, in this process: a section of a notebook run as its kernel would
    run it, on a run folder an earlier test filled. Returns the namespace."""
    (nb,) = workbook.notebooks([number])
    cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    (first,) = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    ns = {"__name__": f"notebook_{number}"}
    exec(compile("".join(first["source"]), f"{nb.name} parameters", "exec"), ns)
    ns.update(params)
    chosen = [c for c in cells if any(m in "".join(c["source"]) for m in marks)]
    assert len(chosen) == len(marks), f"{nb.name}: {len(chosen)} cells for {len(marks)} marks {marks}"
    for c in chosen:
        exec(compile("".join(c["source"]), f"{nb.name} cell", "exec"), ns)
    return ns
