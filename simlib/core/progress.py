"""Progress of a long job (an export, a burst): nothing, a tqdm bar, or a callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Progress", "Update", "progress_hook"]

#: ``progress``: False (nothing), True (a tqdm bar: a widget in Jupyter, text in a terminal), or
#: a function called as ``progress(done, in_all)`` as the job moves on.
Progress = bool | Callable[[int, int], None] | None


class Update(Protocol):
    """``update(just_done, close=False)``: what :func:`progress_hook` gives."""

    def __call__(self, k: int, close: bool = False) -> None: ...


def progress_hook(progress: Progress, total: int, *, desc: str = "rows", unit: str = "row") -> Update:
    """``update(just_done, close)`` driving ``progress``: the callback hears the running count
    (and, once at the end, a job that did nothing), the bar moves and is closed at the end."""
    if callable(progress):
        done = [0]
        report = progress

        def call(k: int, close: bool = False) -> None:
            done[0] += k
            if k or (close and not done[0]):
                report(done[0], total)

        return call
    if not progress:
        return _quiet
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, leave=True)

    def update(k: int, close: bool = False) -> None:
        if k:
            bar.update(k)
        if close:
            bar.close()

    return update


def _quiet(k: int, close: bool = False) -> None:
    """No progress to show."""
