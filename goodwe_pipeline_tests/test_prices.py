"""Prices from PSE, CSV files and a fixed price, turned into quarter hours; the asset and schedule."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest

from goodwe_pipeline.common.days import day_window
from goodwe_pipeline.defs.prices.assets import PRICE_RETRY, PricesConfig, electricity_prices
from goodwe_pipeline.defs.prices.checks import every_quarter_hour_priced
from goodwe_pipeline.defs.prices.resources import PricesResource
from goodwe_pipeline.defs.prices.schedules import REQUIRE_TOMORROW, tomorrow_prices
from goodwe_pipeline.defs.resources import WarehouseResource
from goodwe_pipeline.prices.pse_client import MARKET, RCE, PseClient
from goodwe_pipeline.prices.quarter_hours import (
    PriceDataError,
    PricesIncompleteError,
    PricesNotPublishedError,
    PriceSourceUnavailableError,
    day_prices,
    quarter_hours,
)
from goodwe_pipeline.prices.sources import (
    CsvSource,
    FixedSource,
    PseSource,
    parse_price_source,
    read_price_csv,
)
from goodwe_pipeline.prices.tariffs import load_tariff
from goodwe_pipeline_tests.servers import free_port

TZ = "Europe/Warsaw"
DAY = date(2025, 6, 10)
SPRING = date(2025, 3, 30)
AUTUMN = date(2025, 10, 26)
OLD_HOURLY_DAY = date(2024, 9, 3)
GROSS = 1.23
G11 = 0.0892 + 0.3200


def pse_rows(day: date, field: str, value: Callable[[int], float], minutes: int = 15) -> list[dict]:
    """PSE's rows for a business day: one per ``minutes`` of real time, local wall-clock labels.

    ``value(i)`` gives the price (PLN/MWh) of the i-th period of the day.
    """
    start, end = day_window(day, TZ)
    zone = ZoneInfo(TZ)
    rows, moment, index = [], start, 0
    while moment < end:
        local_start = moment.astimezone(zone)
        local_end = (moment + timedelta(minutes=minutes)).astimezone(zone)
        rows.append(
            {
                "dtime": local_end.strftime("%Y-%m-%d %H:%M"),
                "period": f"{local_start:%H:%M} - {local_end:%H:%M}",
                field: value(index),
                "business_date": day.isoformat(),
                "publication_ts": f"{day - timedelta(days=1)} 13:45:12.345",
            }
        )
        moment += timedelta(minutes=minutes)
        index += 1
    return rows


class PseStandIn:
    """A local HTTP server standing in for PSE's report API (there is no internet here).

    It answers ``GET /api/csdac-pln`` and ``/api/rce-pln`` with
    ``$filter=business_date eq 'YYYY-MM-DD'`` in PSE's exact response shape
    (``{"value": [{"dtime", "period", "csdac_pln"|"rce_pln", "business_date",
    "publication_ts"}]}``), an empty ``value`` list for days it has no rows
    for (not published yet), and can fail on purpose: an HTTP status, a slow
    answer, or pages joined by ``nextLink``.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[dict]] = {}
        self.status = 200
        self.delay_s = 0.0
        self.page_size: int | None = None
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                stand_in.requests.append(self.path)
                if stand_in.delay_s:
                    time.sleep(stand_in.delay_s)
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                endpoint = url.path.removeprefix("/api/")
                if stand_in.status != 200:
                    return self._send(stand_in.status, {"error": "unavailable"})
                text = query.get("$filter", [""])[0]
                prefix, quote = "business_date eq '", "'"
                if not (text.startswith(prefix) and text.endswith(quote)):
                    return self._send(400, {"error": f"bad filter {text!r}"})
                rows = stand_in.rows.get((endpoint, text[len(prefix) : -1]), [])
                skip = int(query.get("skip", ["0"])[0])
                body: dict = {"value": rows[skip:]}
                if stand_in.page_size is not None and len(rows) - skip > stand_in.page_size:
                    body["value"] = rows[skip : skip + stand_in.page_size]
                    next_query = urllib.parse.urlencode(
                        {"$filter": text, "skip": skip + stand_in.page_size}
                    )
                    body["nextLink"] = f"{stand_in.url}{url.path}?{next_query}"
                self._send(200, body)

            def _send(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, day: date, market: Callable[[int], float], rce=None, minutes=15) -> None:
        self.rows[("csdac-pln", day.isoformat())] = pse_rows(day, "csdac_pln", market, minutes)
        if rce is not None:
            self.rows[("rce-pln", day.isoformat())] = pse_rows(day, "rce_pln", rce, minutes)


