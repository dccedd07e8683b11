"""Where the legacy files are, how to read them, and the inverter of records without a serial."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from goodwe_pipeline.common.settings import DEFAULT_TIMEZONE
from goodwe_pipeline.history.decode import DEFAULT_MAX_FILE_BYTES
from goodwe_pipeline.history.files import Unusable, read_regular
from goodwe_pipeline.history.formats import Format
from goodwe_pipeline.history.index import FolderIndex
from goodwe_pipeline.history.readers import read_readings
from goodwe_pipeline.history.timestamps import LocalClock

DEFAULT_DEVICE = "legacy"
DEVICE_SAMPLE_FILES = 8
DEFAULT_BATCH_ROWS = 20_000
_FORMATS_WITH_SERIAL = (
    Format.CURRENT_DATA,
    Format.ENERGY_DATA_SNAPSHOT,
    Format.COORDINATOR_STATE,
    Format.HISTORICAL_DATA,
    Format.COORDINATOR_STATE_LOG,
)


@dataclass(frozen=True)
class LegacySettings:
    """Where the legacy files are and how to read them."""

    legacy_dir: Path
    timezone: str = DEFAULT_TIMEZONE
    device_id: str | None = None
    """For records without a serial; None: the one serial found in the folder, else ``legacy``."""
    nonexistent: str = "reject"
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    batch_rows: int = DEFAULT_BATCH_ROWS
    now: datetime | None = None

    def clock(self) -> LocalClock:
        return LocalClock(self.timezone, nonexistent=self.nonexistent, now=self.now)


def default_device(index: FolderIndex, settings: LegacySettings) -> tuple[str, str]:
    """The device of records without a serial, and how it was chosen.

    Looks at a few evenly spread files of the formats that carry the serial: the
    same files in the same folder give the same answer on every run.
    """
    if settings.device_id:
        return settings.device_id, "GOODWE_LEGACY_DEVICE_ID"
    candidates = [e for e in index.of_format(*_FORMATS_WITH_SERIAL) if not e.skipped]
    candidates.sort(key=lambda e: (e.format is not Format.CURRENT_DATA, e.path))
    preferred = [e for e in candidates if e.format is Format.CURRENT_DATA] or candidates
    step = max(1, len(preferred) // DEVICE_SAMPLE_FILES)
    sample = preferred[::step][:DEVICE_SAMPLE_FILES]
    clock = settings.clock()
    serials: Counter[str] = Counter()
    for entry in sample:
        try:
            data = read_regular(entry.absolute, settings.max_file_bytes)
        except Unusable:
            continue
        serials.update(
            read_readings(entry.format, data, clock, limit=settings.max_file_bytes).devices
        )
    if len(serials) == 1:
        serial = next(iter(serials))
        return serial, f"the inverter serial in {len(sample)} sampled files"
    if serials:
        found = ", ".join(sorted(serials))
        return DEFAULT_DEVICE, f"several serials ({found}): set GOODWE_LEGACY_DEVICE_ID"
    return DEFAULT_DEVICE, "no serial in the folder's files"
