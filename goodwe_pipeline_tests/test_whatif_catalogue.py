"""The tariff catalogue: the shipped defaults, the owner's own file, and clear errors."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.prices.tariffs import load_tariff
from goodwe_pipeline.whatif.battery import DEFAULT_LIMITS, MIN_SWING_PCT, learn_limits
from goodwe_pipeline.whatif.catalogue import CatalogueError, load_catalogue

OWNER = load_tariff(None)
TZ = "Europe/Warsaw"


def test_the_shipped_catalogue_has_the_classic_and_dynamic_offers_and_one_current():
    catalogue = load_catalogue(None, OWNER)
    assert catalogue.names == ["current", "G11", "G12", "G12w", "G13", "dynamic-G12w"]
    assert catalogue.current.name == "current" and catalogue.current.kind == "pipeline"
    assert catalogue.select(["G12w"]).names == ["current", "G12w"]
    with pytest.raises(CatalogueError, match="no offer 'G14'"):
        catalogue.select(["G14"])


def _prices(offer, local_times, market):
    n = len(local_times)
    return offer.prices(
        pd.DatetimeIndex(local_times),
        market=np.asarray(market, dtype=float),
        stored_buy=np.full(n, 9.0),
        stored_sell=np.full(n, 0.3),
        stored_zone=np.full(n, "stored", dtype=object),
        owner=OWNER,
    )


def test_offers_price_each_quarter_hour_with_the_tariff_zone_rules_and_vat():
    catalogue = load_catalogue(None, OWNER)
    times = pd.DatetimeIndex(
        ["2025-06-10 23:00", "2025-06-10 10:00", "2025-06-14 10:00"]  # Tue night, Tue, Sat
    ).tz_localize(TZ)
    buy, sell, zone = _prices(catalogue.offer("G12w"), times, [0.2, 0.2, 0.2])
    assert list(zone) == ["off-peak", "peak", "off-peak"]
    assert buy == pytest.approx(
        [(0.40 + 0.098) * 1.23, (0.58 + 0.39) * 1.23, (0.40 + 0.098) * 1.23]
    )
    assert sell == pytest.approx([0.3, 0.3, 0.3])  # RCE recovered from the stored sell price
    buy, _, _ = _prices(catalogue.offer("dynamic-G12w"), times, [0.2, -0.5, 0.1])
    assert buy == pytest.approx(
        [(0.2 + 0.08 + 0.098) * 1.23, (-0.5 + 0.08 + 0.39) * 1.23, (0.1 + 0.08 + 0.098) * 1.23]
    )
    buy, sell, zone = _prices(catalogue.current, times, [np.nan] * 3)
    assert list(buy) == [9.0] * 3 and list(zone) == ["stored"] * 3
    buy, _, _ = _prices(catalogue.offer("dynamic-G12w"), times, [np.nan] * 3)
    assert np.isnan(buy).all()  # no market price: the dynamic offer cannot be priced


def test_monthly_fees_are_spread_over_the_days_of_the_month():
    offer = load_catalogue(None, OWNER).offer("G11")
    february = sum(offer.fee_of_day(date(2026, 2, d)) for d in range(1, 29))
    assert february == pytest.approx(offer.monthly_fee_pln)


def test_the_owner_catalogue_replaces_the_shipped_one(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "offers:\n"
        "  - {name: my-G11, kind: fixed, current: true, distribution: G11, energy_pln_kwh: 0.6,"
        " monthly_fees_pln: {all: 30}}\n"
        "  - {name: spot, kind: dynamic, distribution: G11, margin_pln_kwh: 0.05,"
        " sell: {rule: market, factor: 0.9}}\n"
    )
    catalogue = load_catalogue(path, OWNER)
    assert catalogue.names == ["my-G11", "spot"] and catalogue.current.name == "my-G11"
    times = pd.DatetimeIndex(["2025-06-10 12:00"]).tz_localize(TZ)
    _, sell, _ = _prices(catalogue.offer("spot"), times, [0.5])
    assert sell == pytest.approx([0.45])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("offers: []", "non-empty list"),
        ("offers:\n  - {name: a, kind: pipeline}\n", "exactly one offer must have"),
        (
            "offers:\n  - {name: a, kind: pipeline, current: true}\n"
            "  - {name: a, kind: fixed, distribution: G11, energy_pln_kwh: 0.5}\n",
            "repeat",
        ),
        (
            "offers:\n  - {name: a, kind: pipeline, current: true}\n"
            "  - {name: b, kind: fixed, distribution: G12, energy_pln_kwh: {peak: 0.5}}\n",
            "no price for zone",
        ),
        (
            "offers:\n  - {name: a, kind: pipeline, current: true, distribution: G12}\n",
            "belong in GOODWE_TARIFF_FILE",
        ),
        (
            "offers:\n  - {name: a, kind: pipeline, current: true}\n"
            "  - {name: b, kind: fixed, distribution: G99, energy_pln_kwh: 0.5}\n",
            "G99",
        ),
        ("offers:\n  - {name: a, kind: flat, current: true}\n", "kind must be one of"),
        ("offers:\n  - {name: a, kind: pipeline, current: true, colour: red}\n", "unknown keys"),
        ("offers: [\n", "not valid YAML"),
    ],
)
def test_a_bad_catalogue_is_refused_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path, OWNER)


def test_a_missing_catalogue_file_is_named():
    with pytest.raises(CatalogueError, match="cannot read tariff catalogue"):
        load_catalogue("/nonexistent/catalogue.yaml", OWNER)


def _sessions(kind: str, count: int, kwh_per_point: float, hours: float) -> list[dict]:
    swing = 40.0
    return [
        {
            "kind": kind,
            "status": "completed",
            "energy_kwh": kwh_per_point * swing,
            "soc_start": 20.0 if kind == "charge" else 60.0 + i,
            "soc_end": 60.0 if kind == "charge" else 20.0 + i,
            "duration_s": hours * 3600,
        }
        for i in range(count)
    ]


def test_battery_limits_are_learned_from_sessions_and_say_where_they_come_from():
    sessions = pd.DataFrame(
        _sessions("charge", 4, 0.11, 2.0) + _sessions("discharge", 3, 0.09, 1.5)
    )
    limits = learn_limits(sessions)
    assert limits.capacity_kwh == pytest.approx(100 * np.sqrt(0.11 * 0.09))
    assert limits.round_trip_efficiency == pytest.approx(0.09 / 0.11)
    assert (limits.soc_min_pct, limits.soc_max_pct) == (20.0, 62.0)
    assert limits.charge_kw == pytest.approx(0.11 * 40 / 2.0)
    assert limits.discharge_kw == pytest.approx(0.09 * 40 / 1.5)
    assert "4 charge and 3 discharge" in limits.sources["capacity_kwh"]
    assert str(int(MIN_SWING_PCT)) in limits.sources["capacity_kwh"]
    assert limits.usable_kwh == pytest.approx(limits.capacity_kwh * 0.42)


def test_too_little_history_falls_back_to_the_documented_defaults():
    assert learn_limits(pd.DataFrame(_sessions("charge", 2, 0.1, 1.0))).capacity_kwh == (
        DEFAULT_LIMITS.capacity_kwh
    )
    limits = learn_limits(pd.DataFrame(columns=["kind", "status", "energy_kwh"]))
    assert limits == DEFAULT_LIMITS
    assert set(limits.sources.values()) == {"default (too little history)"}
