"""Parameters are checked by their declared type before anything runs: by the runner and by each notebook."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.runfolder import params
from helpers import workbook

ROOT = Path(__file__).resolve().parents[3]


def test_every_parameter_has_one_type_across_notebooks():
    declared = workbook.declared_parameters(workbook.notebooks())
    assert {"RUN_DIR", "EPOCHS", "TARGETS", "TOOLKITS"} <= set(declared)
    assert declared["TARGETS"].type == "list" and declared["TARGETS"].item_type == "str"


def test_the_runner_reads_values_by_declared_type():
    got = workbook.parse_parameters([("EPOCHS", "5"), ("LR0", "1"), ("DATA_YAML", "2.5"), ("FIT_BOXES", "false"),
                                     ("TARGETS", '["rk3588"]')])
    assert got == {"EPOCHS": 5, "LR0": 1, "DATA_YAML": "2.5", "FIT_BOXES": False, "TARGETS": ["rk3588"]}
    assert isinstance(got["DATA_YAML"], str)


@pytest.mark.parametrize("raw, says", [
    (("TARGETS", "[rk3588]"), "-p TARGETS='[\"rk3588\"]'"),
    (("TARGETS", "rk3588"), "TARGETS is a list"),
    (("TARGETS", "[1]"), "list of str"),
    (("EPOCHS", "3.5"), "EPOCHS is an int"),
    (("FIT_BOXES", "1"), "FIT_BOXES is a bool"),
    (("EPOCH", "3"), "did you mean EPOCHS?"),
])
def test_the_runner_refuses_a_wrong_value_and_says_what_to_type(raw, says):
    with pytest.raises(params.ParameterError) as e:
        workbook.parse_parameters([raw])
    assert says in str(e.value)


def test_the_command_line_refuses_before_anything_runs(tmp_path):
    run = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "helpers.workbook", "run", "--run-dir", str(run),
                        "-p", "TARGETS=[rk3588]"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and "TARGETS is a list" in p.stderr and "Traceback" not in p.stderr
    assert not run.exists()
    with pytest.raises(params.ParameterError, match="EPOCHS is an int"):  # the Python API checks too
        workbook.run(run, only=["01"], parameters={"EPOCHS": "5"})
    assert not run.exists()


def test_a_notebook_checks_its_own_values_against_its_annotations():
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_cell('RUN_DIR: str = "runs/x"\nTARGETS: list = ["rk3588"]\nEPOCHS: int = 3')
    sh.run_cell('TARGETS = "[rk3588]"')  # what papermill injects for -p TARGETS [rk3588]
    with pytest.raises(params.ParameterError, match="TARGETS is a list"):
        params.check_namespace(sh.user_ns, where="04_convert")
    sh.run_cell('TARGETS = ["rk3588"]')
    params.check_namespace(sh.user_ns)


def test_papermill_users_are_stopped_in_the_first_cell(tmp_path):
    """Notebook 04 run by papermill with a string for its list: the first code cell stops, naming the fix."""
    import papermill as pm

    out = tmp_path / "04.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(ROOT / "notebooks" / "04_convert_rknn.ipynb"), str(out), kernel_name="python3",
                            parameters={"RUN_DIR": str(tmp_path / "run"), "TARGETS": "[rk3588]"},
                            cwd=str(ROOT / "notebooks"), progress_bar=False)
    assert e.value.ename == "ParameterError" and "TARGETS is a list" in e.value.evalue
    cells = json.loads(out.read_text())["cells"]
    failed = [c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and "open_stage" in "".join(failed[0]["source"])
