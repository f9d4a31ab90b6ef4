"""Toolkits built on the engine's public methods: receiver conformance, replay and import,
signature explanations, capture parsing and export, receiver snippets, history analysis.

Nothing in :mod:`simlib.core` imports these.
"""
