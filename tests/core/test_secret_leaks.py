"""Secrets stay out of the notebooks' saved outputs and out of exception messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simlib import Simulator, ValidationError
from tests.helpers import APP

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
GENERATED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")  # token_urlsafe(32)


def _outputs(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = {k: v for k, v in out.get("data", {}).items() if not k.startswith("image/")}  # plots
            parts.append(json.dumps(data) + "".join(out.get("text", [])))
    return "\n".join(parts)


def _literal_secrets(nb: dict) -> set[str]:
    """String literals the notebook's code uses as secrets."""
    found = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        found |= set(re.findall(r"""(?:SECRET|secret)\s*=\s*["']([^"']{8,})["']""", src))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_secret_in_saved_outputs(path):
    nb = json.loads(path.read_text())
    text = _outputs(nb)
    for secret in _literal_secrets(nb):
        assert secret not in text, f"{path.name} shows a secret in its outputs"
    generated = [t for t in GENERATED.findall(text) if not re.fullmatch(r"[0-9a-f]+|[A-Za-z]+", t)]
    assert not generated, f"{path.name} outputs look like generated secrets: {generated[:3]}"


def test_exception_messages_never_carry_the_secret(tmp_path):
    sim = Simulator(tmp_path / "s.db")
    try:
        for bad in ("short7", " leading-space-secret", "trailing-space-secret ", "ctl\x01-secret-value"):
            with pytest.raises(ValidationError) as info:
                sim.create_webhook("x", "http://127.0.0.1:9/", [APP], secret=bad)
            assert bad.strip() not in str(info.value) and bad not in repr(info.value)
        wh = sim.create_webhook("x", "http://127.0.0.1:9/", [APP], secret="a-perfectly-good-secret")
        with pytest.raises(ValidationError) as info:
            sim.update_webhook(wh, secret="tiny")
        assert "tiny" not in str(info.value)
        assert "a-perfectly-good-secret" not in repr(sim) + repr(sim.store) + repr(wh) + str(wh)
    finally:
        sim.close()
