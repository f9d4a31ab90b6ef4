"""Public home of the signing functions (``simlib.signing``); they live in :mod:`simlib.core.signing`."""

from simlib.core.signing import *  # noqa: F403 - this module is the public name of core.signing
from simlib.core.signing import __all__ as __all__
