"""The Dagster code location: everything under ``defs/``."""

import logging
from pathlib import Path

import dagster as dg


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


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
