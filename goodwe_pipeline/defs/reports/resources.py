"""The ``reports`` resource: the inverter's rated power and the integration rule."""

import os

import dagster as dg
from pydantic import Field

from goodwe_pipeline.reports.quality import DEFAULT_RATED_POWER_W, Limits


class ReportsResource(dg.ConfigurableResource):
    """``rated_power_w`` (``GOODWE_RATED_POWER_W``): a power beyond three times it is an
    impossible reading. Powers are never integrated across a gap longer than
    ``gap_factor`` times the sampling cadence."""

    rated_power_w: int = Field(
        default=int(DEFAULT_RATED_POWER_W), description="GOODWE_RATED_POWER_W"
    )
    gap_factor: float = Field(default=2.0, description="longest integrated gap, in cadences")

    def limits(self) -> Limits:
        if self.rated_power_w <= 0:
            raise ValueError(
                f"GOODWE_RATED_POWER_W={self.rated_power_w} must be a positive number of watts"
            )
        return Limits(rated_power_w=float(self.rated_power_w))

    def settings(self) -> dict[str, float]:
        """What the figures depend on, for the recorded pipeline configuration."""
        return {"rated_power_w": float(self.rated_power_w), "gap_factor": self.gap_factor}


def reports_from_env() -> ReportsResource:
    if os.environ.get("GOODWE_RATED_POWER_W"):
        return ReportsResource(rated_power_w=dg.EnvVar.int("GOODWE_RATED_POWER_W"))
    return ReportsResource()


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"reports": reports_from_env()})
