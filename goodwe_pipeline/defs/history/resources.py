"""The ``legacy`` resource: the optimiser folder to migrate and how to read it."""

from pathlib import Path

import dagster as dg

from goodwe_pipeline.common import settings
from goodwe_pipeline.common.settings import DEFAULT_TIMEZONE
from goodwe_pipeline.defs.resources import env_or
from goodwe_pipeline.history.decode import DEFAULT_MAX_FILE_BYTES
from goodwe_pipeline.history.settings import LegacySettings
from goodwe_pipeline.history.timestamps import NONEXISTENT_POLICIES

DEFAULT_MAX_REJECTED_SHARE = 0.05


class LegacyResource(dg.ConfigurableResource):
    """The GoodWe Dynamic Price Optimiser's working directory (``GOODWE_LEGACY_DIR``, the folder
    holding its ``out/`` and ``data/``), read strictly read-only.

    ``device_id`` names the inverter for records that carry no serial (daily arrays, the
    optimiser's database); unset, the one serial found in the folder's other files is used.
    ``nonexistent_times``: what to do with a wall-clock time in the spring DST gap,
    ``reject`` (default) or ``shift_forward`` (read with the winter offset: 02:30 -> 03:30).
    ``max_rejected_file_share``: above this share of rejected files the check warns.
    ``second_process``: on a machine with two or more cores, a long migration shares its days
    with a second process (``history.day_worker``); ``false`` keeps it to one.
    """

    legacy_dir: str | None = None
    device_id: str | None = None
    timezone: str | None = None
    nonexistent_times: str = "reject"
    max_rejected_file_share: float = DEFAULT_MAX_REJECTED_SHARE
    max_file_mb: float = DEFAULT_MAX_FILE_BYTES / 1024 / 1024
    second_process: bool = True

    def get_settings(self) -> LegacySettings:
        """The settings. A field left empty takes its variable's value: Dagster fills the fields
        a launch's ``config`` leaves out with their class defaults, not with the values the
        definitions gave them, so setting one option in the launchpad would otherwise forget
        ``GOODWE_LEGACY_DIR`` and put every time in the default zone."""
        legacy_dir = self.legacy_dir or settings.env("GOODWE_LEGACY_DIR")
        if not legacy_dir:
            raise dg.Failure(
                description=(
                    "GOODWE_LEGACY_DIR is not set: point it at the optimiser's working "
                    "directory (the folder that holds its out/ and data/ folders)."
                )
            )
        folder = Path(legacy_dir).expanduser()
        if not folder.is_dir():
            raise dg.Failure(description=f"GOODWE_LEGACY_DIR={folder} is not a folder")
        if self.nonexistent_times not in NONEXISTENT_POLICIES:
            raise dg.Failure(
                description=f"nonexistent_times must be one of {', '.join(NONEXISTENT_POLICIES)}"
            )
        return LegacySettings(
            legacy_dir=folder,
            timezone=self.timezone or settings.timezone(),
            device_id=self.device_id or settings.env("GOODWE_LEGACY_DEVICE_ID"),
            nonexistent=self.nonexistent_times,
            max_file_bytes=int(self.max_file_mb * 1024 * 1024),
        )


def legacy_from_env() -> LegacyResource:
    return LegacyResource(
        legacy_dir=env_or("GOODWE_LEGACY_DIR"),
        device_id=env_or("GOODWE_LEGACY_DEVICE_ID"),
        timezone=env_or("GOODWE_TIMEZONE", DEFAULT_TIMEZONE),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"legacy": legacy_from_env()})
