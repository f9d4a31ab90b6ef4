"""Test-wide setup shared by tests/ and the nbval run over notebooks/.

Every test run gets a throwaway SIMLIB_HOME so nothing touches the user's real store, and each
notebook's kernel starts with a fresh one of its own (kernels inherit the environment), so the
notebooks' compared outputs do not depend on what ran before them.
"""

from __future__ import annotations

import os
import tempfile

import pytest

_SESSION_HOME = tempfile.mkdtemp(prefix="simlib-test-home-")
os.environ["SIMLIB_HOME"] = _SESSION_HOME
os.environ.pop("HTTP_PROXY", None)
os.environ.pop("HTTPS_PROXY", None)

_current_notebook: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the first cell of each notebook (when nbval starts its kernel): a fresh store."""
    path = str(getattr(item, "fspath", ""))
    if path.endswith(".ipynb") and (not _current_notebook or _current_notebook[-1] != path):
        _current_notebook.append(path)
        os.environ["SIMLIB_HOME"] = tempfile.mkdtemp(prefix="simlib-nb-home-")
    elif not path.endswith(".ipynb"):
        os.environ["SIMLIB_HOME"] = _SESSION_HOME
