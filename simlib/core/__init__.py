"""The stages of one simulation, in the order the bytes travel.

events -> validation -> payload -> signing -> delivery/ -> classify -> store/ -> burst -> engine

Each module imports only the ones before it (a test checks this), so the flow reads top to
bottom. Nothing here imports :mod:`simlib.toolkit`, :mod:`simlib.ui` or :mod:`simlib.cli`.
"""
