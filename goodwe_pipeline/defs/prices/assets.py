"""``electricity_prices``: what a kWh cost to buy and earned when sold, per quarter hour."""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from goodwe_pipeline.charts.prices import price_series, prices_figure
from goodwe_pipeline.common import days
from goodwe_pipeline.defs import day_events
from goodwe_pipeline.defs.partitions import daily_partitions, partition_days, recent_days
from goodwe_pipeline.defs.prices.resources import PricesResource
from goodwe_pipeline.defs.resources import WarehouseResource, warehouse_kind
from goodwe_pipeline.prices.quarter_hours import PriceSourceError, day_prices, days_summary
from goodwe_pipeline.prices.tariffs import CONFIG_NAME, TariffError

PRICE_RETRY = dg.RetryPolicy(max_retries=6, delay=1200)
"""Tomorrow's prices appear in the early afternoon: try again every 20 minutes for two hours."""
MAX_TABLE_DAYS = 31


class PricesConfig(dg.Config):
    """How the run treats tomorrow, fetched whenever the run's last day is today."""

    require_tomorrow: bool = False
    """Fail (and retry) while tomorrow's prices are not published: the 14:30 schedule sets it.
    Otherwise a run ending today stores tomorrow's prices when they are out and says so when not."""


def tomorrow_of(last: date) -> date | None:
    """The day after ``last`` when ``last`` is today (the newest partition), else None."""
    today = recent_days(1)[1]
    return last + timedelta(days=1) if last == today else None


def _hourly_table(frame: pd.DataFrame, tz: str) -> str:
    local = pd.to_datetime(frame["time_start"], utc=True).dt.tz_convert(tz)
    table = (
        frame.assign(hour=local.dt.strftime("%H:00 %Z"))
        .groupby("hour", sort=False)
        .agg(zone=("zone", "first"), buy=("buy_pln_kwh", "mean"), sell=("sell_pln_kwh", "mean"))
        .round(4)
    )
    return table.to_markdown()


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="prices",
    kinds={warehouse_kind()},
    retry_policy=PRICE_RETRY,
    description=(
        "The price of electricity in every quarter hour of the day, in PLN/kWh: what you pay "
        "to buy (market price plus your tariff's fees, distribution rate of the hour's zone "
        "and VAT) and what exported energy earns (RCE under net-billing). Tomorrow's prices "
        "are fetched in the early afternoon, when PSE publishes them. Source and tariff: "
        "`GOODWE_PRICE_SOURCE`, `GOODWE_TARIFF_FILE`."
    ),
)
def electricity_prices(
    context: dg.AssetExecutionContext,
    config: PricesConfig,
    prices: PricesResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    first, last = partition_days(context)
    tz = daily_partitions.timezone
    tomorrow = tomorrow_of(last)
    try:
        tariff = prices.get_tariff()
        source = prices.get_source(tariff)
    except (TariffError, ValueError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    frames: list[pd.DataFrame] = []
    for day in days.iter_days(first, last):
        try:
            frames.append(day_prices(source.rows(day, tz), day, tz, tariff, source.name))
        except PriceSourceError as exc:
            raise dg.Failure(
                description=f"No prices written for {first}..{last}: {exc}",
                metadata={"day": day.isoformat(), "source": source.describe()},
                allow_retries=exc.transient,
            ) from None
    tomorrow_note = "not asked (the run does not end today)"
    if tomorrow is not None:
        try:
            frames.append(day_prices(source.rows(tomorrow, tz), tomorrow, tz, tariff, source.name))
            tomorrow_note = f"{tomorrow}: stored"
        except PriceSourceError as exc:
            if config.require_tomorrow:
                raise dg.Failure(
                    description=f"Tomorrow's prices ({tomorrow}) are not available yet: {exc}",
                    metadata={"day": tomorrow.isoformat(), "source": source.describe()},
                    allow_retries=True,
                ) from None
            tomorrow_note = f"{tomorrow}: not published yet ({exc})"
            context.log.warning(f"tomorrow's prices: {tomorrow_note}")
    with warehouse.get_warehouse() as warehouse:
        warehouse.record_config(CONFIG_NAME, tariff.config_data())
        for frame in frames:
            warehouse.replace(
                "electricity_prices", {"partition_date": frame["partition_date"].iloc[0]}, frame
            )
    every = pd.concat(frames, ignore_index=True)
    context.log.info(
        f"prices {first}..{last}: {len(every)} quarter hours from {source.describe()}, "
        f"tariff {tariff.label}"
    )
    partition_frames = [f for f in frames if f["partition_date"].iloc[0] <= last]
    run_metadata: dict[str, object] = {
        "run_days": len(partition_frames),
        "rows_written": len(every),
        "source": source.describe(),
        "tariff": tariff.label,
        "tariff_name": tariff.name,
        "tomorrow": tomorrow_note,
    }
    if len(partition_frames) > 1:
        summary = days_summary(every, tz)
        run_metadata["days_of_the_run"] = dg.MetadataValue.md(
            summary.tail(MAX_TABLE_DAYS).to_markdown(index=False)
        )
    charted = day_events.chart_days(f["partition_date"].iloc[0] for f in partition_frames)
    per_day = {
        frame["partition_date"].iloc[0]: _day_metadata(
            context, frame, tz, frame["partition_date"].iloc[0] in charted
        )
        for frame in partition_frames
    }
    yield from day_events.finish(context, run_metadata, per_day)


def _day_metadata(
    context: dg.AssetExecutionContext, frame: pd.DataFrame, tz: str, with_chart: bool
) -> dict[str, object]:
    """One day's prices: its figures, its hours as a table and (when charted) its chart."""
    day = frame["partition_date"].iloc[0]
    metadata: dict[str, object] = {
        "quarters": len(frame),
        "buy_min_pln_kwh": float(frame["buy_pln_kwh"].min()),
        "buy_mean_pln_kwh": round(float(frame["buy_pln_kwh"].mean()), 4),
        "buy_max_pln_kwh": float(frame["buy_pln_kwh"].max()),
        "sell_mean_pln_kwh": round(float(frame["sell_pln_kwh"].mean()), 4),
        "negative_buy_quarters": int((frame["buy_pln_kwh"] < 0).sum()),
        "prices": dg.MetadataValue.md(_hourly_table(frame, tz)),
    }
    if with_chart:
        metadata["chart"] = day_events.chart(
            context, lambda: prices_figure(price_series(frame, day, tz)), f"prices {day}"
        )
    return metadata
