"""Locustfiles: ``simlib_load.py`` is the one ``simlib load`` runs (``locust -f`` it for a
master and workers on several machines). Not imported by simlib: Locust imports it."""
