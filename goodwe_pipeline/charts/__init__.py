"""Pictures of the owner's data: PNG charts for Dagster metadata and the ``chart`` command.

Drawn with matplotlib's non-interactive Agg backend (no display, thread-safe per figure).
``render`` holds the one way a figure becomes bytes and an image in Dagster's metadata;
the modules beside it each draw one kind of chart from plain frames, with no Dagster import.
"""
