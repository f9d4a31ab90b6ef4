"""Delivery: the address policy, the total deadline, and the HTTP senders.

- :mod:`.netpolicy`  which addresses may be contacted; resolve once, check every address
- :mod:`.deadline`   one watchdog thread that enforces a total deadline over every phase
- :mod:`.netstream`  the socket wrapper that lets the deadline interrupt a blocked read
- :mod:`.http`       ``DeliveryConfig``, ``Outcome`` and the httpx sender (single sends; bursts
                     with a proxy or ``trust_env``)
- :mod:`.fast`       the burst engine on aiohttp, with the same rules (loaded only by a burst)
- :mod:`.body`       the response body read within the cap and decoded safely
"""

from simlib.core.delivery.http import DeliveryConfig as DeliveryConfig
from simlib.core.delivery.http import Outcome as Outcome

__all__ = ["DeliveryConfig", "Outcome"]
