"""The Dagster code location: everything under ``defs/``."""

import functools
import gc
import logging
import os
from pathlib import Path

import dagster as dg

from goodwe_pipeline.common.gc_pause import cyclic_gc_paused


class _LocationNameNotice(logging.Filter):
    """Drop Dagster's notice that ``-m goodwe_pipeline.definitions`` names the location after
    the module rather than ``code_location_name`` from pyproject.toml.

    The project names its location explicitly (``goodwe_pipeline``, as ``dagster dev`` and the
    compose stack register it); the documented CLI form ``dagster asset materialize -m
    goodwe_pipeline.definitions`` registers it under the module name instead, and Dagster then
    repeats the notice on every component lookup (about 80 lines per command). It changes
    nothing for this project, which has no app-managed components.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "configured on this project does not match the name" not in record.getMessage()


logging.getLogger("dagster.components.core.component_tree").addFilter(_LocationNameNotice())


@functools.cache
def _load(settings: tuple[tuple[str, str], ...]) -> dg.Definitions:
    """The definitions for these ``GOODWE_*`` settings (resources read them when loaded)."""
    with cyclic_gc_paused():
        definitions = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        _freeze_startup_objects()
    return definitions


@functools.cache
def _freeze_startup_objects() -> None:
    """Leave the objects loaded with the code location (Dagster's, pandas', the definitions),
    which live as long as the process, out of the cyclic garbage collector's passes (once per
    process). Each full pass otherwise walks them all again: in a terminal backfill of the
    migration that was about 1 s of 12 (4 alternating rounds, medians 11.0 s and 12.0 s), and a
    migration's forked second process copied every page such a pass touched. The load itself
    runs without passes (``cyclic_gc_paused``): they only walked objects about to be frozen."""
    gc.freeze()


@dg.definitions
def defs() -> dg.Definitions:
    """Everything under ``defs/``, loaded once per process and configuration.

    Dagster calls this function several times per process (six times in one ``dg launch``:
    each reconstruction of the repository), and each call walks the ``defs/`` tree again
    (about 1 s on two cores, several under load): without the cache that was most of a
    terminal backfill's start-up.
    """
    return _load(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("GOODWE_"))))
