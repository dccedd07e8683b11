"""Client of PSE's public report API (api.raporty.pse.pl): day-ahead and RCE prices.

``GET <base>/api/csdac-pln?$filter=business_date eq 'YYYY-MM-DD'`` answers
``{"value": [{"dtime": "YYYY-MM-DD HH:MM", "period": "HH:MM - HH:MM",
"csdac_pln": <PLN/MWh>, "business_date": ..., "publication_ts": ...}]}``:
96 quarter-hour rows a day (92/100 on DST days), 24 hourly rows on older
days. ``/api/rce-pln`` has the same shape with ``rce_pln``. Times are Polish
wall-clock time; ``period`` gives each row's start and length.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import requests

from goodwe_pipeline.prices.quarter_hours import (
    PriceDataError,
    PricesNotPublishedError,
    PriceSourceUnavailableError,
    localize_wall_times,
)

DEFAULT_PSE_URL = "https://api.raporty.pse.pl"
PSE_TIMEZONE = "Europe/Warsaw"
MARKET = ("csdac-pln", "csdac_pln")
RCE = ("rce-pln", "rce_pln")
DEFAULT_TIMEOUT_S = 30.0
MAX_PAGES = 20


class PseClient:
    """Fetches one business day of one PSE price report as UTC rows in PLN/kWh."""

    def __init__(
        self,
        base_url: str = DEFAULT_PSE_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        session: requests.Session | None = None,
    ):
        base = base_url.strip().rstrip("/")
        self.base_url = base[: -len("/api")] if base.endswith("/api") else base
        self.timeout_s = timeout_s
        self.session = session or requests.Session()

    def day_rows(self, report: tuple[str, str], day: date) -> pd.DataFrame:
        """``time_start``, ``time_end`` (UTC) and ``value_pln_kwh`` of a business day.

        Raises ``PricesNotPublishedError`` when the API has no rows for the day,
        ``PriceSourceUnavailableError`` when it does not answer properly and
        ``PriceDataError`` when its rows cannot be read.
        """
        endpoint, field = report
        url = f"{self.base_url}/api/{endpoint}"
        rows = self._get_all(url, {"$filter": f"business_date eq '{day.isoformat()}'"})
        if not rows:
            raise PricesNotPublishedError(
                f"PSE has not published {endpoint} for {day.isoformat()} "
                f"({url} returned no rows); day-ahead prices appear in the early afternoon "
                "of the day before"
            )
        return parse_rows(rows, field, day)

    def _get_all(self, url: str, params: dict[str, str] | None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            payload = self._get_json(url, params)
            value = payload.get("value") if isinstance(payload, dict) else None
            if not isinstance(value, list):
                raise PriceSourceUnavailableError(f"PSE answer from {url} has no `value` list")
            rows.extend(value)
            next_link = payload.get("nextLink") or payload.get("@odata.nextLink")
            if not next_link:
                return rows
            url, params = str(next_link), None
        raise PriceDataError(f"PSE answer from {url} pages on beyond {MAX_PAGES} pages")

    def _get_json(self, url: str, params: dict[str, str] | None) -> Any:
        try:
            response = self.session.get(url, params=params, timeout=self.timeout_s)
        except requests.Timeout:
            raise PriceSourceUnavailableError(
                f"PSE API at {url} did not answer within {self.timeout_s:g} s"
            ) from None
        except requests.RequestException as exc:
            raise PriceSourceUnavailableError(
                f"PSE API at {url} is unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise PriceSourceUnavailableError(
                f"PSE API at {url} answered HTTP {response.status_code}"
            )
        if response.status_code != 200:
            raise PriceDataError(
                f"PSE API at {url} refused the request: HTTP {response.status_code} "
                f"{response.text[:200]!r}"
            )
        try:
            return response.json()
        except ValueError:
            raise PriceSourceUnavailableError(
                f"PSE API at {url} answered something that is not JSON: {response.text[:120]!r}"
            ) from None


def _period(text: Any, index: int) -> tuple[str, int]:
    """``"HH:MM - HH:MM"`` to the start ``"HH:MM"`` and the wall-clock length in minutes."""
    try:
        start, end = (part.strip() for part in str(text).split("-"))
        minutes = [int(h) * 60 + int(m) for h, m in (p.split(":") for p in (start, end))]
    except ValueError:
        raise PriceDataError(f"PSE row {index}: period {text!r} is not 'HH:MM - HH:MM'") from None
    if not 0 <= minutes[0] < 1440:
        raise PriceDataError(f"PSE row {index}: period {text!r} starts at no time of day")
    return start, (minutes[1] - minutes[0]) % 1440


def parse_rows(rows: list[dict[str, Any]], field: str, day: date) -> pd.DataFrame:
    """PSE rows of one business day to UTC rows in PLN/kWh (negative prices kept)."""
    starts, lengths, values = [], [], []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise PriceDataError(f"PSE row {index} is not an object: {row!r}")
        business = row.get("business_date")
        if business is not None and str(business)[:10] != day.isoformat():
            raise PriceDataError(
                f"PSE row {index} is for business date {business}, not {day.isoformat()}"
            )
        start, length = _period(row.get("period"), index)
        value = row.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PriceDataError(f"PSE row {index} ({row.get('period')}): {field}={value!r}")
        starts.append(f"{day.isoformat()} {start}")
        lengths.append(length)
        values.append(float(value) / 1000.0)
    # Labels around a DST change span 0 or 75 wall-clock minutes; the day's resolution does not.
    resolution = int(np.median(lengths))
    if resolution not in (15, 60):
        raise PriceDataError(f"PSE rows of {day.isoformat()} are {resolution} minutes long")
    time_start = localize_wall_times(pd.Series(starts), PSE_TIMEZONE)
    return pd.DataFrame(
        {
            "time_start": time_start,
            "time_end": time_start + pd.Timedelta(minutes=resolution),
            "value_pln_kwh": values,
        }
    )
