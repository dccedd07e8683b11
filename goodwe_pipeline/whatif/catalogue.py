"""The tariff catalogue: the offers the what-if compares, from a YAML file.

Every offer is priced with the same zone rules, VAT and sell rules as the owner's tariff
(``goodwe_pipeline.prices.tariffs``): an offer is the owner's tariff (``GOODWE_TARIFF_FILE`` or
the built-in defaults) with the offer's distribution tariff, VAT, per-kWh components and
sell rule laid over it. ``tariff_catalogue.yaml`` beside this file documents the format.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from goodwe_pipeline.prices.tariffs import Tariff, TariffError, merge_tariff_data, tariff_from_dict

DEFAULT_CATALOGUE = Path(__file__).with_name("tariff_catalogue.yaml")
KINDS = ("pipeline", "fixed", "dynamic")
OFFER_KEYS = frozenset(
    {
        "name",
        "kind",
        "current",
        "distribution",
        "energy_pln_kwh",
        "margin_pln_kwh",
        "fixed_components_pln_kwh",
        "monthly_fees_pln",
        "vat",
        "sell",
        "note",
    }
)


class CatalogueError(ValueError):
    """The catalogue file is unreadable or describes an impossible offer."""


@dataclass(frozen=True)
class Offer:
    """One offer. ``tariff`` gives its zones, VAT, per-kWh components and sell rule."""

    name: str
    kind: str
    tariff: Tariff
    current: bool = False
    energy_pln_kwh: Mapping[str, float] = field(default_factory=dict)
    """Zone -> energy price (``fixed`` offers); ``"*"`` is the price of every zone."""
    monthly_fees_pln: Mapping[str, float] = field(default_factory=dict)

    @property
    def monthly_fee_pln(self) -> float:
        return float(sum(self.monthly_fees_pln.values()))

    def fee_of_day(self, day: date) -> float:
        """The day's share of the monthly fees (a month's days add up to the month's fees)."""
        return self.monthly_fee_pln / calendar.monthrange(day.year, day.month)[1]

    def config_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "current": self.current,
            "energy_pln_kwh": dict(self.energy_pln_kwh),
            "monthly_fees_pln": dict(self.monthly_fees_pln),
            "tariff": self.tariff.config_data(),
        }

    @cached_property
    def version(self) -> str:
        canonical = json.dumps(self.config_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def prices(
        self,
        local_time: Any,
        *,
        market: np.ndarray,
        stored_buy: np.ndarray,
        stored_sell: np.ndarray,
        stored_zone: np.ndarray,
        owner: Tariff,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Buy and sell price (PLN/kWh) and zone of each quarter hour under this offer.

        ``stored_*`` are the ``electricity_prices`` rows (the owner's tariff, ``owner``);
        RCE is recovered from the stored sell price when the owner's sell rule is RCE
        (elsewhere the market price stands in, as in the tariff's own sell rule). NaN
        where the offer cannot be priced (a dynamic offer without market prices).
        """
        if self.kind == "pipeline":
            return stored_buy, stored_sell, np.asarray(stored_zone, dtype=object)
        rce = np.full(len(market), np.nan)
        if owner.sell.rule == "rce" and owner.sell.factor != 0:
            rce = stored_sell / owner.sell.factor
        zone, _ = self.tariff.zones(local_time)
        if self.kind == "fixed":
            names, codes = np.unique(zone.astype(str), return_inverse=True)
            fallback = self.energy_pln_kwh.get("*", np.nan)
            per_zone = [self.energy_pln_kwh.get(name, fallback) for name in names]
            energy = np.asarray(per_zone, dtype="float64")[codes]
        else:
            energy = market
        buy, zone = self.tariff.buy_price(energy, local_time)
        sell = self.tariff.sell_price(market, rce)
        return np.asarray(buy, dtype="float64"), np.asarray(sell, dtype="float64"), zone


@dataclass(frozen=True)
class Catalogue:
    offers: tuple[Offer, ...]
    origin: str

    @property
    def current(self) -> Offer:
        return next(o for o in self.offers if o.current)

    def offer(self, name: str) -> Offer:
        for offer in self.offers:
            if offer.name == name:
                return offer
        raise CatalogueError(
            f"no offer {name!r} in {self.origin} (offers: {', '.join(self.names)})"
        )

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.offers]

    def select(self, names: list[str]) -> Catalogue:
        """Only the named offers, plus the current one (every comparison needs it)."""
        chosen = {self.offer(n).name for n in names} | {self.current.name}
        return Catalogue(tuple(o for o in self.offers if o.name in chosen), self.origin)

    def config_data(self) -> dict[str, Any]:
        return {"origin": self.origin, "offers": [o.config_data() for o in self.offers]}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogueError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _numbers(value: Any, where: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CatalogueError(f"{where}: expected a mapping of name -> number, got {value!r}")
    return {str(k): _number(v, f"{where}.{k}") for k, v in value.items()}


def _offer(raw: Any, where: str, owner: Tariff) -> Offer:
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{where}: an offer is a mapping with name and kind")
    unknown = set(raw) - OFFER_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(raw.get("name") or "").strip()
    if not name or "," in name:
        raise CatalogueError(f"{where}: every offer needs a name without commas")
    where = f"{where} ({name})"
    kind = str(raw.get("kind"))
    if kind not in KINDS:
        raise CatalogueError(f"{where}: kind must be one of {KINDS}, got {kind!r}")
    current = raw.get("current", False)
    if not isinstance(current, bool):
        raise CatalogueError(f"{where}: current must be true or false")
    fees = _numbers(raw.get("monthly_fees_pln"), f"{where}: monthly_fees_pln")
    if kind == "pipeline":
        extra = set(raw) - {"name", "kind", "current", "monthly_fees_pln", "note"}
        if extra:
            raise CatalogueError(
                f"{where}: a pipeline offer is priced as electricity_prices stores it; "
                f"{sorted(extra)} belong in GOODWE_TARIFF_FILE"
            )
        return Offer(name, kind, owner, current, {}, fees)

    overrides: dict[str, Any] = {"name": name}
    if "distribution" not in raw:
        raise CatalogueError(f"{where}: distribution (G11, G12, G12w or G13) is required")
    overrides["distribution_tariff"] = str(raw["distribution"])
    if "vat" in raw:
        overrides["vat"] = raw["vat"]
    if "sell" in raw:
        overrides["sell"] = raw["sell"]
    components = _numbers(raw.get("fixed_components_pln_kwh"), f"{where}: fixed_components")
    energy: dict[str, float] = {}
    if kind == "dynamic":
        if "energy_pln_kwh" in raw:
            raise CatalogueError(f"{where}: a dynamic offer has margin_pln_kwh, not energy_pln_kwh")
        components["margin"] = _number(raw.get("margin_pln_kwh", 0.0), f"{where}: margin_pln_kwh")
    else:
        if "margin_pln_kwh" in raw:
            raise CatalogueError(f"{where}: a fixed offer has energy_pln_kwh, not margin_pln_kwh")
        price = raw.get("energy_pln_kwh")
        if isinstance(price, Mapping):
            energy = _numbers(price, f"{where}: energy_pln_kwh")
        else:
            energy = {"*": _number(price, f"{where}: energy_pln_kwh")}
    overrides["fixed_components_pln_kwh"] = components
    base = owner.config_data()
    base["sell"] = {"rule": "rce", "factor": 1.0, "fixed_pln_kwh": None}
    try:
        tariff = tariff_from_dict(merge_tariff_data(base, overrides), where)
    except TariffError as exc:
        raise CatalogueError(str(exc)) from None
    if "*" not in energy and kind == "fixed":
        zones = {rule.zone for rule in tariff.rules}
        missing = sorted(zones - set(energy))
        if missing:
            raise CatalogueError(
                f"{where}: energy_pln_kwh has no price for zone(s) {missing} of "
                f"{tariff.distribution_tariff}"
            )
    return Offer(name, kind, tariff, current, energy, fees)


def catalogue_from_dict(data: Mapping[str, Any], owner: Tariff, origin: str) -> Catalogue:
    unknown = set(data) - {"offers"}
    if unknown:
        raise CatalogueError(f"{origin}: unknown keys {sorted(unknown)} (expected offers)")
    raw_offers = data.get("offers")
    if not isinstance(raw_offers, list) or not raw_offers:
        raise CatalogueError(f"{origin}: offers must be a non-empty list")
    offers = tuple(_offer(raw, f"{origin}: offers[{i}]", owner) for i, raw in enumerate(raw_offers))
    names = [o.name for o in offers]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CatalogueError(f"{origin}: offer names repeat: {repeated}")
    current = [o.name for o in offers if o.current]
    if len(current) != 1:
        raise CatalogueError(
            f"{origin}: exactly one offer must have `current: true` (found {current or 'none'})"
        )
    return Catalogue(offers, origin)


def load_catalogue(path: str | Path | None, owner: Tariff) -> Catalogue:
    """The catalogue at ``path`` (the built-in one when None), priced on ``owner``'s rules."""
    file = Path(path) if path else DEFAULT_CATALOGUE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(
            f"cannot read tariff catalogue {file}: {exc.strerror or exc}"
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"tariff catalogue {file} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise CatalogueError(f"tariff catalogue {file} must hold a mapping with `offers`")
    return catalogue_from_dict(data, owner, file.name if not path else str(file))
