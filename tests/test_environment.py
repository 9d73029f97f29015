"""environment.yml (conda) and pyproject.toml (pip) ask for the same packages and versions, and
constraints.txt pins every one of them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PYPI = {"pytorch": "torch"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["test"]
    return dict(_split(r) for r in reqs)


def conda_requirements() -> tuple[dict[str, str], str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out, python = {}, ""
    for dep in env["dependencies"]:
        if not isinstance(dep, str) or dep == "pip":
            continue
        name, spec = _split(dep)
        spec = re.sub(r"^=(?!=)", "==", spec)          # conda's "=x.y" is pip's "==x.y"
        if name == "python":
            python = spec
            continue
        out[CONDA_TO_PYPI.get(name, name)] = spec
    return out, python


def test_conda_and_pip_ask_for_the_same_packages():
    conda, _ = conda_requirements()
    assert conda == pyproject_requirements()


def test_python_versions_agree():
    _, python = conda_requirements()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and python == "==3.11"


def test_constraints_pin_every_requirement_within_its_range():
    from packaging.specifiers import SpecifierSet

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    for name, spec in pyproject_requirements().items():
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert pins[name] in SpecifierSet(spec), f"{name}=={pins[name]} is outside {spec}"
