"""Public home of the address policy (``simlib.netpolicy``); it lives in :mod:`simlib.core.delivery.netpolicy`."""

from simlib.core.delivery.netpolicy import *  # noqa: F403 - this module is the public name of the policy
from simlib.core.delivery.netpolicy import __all__ as __all__
