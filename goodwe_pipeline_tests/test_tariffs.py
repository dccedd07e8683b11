"""The tariff: zones by local hour, the buy-price formula, sell rules and the YAML file."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd
import pytest

from goodwe_pipeline.prices.tariffs import (
    TariffError,
    load_tariff,
    polish_holidays,
    tariff_from_dict,
)

TZ = "Europe/Warsaw"


def local(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)


def with_tariff(name: str):
    return dataclasses.replace(load_tariff(), distribution_tariff=name)


def test_default_is_g11_with_the_documented_formula():
    tariff = load_tariff()
    assert tariff.distribution_tariff == "G11"
    assert tariff.vat == 0.23
    assert tariff.fixed_pln_kwh == pytest.approx(0.0892)
    price, zone = tariff.buy_price(0.50, local("2025-06-10 03:00"))
    assert zone == "all-day"
    assert price == pytest.approx((0.50 + 0.0892 + 0.3200) * 1.23)


def test_negative_market_prices_are_kept():
    price, _ = load_tariff().buy_price(-2.0, local("2025-06-10 13:00"))
    assert price == pytest.approx((-2.0 + 0.0892 + 0.3200) * 1.23)
    assert price < 0


@pytest.mark.parametrize(
    ("when", "zone"),
    [
        ("2025-06-10 05:45", "off-peak"),
        ("2025-06-10 06:00", "peak"),
        ("2025-06-10 12:45", "peak"),
        ("2025-06-10 13:00", "off-peak"),
        ("2025-06-10 14:45", "off-peak"),
        ("2025-06-10 15:00", "peak"),
        ("2025-06-10 21:45", "peak"),
        ("2025-06-10 22:00", "off-peak"),
        ("2025-06-14 12:00", "peak"),  # G12 ignores weekends
    ],
)
def test_g12_zones(when, zone):
    assert with_tariff("G12").buy_price(0.0, local(when))[1] == zone


@pytest.mark.parametrize(
    ("when", "zone"),
    [
        ("2025-06-10 12:00", "peak"),  # Tuesday
        ("2025-06-10 23:00", "off-peak"),
        ("2025-06-14 12:00", "off-peak"),  # Saturday
        ("2025-06-15 18:00", "off-peak"),  # Sunday
        ("2025-11-11 12:00", "off-peak"),  # Independence Day, a Tuesday
        ("2025-06-19 12:00", "off-peak"),  # Corpus Christi, a Thursday
        ("2025-12-24 12:00", "off-peak"),  # a holiday from 2025 on
        ("2024-12-24 12:00", "peak"),  # not yet in 2024
    ],
)
def test_g12w_weekends_and_holidays_are_off_peak(when, zone):
    assert with_tariff("G12w").buy_price(0.0, local(when))[1] == zone


@pytest.mark.parametrize(
    ("when", "zone"),
    [
        ("2025-07-01 08:00", "morning-peak"),
        ("2025-07-01 16:30", "off-peak"),  # summer afternoon peak starts at 19:00
        ("2025-07-01 20:00", "afternoon-peak"),
        ("2025-01-07 16:30", "afternoon-peak"),  # winter: 16:00-21:00
        ("2025-01-07 21:30", "off-peak"),
        ("2025-04-21 08:00", "off-peak"),  # Easter Monday
        ("2025-07-05 20:00", "off-peak"),  # Saturday
    ],
)
def test_g13_seasons(when, zone):
    assert with_tariff("G13").buy_price(0.0, local(when))[1] == zone


def test_vectorised_over_a_frame_matches_scalar_prices_and_knows_dst():
    tariff = with_tariff("G12")
    starts = pd.date_range("2025-03-29 23:00", periods=92, freq="15min", tz="UTC")
    frame = pd.DataFrame({"local": starts.tz_convert(TZ)})
    frame["market"] = np.linspace(-0.5, 1.5, len(frame))
    prices, zones = tariff.buy_price(frame["market"], frame["local"])
    assert len(prices) == 92
    for i in (0, 7, 8, 40, 91):
        price, zone = tariff.buy_price(float(frame["market"][i]), frame["local"][i])
        assert prices[i] == pytest.approx(price)
        assert zones[i] == zone
    # 06:00 local on the 23-hour day is the 20th quarter hour after midnight, not the 24th.
    assert zones[19] == "off-peak"
    assert zones[20] == "peak"


def test_zone_lookup_refuses_naive_times():
    with pytest.raises(TariffError, match="timezone-aware"):
        load_tariff().zones(pd.Timestamp("2025-06-10 12:00"))


def test_sell_rules():
    market = np.array([0.4, -0.1, 0.3])
    rce = np.array([0.35, np.nan, -0.2])
    tariff = load_tariff()
    assert list(tariff.sell_price(market, rce)) == pytest.approx([0.35, -0.1, -0.2])
    scaled = dataclasses.replace(
        tariff, sell=dataclasses.replace(tariff.sell, rule="market", factor=0.9)
    )
    assert list(scaled.sell_price(market, rce)) == pytest.approx([0.36, -0.09, 0.27])
    fixed = dataclasses.replace(
        tariff, sell=dataclasses.replace(tariff.sell, rule="fixed", fixed_pln_kwh=0.2)
    )
    assert list(fixed.sell_price(market, rce)) == [0.2, 0.2, 0.2]


def test_polish_holidays_follow_easter():
    assert date(2025, 4, 20) in polish_holidays(2025)  # Easter Sunday
    assert date(2025, 4, 21) in polish_holidays(2025)
    assert date(2025, 6, 8) in polish_holidays(2025)  # Pentecost
    assert date(2025, 6, 19) in polish_holidays(2025)  # Corpus Christi
    assert date(2024, 3, 31) in polish_holidays(2024)
    assert date(2024, 5, 30) in polish_holidays(2024)
    assert date(2024, 12, 24) not in polish_holidays(2024)
    assert len(polish_holidays(2025)) == 14


def test_a_user_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "tariff.yaml"
    path.write_text(
        "name: my G12w\n"
        "distribution_tariff: G12w\n"
        "fixed_components_pln_kwh:\n  trading_fee: 0.05\n  excise: 0.005\n"
        "extra_holidays: ['2025-06-10']\n"
        "sell:\n  factor: 0.8\n"
    )
    tariff = load_tariff(path)
    assert tariff.name == "my G12w"
    assert tariff.vat == 0.23
    assert tariff.fixed_pln_kwh == pytest.approx(0.055)
    assert tariff.sell.rule == "rce" and tariff.sell.factor == 0.8
    # The extra holiday makes a Tuesday noon off-peak.
    price, zone = tariff.buy_price(0.5, local("2025-06-10 12:00"))
    assert zone == "off-peak"
    assert price == pytest.approx((0.5 + 0.055 + 0.0980) * 1.23)


def test_version_is_stable_and_follows_content(tmp_path):
    tariff = load_tariff()
    assert tariff.version == load_tariff().version
    assert tariff_from_dict(tariff.config_data()).version == tariff.version
    assert with_tariff("G12").version != tariff.version
    assert tariff.label == f"G11@{tariff.version}"
    data = tariff.config_data()
    assert data["fixed_components_pln_kwh"] == {"trading_fee": 0.0892}
    assert data["distribution"]["G12"][0]["hours"] == ["22:00-06:00", "13:00-15:00"]


def test_own_tariff_with_custom_zones(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "distribution_tariff: night\n"
        "vat: 0.0\n"
        "fixed_components_pln_kwh: {}\n"
        "distribution:\n"
        "  night:\n"
        "    - {zone: night, rate_pln_kwh: 0.1, hours: ['23:00-24:00', '00:00-07:00']}\n"
        "    - {zone: day, rate_pln_kwh: 0.3}\n"
    )
    tariff = load_tariff(path)
    assert tariff.buy_price(0.5, local("2025-06-10 23:30")) == (pytest.approx(0.6), "night")
    assert tariff.buy_price(0.5, local("2025-06-10 07:00")) == (pytest.approx(0.8), "day")
    assert "G12" in tariff.distribution  # the defaults are still there to switch to


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vat: [1\n", "not valid YAML"),
        ("- a\n- b\n", "mapping at the top level"),
        ("colour: blue\n", "unknown keys"),
        ("vat: 23\n", "vat is a fraction"),
        ("distribution_tariff: G14\n", "'G14' is not one of"),
        (
            "distribution:\n  G11:\n    - {zone: x, rate_pln_kwh: 0.1, hours: ['06:00-22:00']}\n",
            "no conditions",
        ),
        (
            "distribution:\n  G11:\n    - {zone: x, rate_pln_kwh: 0.1, hours: ['25:00-02:00']}\n    - {zone: y, rate_pln_kwh: 0.2}\n",
            "not a time of day",
        ),
        ("distribution:\n  G11:\n    - {zone: x, rate_pln_kwh: cheap}\n", "expected a number"),
        (
            "distribution:\n  G11:\n    - {zone: x, rate_pln_kwh: 0.1, days: holidays}\n    - {zone: y, rate_pln_kwh: 0.2}\n",
            "days must be one of",
        ),
        ("sell: {rule: fixed}\n", "sell.fixed_pln_kwh"),
        ("sell: {rule: best}\n", "sell.rule must be one of"),
        ("extra_holidays: ['2025-13-01']\n", "extra_holidays"),
    ],
)
def test_bad_tariff_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TariffError, match=message) as caught:
        load_tariff(path)
    assert str(path) in str(caught.value)


def test_missing_tariff_file_is_a_clear_error(tmp_path):
    with pytest.raises(TariffError, match="cannot read tariff file"):
        load_tariff(tmp_path / "absent.yaml")
