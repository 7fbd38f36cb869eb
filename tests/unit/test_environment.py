"""The pins live in requirements.txt; environment.yml must carry the same ones, and .venv must have them."""
import re
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pins_from_requirements():
    lines = [l.split("#")[0].strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    return [l for l in lines if l]


def _pins_from_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "environment.yml needs exactly one pip section"
    assert "python=3.11" in env["dependencies"]
    return pip[0]["pip"]


def test_environment_yml_pins_equal_requirements():
    assert _pins_from_environment() == _pins_from_requirements()


def test_every_requirement_is_an_exact_pin():
    for pin in _pins_from_requirements():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.+]*", pin), f"not an exact pin: {pin}"


def test_installed_versions_match_the_pins():
    wrong = []
    for pin in _pins_from_requirements():
        name, version = pin.split("==")
        got = metadata.version(name)
        if got.split("+")[0] != version:
            wrong.append(f"{name}: pinned {version}, installed {got}")
    assert not wrong, "re-run scripts/setup.sh: " + "; ".join(wrong)
