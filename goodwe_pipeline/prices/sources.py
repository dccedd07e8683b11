"""Where prices come from (``GOODWE_PRICE_SOURCE``): ``pse``, ``csv:<path>`` or ``fixed:<PLN/kWh>``.

Each source gives the market rows of a local day (``prices.ROW_COLUMNS``);
``prices.day_prices`` turns them into the day's quarter-hour prices.

CSV columns (comma or semicolon separated, one header line):
- ``time_start`` (required): ISO 8601 with offset (``2025-10-05T00:00:00+02:00``,
  ``...Z``) or local wall time without offset in ``GOODWE_TIMEZONE``
  (``2025-10-05 00:00``; the repeated autumn hour in file order).
- ``time_end`` (optional): else each row lasts until the next one, at most an hour.
- one of ``market_pln_mwh`` / ``market_pln_kwh`` (energy price: the tariff is
  added) or ``buy_pln_kwh`` (final price, used as it is);
- optional ``sell_pln_kwh`` (final export price) or ``rce_pln_mwh`` /
  ``rce_pln_kwh`` (for the tariff's sell rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.prices.pse_client import (
    DEFAULT_PSE_URL,
    DEFAULT_TIMEOUT_S,
    MARKET,
    PSE_TIMEZONE,
    RCE,
    PseClient,
)
from goodwe_pipeline.prices.quarter_hours import (
    QUARTER,
    ROW_COLUMNS,
    PriceDataError,
    PricesNotPublishedError,
    align,
    localize_wall_times,
    market_rows,
    quarter_hours,
)

DEFAULT_PRICE_SOURCE = "fixed:0.50"
"""A constant net energy price of 0.50 PLN/kWh (the 2025 Polish household price cap)."""

_CSV_PRICE_COLUMNS = {
    "market_pln_mwh": ("market_pln_kwh", 1000.0),
    "market_pln_kwh": ("market_pln_kwh", 1.0),
    "buy_pln_kwh": ("buy_pln_kwh", 1.0),
    "sell_pln_kwh": ("sell_pln_kwh", 1.0),
    "rce_pln_mwh": ("rce_pln_kwh", 1000.0),
    "rce_pln_kwh": ("rce_pln_kwh", 1.0),
}


class PriceSource(Protocol):
    name: str

    def rows(self, day: date, tz: str) -> pd.DataFrame:
        """Market rows covering the local ``day`` (``prices.ROW_COLUMNS``)."""
        ...

    def describe(self) -> str:
        """Where the prices come from, for metadata (no secrets)."""
        ...


@dataclass
class FixedSource:
    """The same net energy price in every quarter hour; the tariff is added as usual."""

    price_pln_kwh: float
    name: str = "fixed"

    def rows(self, day: date, tz: str) -> pd.DataFrame:
        start, end = days.day_window(day, tz)
        return market_rows(
            pd.DataFrame(
                {"time_start": [start], "time_end": [end], "market_pln_kwh": [self.price_pln_kwh]}
            )
        )

    def describe(self) -> str:
        return f"fixed {self.price_pln_kwh:g} PLN/kWh"


@dataclass
class CsvSource:
    """Prices from a CSV file (columns in the module docstring), read once."""

    path: Path
    tz: str
    name: str = "csv"
    _rows: pd.DataFrame | None = field(default=None, init=False, repr=False)

    def rows(self, day: date, tz: str) -> pd.DataFrame:
        frame = self._load()
        start, end = days.day_window(day, tz)
        mask = (frame["time_end"] > start) & (frame["time_start"] < end)
        return frame[mask.to_numpy()].reset_index(drop=True)

    def describe(self) -> str:
        return f"csv {self.path}"

    def _load(self) -> pd.DataFrame:
        if self._rows is None:
            self._rows = read_price_csv(self.path, self.tz)
        return self._rows


@dataclass
class PseSource:
    """PSE day-ahead (csdac-pln) market prices, plus RCE (rce-pln) when the sell rule needs it."""

    client: PseClient
    with_rce: bool = True
    name: str = "pse"
    now: datetime | None = None

    def rows(self, day: date, tz: str) -> pd.DataFrame:
        grid = quarter_hours(day, tz)
        business_days = sorted(
            {days.local_date(grid[0].to_pydatetime(), PSE_TIMEZONE)}
            | {days.local_date(grid[-1].to_pydatetime(), PSE_TIMEZONE)}
        )
        market = self._report(MARKET, business_days, day, tz)
        aligned = align(market.rename(columns={"value_pln_kwh": "market_pln_kwh"}), grid)
        if self.with_rce:
            rce = self._report(RCE, business_days, day, tz, optional=True)
            if not rce.empty:
                rce_aligned = align(rce.rename(columns={"value_pln_kwh": "rce_pln_kwh"}), grid)
                aligned["rce_pln_kwh"] = rce_aligned["rce_pln_kwh"].to_numpy()
        aligned["time_end"] = aligned["time_start"] + QUARTER
        return aligned[list(ROW_COLUMNS)]

    def _report(
        self,
        report: tuple[str, str],
        business_days: list[date],
        day: date,
        tz: str,
        optional: bool = False,
    ) -> pd.DataFrame:
        frames = []
        for business in business_days:
            try:
                frames.append(self.client.day_rows(report, business))
            except PricesNotPublishedError:
                today = days.local_date(self.now or datetime.now(UTC), tz)
                if day >= today:
                    raise
                if optional:
                    continue
                raise PriceDataError(
                    f"PSE has no {report[0]} prices for the past day {business.isoformat()} "
                    "(its API holds days from mid-2024 on); use a csv: price source for "
                    "older days"
                ) from None
        if not frames:
            return pd.DataFrame(columns=["time_start", "time_end", "value_pln_kwh"])
        return pd.concat(frames, ignore_index=True)

    def describe(self) -> str:
        return f"pse {self.client.base_url}"


def _read_times(values: pd.Series, tz: str, column: str, path: Path) -> pd.Series:
    text = values.astype(str).str.strip()
    offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    try:
        if bool(offset.all()):
            parsed = pd.to_datetime(text, utc=True, format="ISO8601")
            return parsed.astype("datetime64[us, UTC]")
        if not bool(offset.any()):
            return localize_wall_times(text, tz)
    except (ValueError, TypeError) as exc:
        raise PriceDataError(f"{path}: column {column}: {exc}") from None
    raise PriceDataError(
        f"{path}: column {column} mixes times with and without a UTC offset "
        f"(e.g. {text[~offset].iloc[0]!r} and {text[offset].iloc[0]!r})"
    )


def read_price_csv(path: str | Path, tz: str) -> pd.DataFrame:
    """Read a price CSV (columns in the module docstring) into market rows."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig") as csv_file:
            header = csv_file.readline()
        sep = ";" if header.count(";") > header.count(",") else ","
        raw = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise PriceDataError(f"cannot read price CSV {path}: {exc}") from None
    except pd.errors.EmptyDataError:
        raise PriceDataError(f"price CSV {path} is empty") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if "time_start" not in raw:
        raise PriceDataError(f"price CSV {path} has no time_start column (columns: {list(raw)})")
    if not {"market_pln_mwh", "market_pln_kwh", "buy_pln_kwh"} & set(raw.columns):
        raise PriceDataError(
            f"price CSV {path} needs a market_pln_mwh, market_pln_kwh or buy_pln_kwh column"
        )
    raw = raw.dropna(subset=["time_start"]).reset_index(drop=True)
    if raw.empty:
        raise PriceDataError(f"price CSV {path} has no rows")
    out = pd.DataFrame({"time_start": _read_times(raw["time_start"], tz, "time_start", path)})
    for column, (target, divisor) in _CSV_PRICE_COLUMNS.items():
        if column not in raw:
            continue
        text = raw[column].fillna("").astype(str).str.strip().str.replace(",", ".", regex=False)
        numbers = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = numbers.isna() & (text != "")
        if bool(bad.any()):
            line = int(bad.to_numpy().nonzero()[0][0]) + 2
            raise PriceDataError(
                f"{path} line {line}: {column}={raw[column].iloc[line - 2]!r} is not a number"
            )
        out[target] = numbers / divisor
    if "time_end" in raw:
        out["time_end"] = _read_times(raw["time_end"], tz, "time_end", path)
    out = out.sort_values("time_start", kind="stable").reset_index(drop=True)
    if "time_end" not in out:
        step = out["time_start"].diff().shift(-1)
        hour = pd.Timedelta(hours=1)
        typical = step.median() if step.notna().any() else hour
        last = min(typical, hour) if not pd.isna(typical) else hour
        out["time_end"] = out["time_start"] + step.fillna(last).clip(upper=hour)
    if bool((out["time_end"] <= out["time_start"]).any()):
        raise PriceDataError(f"price CSV {path}: a row ends before it starts")
    return market_rows(out)


def parse_price_source(
    spec: str | None,
    *,
    tz: str,
    pse_url: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    with_rce: bool = True,
) -> PriceSource:
    """``pse`` | ``csv:<path>`` | ``fixed:<PLN/kWh>`` (unset: ``DEFAULT_PRICE_SOURCE``)."""
    text = (spec or DEFAULT_PRICE_SOURCE).strip()
    kind, _, argument = text.partition(":")
    kind = kind.strip().lower()
    if kind == "pse":
        client = PseClient(pse_url or DEFAULT_PSE_URL, timeout_s=timeout_s)
        return PseSource(client=client, with_rce=with_rce)
    if kind == "csv" and argument.strip():
        return CsvSource(path=Path(argument.strip()).expanduser(), tz=tz)
    if kind == "fixed":
        try:
            price = float(argument.replace(",", "."))
        except ValueError:
            price = math.nan
        if not math.isfinite(price):
            raise ValueError(
                f"GOODWE_PRICE_SOURCE {text!r}: fixed needs a price in PLN/kWh, e.g. fixed:0.50"
            )
        return FixedSource(price_pln_kwh=price)
    raise ValueError(f"GOODWE_PRICE_SOURCE {text!r} is not one of pse, csv:<path>, fixed:<PLN/kWh>")
