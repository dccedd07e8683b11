"""The owner's electricity tariff: what a kWh costs to buy and earns when sold.

``buy = (market + fixed components + distribution rate of the zone) * (1 + vat)``;
the sell price follows a rule (RCE for Polish net-billing). The tariff is a
small YAML file (``GOODWE_TARIFF_FILE``) laid over the built-in defaults in
``tariff_defaults.yaml``, which documents the format.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

DEFAULTS_FILE = Path(__file__).with_name("tariff_defaults.yaml")
DAY_RULES = ("all", "weekdays", "weekends_holidays")
SELL_RULES = ("rce", "market", "fixed")
HOLIDAY_CALENDARS = ("PL", "none")
CONFIG_NAME = "tariff"


class TariffError(ValueError):
    """The tariff file is unreadable or describes an impossible tariff."""


@dataclass(frozen=True)
class ZoneRule:
    """One zone of a distribution tariff; empty conditions match everything."""

    zone: str
    rate_pln_kwh: float
    hours: tuple[tuple[int, int], ...] = ()
    days: str = "all"
    months: tuple[int, ...] = ()

    @property
    def catch_all(self) -> bool:
        return not self.hours and self.days == "all" and not self.months

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"zone": self.zone, "rate_pln_kwh": self.rate_pln_kwh}
        if self.hours:
            data["hours"] = [f"{_hhmm(a)}-{_hhmm(b)}" for a, b in self.hours]
        if self.days != "all":
            data["days"] = self.days
        if self.months:
            data["months"] = list(self.months)
        return data


@dataclass(frozen=True)
class SellRule:
    rule: str = "rce"
    factor: float = 1.0
    fixed_pln_kwh: float | None = None


@dataclass(frozen=True)
class Tariff:
    name: str
    vat: float
    fixed_components: Mapping[str, float]
    distribution_tariff: str
    distribution: Mapping[str, tuple[ZoneRule, ...]]
    holidays: str = "PL"
    extra_holidays: tuple[date, ...] = ()
    sell: SellRule = field(default_factory=SellRule)

    @property
    def fixed_pln_kwh(self) -> float:
        return float(sum(self.fixed_components.values()))

    @property
    def rules(self) -> tuple[ZoneRule, ...]:
        return self.distribution[self.distribution_tariff]

    def config_data(self) -> dict[str, Any]:
        """The whole tariff as plain JSON-able data (a tariff holds no secrets)."""
        return {
            "name": self.name,
            "vat": self.vat,
            "fixed_components_pln_kwh": dict(self.fixed_components),
            "distribution_tariff": self.distribution_tariff,
            "distribution": {
                name: [rule.as_dict() for rule in rules]
                for name, rules in sorted(self.distribution.items())
            },
            "holidays": self.holidays,
            "extra_holidays": [d.isoformat() for d in self.extra_holidays],
            "sell": {
                "rule": self.sell.rule,
                "factor": self.sell.factor,
                "fixed_pln_kwh": self.sell.fixed_pln_kwh,
            },
        }

    @property
    def version(self) -> str:
        """Stable hash of ``config_data()``: equal tariffs share a version."""
        canonical = json.dumps(self.config_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        """Short name stored beside each price, e.g. ``G12@3fa2c1d09b7e``."""
        return f"{self.distribution_tariff}@{self.version}"

    def zones(self, local_time: Any) -> tuple[np.ndarray, np.ndarray]:
        """Zone names and net distribution rates for tz-aware local times."""
        times = _as_index(local_time)
        if times.tz is None:
            raise TariffError("zone lookup needs timezone-aware local times")
        minute = np.asarray(times.hour * 60 + times.minute)
        month = np.asarray(times.month)
        weekend = np.asarray(times.day_of_week >= 5) | self._is_holiday(times)
        zone = np.full(len(times), "", dtype=object)
        rate = np.full(len(times), np.nan)
        open_ = np.ones(len(times), dtype=bool)
        for rule in self.rules:
            match = open_.copy()
            if rule.days == "weekdays":
                match &= ~weekend
            elif rule.days == "weekends_holidays":
                match &= weekend
            if rule.months:
                match &= np.isin(month, rule.months)
            if rule.hours:
                in_hours = np.zeros(len(times), dtype=bool)
                for start, end in rule.hours:
                    if start < end:
                        in_hours |= (minute >= start) & (minute < end)
                    else:
                        in_hours |= (minute >= start) | (minute < end)
                match &= in_hours
            zone[match] = rule.zone
            rate[match] = rule.rate_pln_kwh
            open_ &= ~match
        return zone, rate

    def buy_price(self, market_pln_kwh: Any, local_time: Any) -> tuple[Any, Any]:
        """Gross buy price (PLN/kWh) and zone for market prices at local times.

        Scalars give scalars; arrays, Series or a DataFrame column give arrays.
        """
        scalar = np.ndim(market_pln_kwh) == 0 and np.ndim(local_time) == 0
        zone, rate = self.zones(local_time)
        market = np.asarray(market_pln_kwh, dtype="float64")
        price = (market + self.fixed_pln_kwh + rate) * (1.0 + self.vat)
        if scalar:
            return float(price[0]), str(zone[0])
        return price, zone

    def sell_price(self, market_pln_kwh: Any, rce_pln_kwh: Any = None) -> np.ndarray:
        """Price of exported energy; ``rce`` falls back to the market price where RCE is NaN."""
        market = np.asarray(market_pln_kwh, dtype="float64")
        rule = self.sell
        if rule.rule == "fixed":
            return np.full(market.shape, float(rule.fixed_pln_kwh))
        base = market
        if rule.rule == "rce" and rce_pln_kwh is not None:
            rce = np.broadcast_to(np.asarray(rce_pln_kwh, dtype="float64"), market.shape)
            base = np.where(np.isnan(rce), market, rce)
        return base * rule.factor

    def _is_holiday(self, times: pd.DatetimeIndex) -> np.ndarray:
        days = set(self.extra_holidays)
        if self.holidays == "PL":
            for year in range(int(times.year.min()), int(times.year.max()) + 1):
                days |= polish_holidays(year)
        if not days:
            return np.zeros(len(times), dtype=bool)
        stamps = pd.DatetimeIndex([pd.Timestamp(d) for d in sorted(days)])
        return np.asarray(times.tz_localize(None).normalize().isin(stamps))


@lru_cache(maxsize=64)
def polish_holidays(year: int) -> frozenset[date]:
    """Polish statutory public holidays (Christmas Eve from 2025)."""
    easter = _easter(year)
    days = {
        date(year, 1, 1),
        date(year, 1, 6),
        easter,
        easter + timedelta(days=1),
        date(year, 5, 1),
        date(year, 5, 3),
        easter + timedelta(days=49),
        easter + timedelta(days=60),
        date(year, 8, 15),
        date(year, 11, 1),
        date(year, 11, 11),
        date(year, 12, 25),
        date(year, 12, 26),
    }
    if year >= 2025:
        days.add(date(year, 12, 24))
    return frozenset(days)


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _as_index(values: Any) -> pd.DatetimeIndex:
    if isinstance(values, pd.DatetimeIndex):
        return values
    if isinstance(values, pd.Series):
        return pd.DatetimeIndex(values)
    return pd.DatetimeIndex(np.atleast_1d(np.asarray(values, dtype=object)))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_clock(text: str, where: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
    except ValueError:
        raise TariffError(f"{where}: {text!r} is not HH:MM") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 1440:
        raise TariffError(f"{where}: {text!r} is not a time of day")
    return hours * 60 + minutes


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TariffError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _parse_rule(raw: Any, where: str) -> ZoneRule:
    if not isinstance(raw, Mapping):
        raise TariffError(f"{where}: expected a mapping with zone and rate_pln_kwh")
    unknown = set(raw) - {"zone", "rate_pln_kwh", "hours", "days", "months"}
    if unknown:
        raise TariffError(f"{where}: unknown keys {sorted(unknown)}")
    if not raw.get("zone"):
        raise TariffError(f"{where}: missing zone name")
    hours = []
    for span in raw.get("hours") or []:
        start, sep, end = str(span).partition("-")
        if not sep:
            raise TariffError(f"{where}: hours entry {span!r} is not HH:MM-HH:MM")
        a, b = _parse_clock(start, where), _parse_clock(end, where) % 1440
        if a == b:
            raise TariffError(f"{where}: hours entry {span!r} is empty")
        hours.append((a, b))
    days = str(raw.get("days", "all"))
    if days not in DAY_RULES:
        raise TariffError(f"{where}: days must be one of {DAY_RULES}, got {days!r}")
    months = tuple(int(m) for m in raw.get("months") or [])
    if any(not 1 <= m <= 12 for m in months):
        raise TariffError(f"{where}: months must be 1..12, got {list(months)}")
    return ZoneRule(
        zone=str(raw["zone"]),
        rate_pln_kwh=_number(raw.get("rate_pln_kwh"), f"{where}.rate_pln_kwh"),
        hours=tuple(hours),
        days=days,
        months=months,
    )


def tariff_from_dict(data: Mapping[str, Any], origin: str = "tariff") -> Tariff:
    """Validate a complete tariff mapping (the defaults with the user's file laid over)."""
    unknown = set(data) - {
        "name",
        "vat",
        "fixed_components_pln_kwh",
        "distribution_tariff",
        "distribution",
        "holidays",
        "extra_holidays",
        "sell",
    }
    if unknown:
        raise TariffError(f"{origin}: unknown keys {sorted(unknown)}")
    vat = _number(data.get("vat"), f"{origin}: vat")
    if not 0 <= vat < 1:
        raise TariffError(f"{origin}: vat is a fraction (0.23 for 23 %), got {vat}")
    fixed = {
        str(k): _number(v, f"{origin}: fixed_components_pln_kwh.{k}")
        for k, v in (data.get("fixed_components_pln_kwh") or {}).items()
    }
    distribution: dict[str, tuple[ZoneRule, ...]] = {}
    for name, rules in (data.get("distribution") or {}).items():
        if not isinstance(rules, list) or not rules:
            raise TariffError(f"{origin}: distribution.{name} must be a non-empty list of zones")
        parsed = tuple(
            _parse_rule(rule, f"{origin}: distribution.{name}[{i}]") for i, rule in enumerate(rules)
        )
        if not parsed[-1].catch_all:
            raise TariffError(
                f"{origin}: the last zone of distribution.{name} must have no conditions "
                "so that every hour has a rate"
            )
        distribution[str(name)] = parsed
    chosen = str(data.get("distribution_tariff"))
    if chosen not in distribution:
        raise TariffError(
            f"{origin}: distribution_tariff {chosen!r} is not one of {sorted(distribution)}"
        )
    holidays = str(data.get("holidays", "PL"))
    if holidays not in HOLIDAY_CALENDARS:
        raise TariffError(f"{origin}: holidays must be one of {HOLIDAY_CALENDARS}")
    try:
        extra = tuple(sorted(date.fromisoformat(str(d)) for d in data.get("extra_holidays") or []))
    except ValueError as exc:
        raise TariffError(f"{origin}: extra_holidays: {exc}") from None
    sell_raw = data.get("sell") or {}
    rule = str(sell_raw.get("rule", "rce"))
    if rule not in SELL_RULES:
        raise TariffError(f"{origin}: sell.rule must be one of {SELL_RULES}, got {rule!r}")
    fixed_sell = sell_raw.get("fixed_pln_kwh")
    if rule == "fixed":
        fixed_sell = _number(fixed_sell, f"{origin}: sell.fixed_pln_kwh")
    elif fixed_sell is not None:
        fixed_sell = _number(fixed_sell, f"{origin}: sell.fixed_pln_kwh")
    sell = SellRule(
        rule=rule,
        factor=_number(sell_raw.get("factor", 1.0), f"{origin}: sell.factor"),
        fixed_pln_kwh=fixed_sell,
    )
    return Tariff(
        name=str(data.get("name") or "tariff"),
        vat=vat,
        fixed_components=fixed,
        distribution_tariff=chosen,
        distribution=distribution,
        holidays=holidays,
        extra_holidays=extra,
        sell=sell,
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TariffError(f"cannot read tariff file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TariffError(
            f"tariff file {path} is not text: byte {exc.start} is not UTF-8 (a YAML text "
            "file is expected)"
        ) from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise TariffError(f"tariff file {path} is not valid YAML: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise TariffError(f"tariff file {path} must hold a mapping at the top level")
    return loaded


def default_tariff_data() -> dict[str, Any]:
    return _read_yaml(DEFAULTS_FILE)


def merge_tariff_data(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Lay a user's tariff over the defaults: ``distribution`` and ``sell`` merge by key."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key in ("distribution", "sell") and isinstance(value, Mapping):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged


def load_tariff(path: str | Path | None = None) -> Tariff:
    """The tariff of ``path`` laid over the built-in defaults (defaults alone when None)."""
    data = default_tariff_data()
    origin = str(DEFAULTS_FILE.name)
    if path:
        user_path = Path(path)
        data = merge_tariff_data(data, _read_yaml(user_path))
        origin = str(user_path)
    return tariff_from_dict(data, origin)
