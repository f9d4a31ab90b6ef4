"""Project-level checks: packaging files agree, imports stay light. (The public API and the layer
rules, signing's standard-library-only imports included, are checked in test_architecture.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = _pyproject()["project"]
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert "pip" in deps
    python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert python == ["python" + project["requires-python"]]
    pip_lists = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1
    (editable,) = [p for p in pip_lists[0] if p.startswith("-e .")]
    extras = re.fullmatch(r"-e \.\[([a-z,]+)\]", editable).group(1).split(",")
    assert set(extras) <= set(project["optional-dependencies"])
    # No library pins of its own: pyproject.toml is the single source of truth.
    assert all(isinstance(d, dict) or d in ("pip",) or d.startswith("python") for d in deps)


def test_test_extra_has_what_nbval_needs():
    extra = " ".join(_pyproject()["project"]["optional-dependencies"]["test"])
    for name in ("pytest", "nbval", "ipykernel"):
        assert name in extra


def test_constraints_pin_every_direct_dependency():
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    project = _pyproject()["project"]
    direct = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        direct += extra
    for spec in direct:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "conda" not in ci and "mamba" not in ci
    addopts = _pyproject()["tool"]["pytest"]["ini_options"]["addopts"]
    assert "--nbval " in addopts + " " and "--nbval-lax" not in addopts
    assert "filter=nbstripout" not in (ROOT / ".gitattributes").read_text()


def test_import_is_light():
    code = (
        "import sys, simlib; "
        "heavy = [m for m in ('pandas', 'ipywidgets', 'simlib.receiver', 'asyncio', 'IPython', 'sqlalchemy', 'psycopg', "
        "'cryptography', 'importlib.metadata') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import simlib loaded {out}"
