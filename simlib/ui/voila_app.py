"""The explorer served as an app with Voilà: the server-side hook the repository's ``voila.py``
configures (it runs in the Voilà server, before each page's kernel starts).

:func:`prelaunch` does two things for each page:

* It sets the page's ``_xsrf`` cookie. Voilà shuts a page's kernel down when the page closes,
  with a ``POST /voila/api/shutdown/<kernel>`` beacon that carries the ``_xsrf`` cookie's value
  as a form field; Voilà's page never sets that cookie, so the server refused every beacon with
  403 ("'_xsrf' argument missing from POST", Voilà issue 1458) and the kernels of
  closed pages lived on. Reading ``handler.xsrf_token`` makes tornado set the cookie with the
  page, and the beacon then passes the server's XSRF check (which stays on).
* It drops the cells tagged :data:`LAB_ONLY` (the notebook's JupyterLab instructions and the
  "from code" cells): the app shows the explorer, not prose about running cells.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LAB_ONLY", "prelaunch"]

#: The cell tag of what only makes sense in JupyterLab (prose about cells, code examples).
LAB_ONLY = "lab-only"


def prelaunch(handler: Any, notebook: Any, cwd: str) -> Any:
    """Voilà's ``VoilaConfiguration.prelaunch_hook``: set the ``_xsrf`` cookie the page's kernel
    shutdown needs, and return ``notebook`` without its :data:`LAB_ONLY` cells."""
    handler.xsrf_token  # noqa: B018 - reading it sets the cookie (tornado sets it on first use)
    notebook.cells = [cell for cell in notebook.cells if LAB_ONLY not in cell.get("metadata", {}).get("tags", [])]
    return notebook
