"""The locustfile of ``simlib load``: one user class, :class:`simlib.locust.WebhookUser`,
configured by the ``--simlib-*`` arguments or ``SIMLIB_LOAD_*`` environment variables.

    locust -f "$(python -m simlib load --print-locustfile)" --headless -u 50 -r 10 -t 1m \\
        --simlib-webhook wh_k3x9p2
"""

from simlib.locust import WebhookUser

__all__ = ["WebhookUser"]