@pytest.fixture
def pse() -> Iterator[PseStandIn]:
    stand_in = PseStandIn()
    stand_in.thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def pse_prices(pse: PseStandIn, day: date, *, now: datetime | None = None) -> pd.DataFrame:
    source = PseSource(PseClient(pse.url, timeout_s=2.0), now=now)
    return day_prices(source.rows(day, TZ), day, TZ, load_tariff(), "pse")


def test_pse_quarter_hours_become_buy_and_sell_prices(pse):
    pse.publish(DAY, market=lambda i: 400.0 + i, rce=lambda i: 380.0 + i)
    prices = pse_prices(pse, DAY)
    assert len(prices) == 96
    assert prices["time_start"].iloc[0] == pd.Timestamp("2025-06-09 22:00", tz="UTC")
    assert prices["market_pln_kwh"].tolist() == pytest.approx([(400 + i) / 1000 for i in range(96)])
    assert prices["buy_pln_kwh"].tolist() == pytest.approx(
        [((400 + i) / 1000 + G11) * GROSS for i in range(96)]
    )
    assert prices["sell_pln_kwh"].tolist() == pytest.approx([(380 + i) / 1000 for i in range(96)])
    assert set(prices["zone"]) == {"all-day"}
    assert (prices["partition_date"] == DAY).all()
    assert prices["tariff"].iloc[0] == load_tariff().label
    filters = [
        urllib.parse.parse_qs(urllib.parse.urlsplit(p).query)["$filter"] for p in pse.requests
    ]
    assert filters == [["business_date eq '2025-06-10'"]] * 2
    assert [urllib.parse.urlsplit(p).path for p in pse.requests] == [
        "/api/csdac-pln",
        "/api/rce-pln",
    ]


@pytest.mark.parametrize(
    ("day", "quarters"), [(SPRING, 92), (AUTUMN, 100)], ids=["spring", "autumn"]
)
def test_pse_dst_days_have_92_and_100_quarter_hours(pse, day, quarters):
    pse.publish(day, market=lambda i: float(i), rce=lambda i: float(i))
    prices = pse_prices(pse, day)
    assert len(prices) == quarters == len(quarter_hours(day, TZ))
    steps = prices["time_start"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(minutes=15)]
    # The i-th published period is the i-th quarter hour of real time, repeated hour included.
    assert prices["market_pln_kwh"].tolist() == pytest.approx([i / 1000 for i in range(quarters)])


def test_pse_hourly_older_days_are_spread_over_quarter_hours(pse):
    pse.publish(OLD_HOURLY_DAY, market=lambda h: 100.0 * h, rce=lambda h: 50.0 * h, minutes=60)
    prices = pse_prices(pse, OLD_HOURLY_DAY)
    assert len(prices) == 96
    assert prices["market_pln_kwh"].tolist() == pytest.approx(
        [h / 10 for h in range(24) for _ in range(4)]
    )
    assert prices["sell_pln_kwh"].tolist() == pytest.approx(
        [h / 20 for h in range(24) for _ in range(4)]
    )


def test_pse_hourly_autumn_day_has_25_hours(pse):
    pse.publish(AUTUMN, market=lambda h: 10.0 * h, minutes=60)
    prices = pse_prices(pse, AUTUMN)
    assert len(prices) == 100
    assert prices["market_pln_kwh"].iloc[8:16].tolist() == pytest.approx([0.02] * 4 + [0.03] * 4)


def test_pse_negative_prices_are_kept(pse):
    pse.publish(DAY, market=lambda i: -2500.0 if 48 <= i < 56 else 300.0, rce=lambda i: -200.0)
    prices = pse_prices(pse, DAY)
    assert prices["market_pln_kwh"].iloc[50] == -2.5
    assert prices["buy_pln_kwh"].iloc[50] == pytest.approx((-2.5 + G11) * GROSS)
    assert (prices["buy_pln_kwh"] < 0).sum() == 8
    assert (prices["sell_pln_kwh"] == -0.2).all()


def test_pse_pages_are_followed(pse):
    pse.page_size = 40
    pse.publish(DAY, market=lambda i: float(i), rce=lambda i: float(i))
    assert len(pse_prices(pse, DAY)) == 96
    assert len(pse.requests) == 6


def test_tomorrow_not_yet_published_is_a_transient_error(pse):
    tomorrow = DAY + timedelta(days=1)
    with pytest.raises(
        PricesNotPublishedError, match="has not published csdac-pln for 2025-06-11"
    ) as caught:
        pse_prices(pse, tomorrow, now=datetime(2025, 6, 10, 11, 0, tzinfo=UTC))
    assert caught.value.transient


