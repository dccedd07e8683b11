"""An emulated GoodWe ET hybrid inverter that the real ``goodwe`` library talks to.

``registers`` builds the register map from the library's own sensor lists,
``household`` simulates the house behind it, ``protocol`` frames the bytes and
``server`` puts it on UDP and Modbus/TCP sockets, with fault injection.
"""

from goodwe_pipeline.emulator.household import Household, HouseholdConfig
from goodwe_pipeline.emulator.server import (
    DEFAULT_MODEL,
    DEFAULT_RATED_POWER,
    DEFAULT_SERIAL,
    Emulator,
    EmulatorConfig,
    EmulatorThread,
    Faults,
    SimClock,
    configs_side_by_side,
    free_loopback_udp_host,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_RATED_POWER",
    "DEFAULT_SERIAL",
    "Emulator",
    "EmulatorConfig",
    "EmulatorThread",
    "Faults",
    "Household",
    "HouseholdConfig",
    "SimClock",
    "configs_side_by_side",
    "free_loopback_udp_host",
]
