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