def test_market_published_but_rce_not_yet_is_still_not_published(pse):
    tomorrow = DAY + timedelta(days=1)
    pse.publish(tomorrow, market=lambda i: 300.0)
    with pytest.raises(PricesNotPublishedError, match="rce-pln"):
        pse_prices(pse, tomorrow, now=datetime(2025, 6, 10, 12, 0, tzinfo=UTC))


def test_a_past_day_pse_never_had_is_a_permanent_error(pse):
    with pytest.raises(PriceDataError, match="past day 2023-05-01") as caught:
        pse_prices(pse, date(2023, 5, 1), now=datetime(2025, 6, 10, tzinfo=UTC))
    assert not caught.value.transient


def test_past_day_without_rce_sells_at_the_market_price(pse):
    pse.publish(DAY, market=lambda i: 500.0)
    prices = pse_prices(pse, DAY, now=datetime(2025, 7, 1, tzinfo=UTC))
    assert (prices["sell_pln_kwh"] == 0.5).all()


def test_api_errors_timeouts_and_refusals_are_unavailable(pse):
    client = PseClient(pse.url, timeout_s=0.3)
    pse.status = 503
    with pytest.raises(PriceSourceUnavailableError, match="HTTP 503"):
        client.day_rows(MARKET, DAY)
    pse.status = 200
    pse.delay_s = 1.0
    with pytest.raises(PriceSourceUnavailableError, match="did not answer within 0.3 s"):
        client.day_rows(RCE, DAY)
    closed = PseClient(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    with pytest.raises(PriceSourceUnavailableError, match="unreachable") as caught:
        closed.day_rows(MARKET, DAY)
    assert caught.value.transient


def test_malformed_pse_rows_are_data_errors(pse):
    pse.rows[("csdac-pln", DAY.isoformat())] = [{"period": "00:00 - 00:15", "csdac_pln": None}]
    with pytest.raises(PriceDataError, match="csdac_pln=None"):
        PseClient(pse.url).day_rows(MARKET, DAY)
    pse.rows[("csdac-pln", DAY.isoformat())] = [{"period": "midnight", "csdac_pln": 1.0}]
    with pytest.raises(PriceDataError, match="not 'HH:MM - HH:MM'"):
        PseClient(pse.url).day_rows(MARKET, DAY)


def test_base_url_may_end_in_api():
    assert PseClient("https://api.raporty.pse.pl/api/").base_url == "https://api.raporty.pse.pl"


def write_csv(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_hourly_local_times_including_the_repeated_autumn_hour(tmp_path):
    wall = [f"2025-10-26 {h:02d}:00" for h in range(3)] + ["2025-10-26 02:00"]
    wall += [f"2025-10-26 {h:02d}:00" for h in range(3, 24)]
    lines = ["time_start,market_pln_mwh"] + [f"{t},{100 * i}" for i, t in enumerate(wall)]
    path = write_csv(tmp_path / "prices.csv", "\n".join(lines) + "\n")
    source = CsvSource(path, TZ)
    prices = day_prices(source.rows(AUTUMN, TZ), AUTUMN, TZ, load_tariff(), "csv")
    assert len(prices) == 100
    assert prices["market_pln_kwh"].tolist() == pytest.approx(
        [i / 10 for i in range(25) for _ in range(4)]
    )


def test_csv_with_offsets_semicolons_decimal_commas_and_final_prices(tmp_path):
    start, _ = day_window(DAY, TZ)
    times = pd.date_range(start, periods=96, freq="15min").tz_convert(TZ)
    lines = ["time_start;buy_pln_kwh;sell_pln_kwh"]
    lines += [f"{t.isoformat()};{'0,5' if i < 48 else '1,25'};0,1" for i, t in enumerate(times)]
    path = write_csv(tmp_path / "final.csv", "\n".join(lines) + "\n")
    prices = day_prices(CsvSource(path, TZ).rows(DAY, TZ), DAY, TZ, load_tariff(), "csv")
    assert prices["buy_pln_kwh"].tolist() == [0.5] * 48 + [1.25] * 48
    assert (prices["sell_pln_kwh"] == 0.1).all()
    assert prices["market_pln_kwh"].isna().all()


def test_csv_problems_are_named(tmp_path):
    bad = write_csv(
        tmp_path / "bad.csv",
        "time_start,market_pln_kwh\n2025-06-10 00:00,0.4\n2025-06-10 01:00,cheap\n",
    )
    with pytest.raises(PriceDataError, match="line 3: market_pln_kwh='cheap'"):
        read_price_csv(bad, TZ)
    no_price = write_csv(tmp_path / "np.csv", "time_start,sell_pln_kwh\n2025-06-10 00:00,0.4\n")
    with pytest.raises(PriceDataError, match="needs a market_pln_mwh"):
        read_price_csv(no_price, TZ)
    units = write_csv(tmp_path / "mwh.csv", "time_start,market_pln_kwh\n2025-06-10 00:00,450\n")
    with pytest.raises(PriceDataError, match="PLN/MWh price given as PLN/kWh"):
        day_prices(read_price_csv(units, TZ), DAY, TZ, load_tariff(), "csv")
    gap = write_csv(
        tmp_path / "gap.csv",
        "time_start,market_pln_mwh\n"
        + "".join(f"2025-06-10 {h:02d}:00,300\n" for h in range(24) if h != 17),
    )
    with pytest.raises(
        PricesIncompleteError, match="92 of 96 quarter hours: 4 missing, the first at 17:00"
    ):
        day_prices(read_price_csv(gap, TZ), DAY, TZ, load_tariff(), "csv")
    with pytest.raises(PriceDataError, match="cannot read price CSV"):
        read_price_csv(tmp_path / "absent.csv", TZ)


def test_fixed_and_spec_parsing(tmp_path):
    fixed = parse_price_source("fixed:0,45", tz=TZ)
    assert isinstance(fixed, FixedSource) and fixed.price_pln_kwh == 0.45
    prices = day_prices(fixed.rows(SPRING, TZ), SPRING, TZ, load_tariff(), fixed.name)
    assert len(prices) == 92
    assert prices["buy_pln_kwh"].iloc[0] == pytest.approx((0.45 + G11) * GROSS)
    assert prices["sell_pln_kwh"].iloc[0] == 0.45
    assert isinstance(parse_price_source(None, tz=TZ), FixedSource)
    assert isinstance(parse_price_source(f"csv:{tmp_path}/p.csv", tz=TZ), CsvSource)
    source = parse_price_source("pse", tz=TZ, pse_url="http://127.0.0.1:9/api")
    assert isinstance(source, PseSource) and source.client.base_url == "http://127.0.0.1:9"
    for bad in ("fixed:", "fixed:abc", "nordpool", "csv:"):
        with pytest.raises(ValueError, match="GOODWE_PRICE_SOURCE"):
            parse_price_source(bad, tz=TZ)


# --- the asset, its check and its schedule -------------------------------------------------


def materialize_prices(resources: dict, first: str, last: str | None = None, **kwargs):
    tags = {}
    if last is not None:
        tags = {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
    return dg.materialize(
        [electricity_prices, every_quarter_hour_priced],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=None if last is not None else first,
        tags=tags,
        **kwargs,
    )


def stored(resource: WarehouseResource, sql: str | None = None) -> pd.DataFrame:
    with resource.get_warehouse() as warehouse:
        return warehouse.read_frame(
            sql
            or "SELECT partition_date, COUNT(*) AS n FROM electricity_prices "
            "GROUP BY partition_date ORDER BY partition_date"
        )


def test_asset_stores_pse_days_with_dst_in_one_run_and_records_the_tariff(pse, tmp_path):
    for day in (date(2025, 3, 29), SPRING, date(2025, 3, 31)):
        pse.publish(day, market=lambda i: 300.0 + i, rce=lambda i: 250.0)
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    resources = {"prices": PricesResource(source="pse", pse_url=pse.url), "warehouse": warehouse}
    result = materialize_prices(resources, "2025-03-29", "2025-03-31")
    assert result.success
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    assert stored(warehouse)["n"].tolist() == [96, 92, 96]
    configs = stored(warehouse, "SELECT config_name, version, config_data FROM system_configs")
    assert configs["version"].tolist() == [load_tariff().version]
    assert configs["config_data"][0]["vat"] == 0.23

    assert materialize_prices(resources, "2025-03-29", "2025-03-31").success
    assert stored(warehouse)["n"].tolist() == [96, 92, 96]
    assert len(stored(warehouse, "SELECT * FROM system_configs")) == 1


def test_not_yet_published_fails_clearly_writes_nothing_and_is_retried(pse, tmp_path):
    """The 14:30 run (today's partition, ``require_tomorrow``) fails and is retried while
    tomorrow is not published, and writes nothing, not even today's prices."""
    today = datetime.now(ZoneInfo(TZ)).date()
    pse.publish(today, market=lambda i: 300.0, rce=lambda i: 250.0)
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    context = dg.build_asset_context(partition_key=today.isoformat())
    with pytest.raises(dg.Failure, match="Tomorrow's prices .* not available yet") as caught:
        list(
            electricity_prices(
                context,
                config=PricesConfig(require_tomorrow=True),
                prices=PricesResource(source="pse", pse_url=pse.url),
                warehouse=warehouse,
            )
        )
    assert caught.value.allow_retries
    assert stored(warehouse).empty
    assert electricity_prices.op.retry_policy == PRICE_RETRY
    assert PRICE_RETRY.max_retries >= 3 and PRICE_RETRY.delay >= 600


def test_a_run_ending_today_stores_tomorrow_when_published_and_says_so_when_not(pse, tmp_path):
    today = datetime.now(ZoneInfo(TZ)).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    for day in (yesterday, today):
        pse.publish(day, market=lambda i: 300.0, rce=lambda i: 250.0)
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    resources = {"prices": PricesResource(source="pse", pse_url=pse.url), "warehouse": warehouse}
    result = materialize_prices(resources, yesterday.isoformat(), today.isoformat())
    assert result.success
    metadata = result.asset_materializations_for_node("electricity_prices")[0].metadata
    assert "not published yet" in metadata["tomorrow"].value
    assert stored(warehouse)["partition_date"].astype(str).tolist() == [
        yesterday.isoformat(),
        today.isoformat(),
    ]

    pse.publish(tomorrow, market=lambda i: 500.0, rce=lambda i: 450.0)
    result = materialize_prices(resources, today.isoformat())
    assert result.success
    metadata = result.asset_materializations_for_node("electricity_prices")[0].metadata
    assert metadata["tomorrow"].value == f"{tomorrow}: stored"
    assert stored(warehouse)["partition_date"].astype(str).tolist()[-1] == tomorrow.isoformat()

    past = materialize_prices(resources, yesterday.isoformat())
    assert past.success
    metadata = past.asset_materializations_for_node("electricity_prices")[0].metadata
    assert metadata["tomorrow"].value.startswith("not asked")


def test_a_range_with_one_bad_day_writes_no_day_and_is_not_retried(tmp_path):
    rows = "".join(
        f"2025-06-{d:02d} {h:02d}:00,300\n"
        for d in (10, 11)
        for h in range(24)
        if (d, h) != (11, 5)
    )
    path = write_csv(tmp_path / "prices.csv", "time_start,market_pln_mwh\n" + rows)
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    resources = {"prices": PricesResource(source=f"csv:{path}"), "warehouse": warehouse}
    result = materialize_prices(resources, "2025-06-10", "2025-06-11", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "2025-06-11 cover 92 of 96" in failure.step_failure_data.error.message
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    assert stored(warehouse).empty


def test_check_run_on_its_own_finds_quarter_hours_removed_from_the_last_week(tmp_path):
    today = datetime.now(ZoneInfo(TZ)).date()
    week = [today - timedelta(days=n) for n in range(6, -1, -1)]
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    resources = {"prices": PricesResource(source="fixed:0.5"), "warehouse": warehouse}
    assert materialize_prices(resources, week[0].isoformat(), week[-1].isoformat()).success
    victim = week[2]
    start = day_window(victim, TZ)[0] + timedelta(hours=5)
    with warehouse.get_warehouse() as store:
        store.execute(
            "DELETE FROM electricity_prices WHERE time_start >= :a AND time_start < :b",
            {"a": start, "b": start + timedelta(minutes=30)},
        )
    result = dg.materialize(
        [electricity_prices, every_quarter_hour_priced],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        selection=dg.AssetSelection.checks_for_assets(electricity_prices),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["days_checked"].value == 7
    assert evaluation.metadata["days_incomplete"].value == 1
    table = evaluation.metadata["incomplete"].value
    assert victim.isoformat() in table and "05:00" in table


def test_schedule_asks_for_tomorrow_in_local_time():
    """At 14:30 the schedule runs today's partition with ``require_tomorrow``: the run
    fetches tomorrow too (the last day of the run is today) and retries until it is out."""
    moment = datetime(2025, 10, 25, 14, 30, tzinfo=ZoneInfo(TZ))
    request = tomorrow_prices(dg.build_schedule_context(scheduled_execution_time=moment))
    assert request.partition_key == "2025-10-25"
    assert request.run_config == REQUIRE_TOMORROW
    assert PricesConfig(**REQUIRE_TOMORROW["ops"]["electricity_prices"]["config"]).require_tomorrow
    assert tomorrow_prices.execution_timezone == TZ
    assert tomorrow_prices.default_status == dg.DefaultScheduleStatus.RUNNING
    assert tomorrow_prices.cron_schedule == "30 14 * * *"
