"""The ``sessions`` resource: battery size and the thresholds of session detection."""

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.sessions.detection import SessionConfig

DEFAULT_BATTERY_CAPACITY_KWH = 10.0
_DEFAULTS = SessionConfig()


class SessionsResource(dg.ConfigurableResource):
    """Battery capacity (``GOODWE_BATTERY_CAPACITY_KWH``) and session thresholds.

    A session is a run of battery power at or beyond ``threshold_w`` (charge or
    discharge); runs of one kind less than ``merge_gap_s`` apart merge; shorter
    than ``min_duration_s`` or smaller than ``min_energy_kwh`` are ignored.
    """

    battery_capacity_kwh: float = DEFAULT_BATTERY_CAPACITY_KWH
    threshold_w: float = _DEFAULTS.threshold_w
    merge_gap_s: float = _DEFAULTS.merge_gap_s
    min_duration_s: float = _DEFAULTS.min_duration_s
    min_energy_kwh: float = _DEFAULTS.min_energy_kwh

    def config(self) -> SessionConfig:
        return SessionConfig(
            threshold_w=self.threshold_w,
            merge_gap_s=self.merge_gap_s,
            min_duration_s=self.min_duration_s,
            min_energy_kwh=self.min_energy_kwh,
        )


def battery_capacity_kwh() -> float:
    """``GOODWE_BATTERY_CAPACITY_KWH`` (not a secret, so read when definitions load); the
    default when the value is not allowed, which the readings checks then report
    (``settings.require``)."""
    return settings.for_loading("GOODWE_BATTERY_CAPACITY_KWH", DEFAULT_BATTERY_CAPACITY_KWH)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"sessions": SessionsResource(battery_capacity_kwh=battery_capacity_kwh())}
    )
