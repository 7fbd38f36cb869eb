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


def _applies(pin: str) -> bool:
    from packaging.requirements import Requirement

    m = Requirement(pin).marker
    return m is None or m.evaluate()


def test_every_requirement_is_an_exact_pin():
    for pin in _pins_from_requirements():
        assert re.fullmatch(r'[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9.+]*(; python_version (>=|==|<) "3\.[0-9]+")?', pin), \
            f"not an exact pin (with at most a python_version marker): {pin}"


def test_pins_that_differ_by_python_cover_each_supported_python_once():
    """A package pinned per Python: exactly one pin applies on each of 3.9 .. 3.12, and 3.11 (the reference) has one."""
    from packaging.requirements import Requirement

    by_name = {}
    for pin in _pins_from_requirements():
        r = Requirement(pin)
        by_name.setdefault(r.name, []).append(r)
    for name, reqs in by_name.items():
        for minor in (9, 10, 11, 12):
            env = {"python_version": f"3.{minor}", "python_full_version": f"3.{minor}.0"}
            n = sum(1 for r in reqs if r.marker is None or r.marker.evaluate(env))
            assert n == 1, f"{name}: {n} pins apply on Python 3.{minor}"


def test_installed_versions_match_the_pins():
    wrong = []
    for pin in filter(_applies, _pins_from_requirements()):
        name, version = pin.split(";")[0].strip().split("==")
        got = metadata.version(name)
        if got.split("+")[0] != version:
            wrong.append(f"{name}: pinned {version}, installed {got}")
    assert not wrong, "re-run scripts/setup.sh: " + "; ".join(wrong)
