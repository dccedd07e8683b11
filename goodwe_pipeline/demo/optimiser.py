"""The household of the demo history, run for weeks by a simulated price optimiser.

The physics is the emulator's ``Household`` (self-consumption: the battery
absorbs surplus and covers deficit, the grid balances the rest). On top, as the
GoodWe Dynamic Price Optimiser did, a command can force the battery: charge
from the grid in the night's cheapest hours up to a target charge, or sell to
the grid in the evening's dearest hour down to a floor. Each day also gets its
own weather (overcast to clear). ``simulate`` yields, day by day, the readings
the optimiser polled once a minute and what it planned and decided.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from goodwe_pipeline.common import days
from goodwe_pipeline.emulator.household import Household, HouseholdConfig, Powers

POLL = timedelta(seconds=60)
POLL_OFFSET_S = 7.0
CHARGE_POWER_W = 3000.0
CHARGE_TARGET_PCT = 85.0
CHARGE_QUARTERS = 12
SELL_POWER_W = 5000.0
SELL_MIN_SOC_PCT = 60.0
SELL_FLOOR_PCT = 45.0
SELL_MIN_PRICE_PLN_MWH = 760.0
FIXED_PLN_KWH = 0.0892
"""The optimiser's fixed net component on top of the market price (spec §5)."""
WARM_UP = timedelta(hours=6)


def distribution_pln_kwh(local_hour: int) -> float:
    """G12 distribution rate: cheap at night (22-06) and 13-15, dear otherwise."""
    return 0.0865 if local_hour >= 22 or local_hour < 6 or 13 <= local_hour < 15 else 0.3566


def buy_pln_kwh(market_pln_mwh: float, local_hour: int) -> float:
    """The optimiser's buy price: market price + fixed component + distribution (net)."""
    return round(market_pln_mwh / 1000 + FIXED_PLN_KWH + distribution_pln_kwh(local_hour), 4)


@dataclass(frozen=True)
class Command:
    """Force the battery between ``start`` and ``end`` (UTC): ``charge`` from the grid up to
    ``soc_limit_pct`` or ``sell`` to the grid down to it, at ``power_w``."""

    kind: str
    start: datetime
    end: datetime
    power_w: float
    soc_limit_pct: float


@dataclass(frozen=True)
class Weather:
    """One day's conditions: the share of clear-sky PV and the house's appetite."""

    pv_factor: float
    load_factor: float


_FAIR = Weather(pv_factor=1.0, load_factor=1.0)


class OptimisedHousehold(Household):
    """``Household`` with daily weather and the optimiser's battery commands."""

    def __init__(self, config: HouseholdConfig, start: datetime, weather: dict[date, Weather]):
        self.weather = weather
        self.command: Command | None = None
        super().__init__(config, start)

    def conditions(self, moment: datetime) -> Weather:
        return self.weather.get(moment.astimezone(self.zone).date(), _FAIR)

    def pv_w(self, moment: datetime) -> float:
        return super().pv_w(moment) * self.conditions(moment).pv_factor

    def load_w(self, moment: datetime) -> float:
        return super().load_w(moment) * self.conditions(moment).load_factor

    def powers_at(self, moment: datetime, soc_wh: float | None = None) -> Powers:
        flows = super().powers_at(moment, soc_wh)
        command = self.command
        if command is None or not command.start <= moment < command.end:
            return flows
        capacity_wh = self.config.battery_kwh * 1000
        soc = 100 * (self.soc_wh if soc_wh is None else soc_wh) / capacity_wh
        taper = self.config.taper_pct
        if command.kind == "charge":
            room = min(max((command.soc_limit_pct - soc) / taper, 0.0), 1.0)
            battery = min(flows.battery, -command.power_w * room)
        else:
            room = min(max((soc - command.soc_limit_pct) / taper, 0.0), 1.0)
            battery = max(flows.battery, command.power_w * room)
        return Powers(
            pv1=flows.pv1,
            pv2=flows.pv2,
            battery=battery,
            grid=flows.pv + battery - flows.load,
            load=flows.load,
        )


@dataclass(slots=True)
class Sample:
    """One poll of the inverter, in the units the optimiser stored (W, V, A, kWh, %)."""

    utc: datetime
    local: datetime
    """Naive local wall-clock time, as ``datetime.now()`` gave it."""
    values: dict[str, float]
    """``goodwe`` ET sensor ids (``ppv1``, ``pbattery1``, ``active_power``, ``e_day``...)."""
    forced: str | None
    """``charge``/``sell`` while an optimiser command drives the battery."""


@dataclass
class Decision:
    """One decision file/row the optimiser wrote."""

    kind: str
    """``charging`` or ``selling``."""
    utc: datetime
    local: datetime
    action: str
    reason: str
    soc: float
    pv_w: float
    load_w: float
    price_pln_kwh: float
    details: dict = field(default_factory=dict)


@dataclass
class Session:
    """A planned (and maybe executed) charge, or an executed sale, with its outcome."""

    session_id: str
    kind: str
    start: datetime
    end: datetime
    start_local: datetime
    end_local: datetime
    power_w: float
    target_energy_kwh: float
    estimated_cost_pln: float
    estimated_savings_pln: float
    avg_price_pln_kwh: float
    status: str = "planned"
    start_soc: float | None = None
    end_soc: float | None = None
    actual_energy_kwh: float | None = None
    actual_cost_pln: float | None = None
    started_local: datetime | None = None
    completed_local: datetime | None = None


@dataclass
class Day:
    """What one local day of the simulation produced."""

    day: date
    samples: list[Sample]
    decisions: list[Decision]
    plan: list[Session]
    plan_created: datetime
    sales: list[Session]
    stats: dict


@dataclass(frozen=True)
class SimulationConfig:
    first: date
    last: date
    tz: str = "Europe/Warsaw"
    seed: int = 7
    household: HouseholdConfig = field(default_factory=HouseholdConfig)
    outages: tuple[tuple[datetime, datetime], ...] = ()
    """UTC spans with no reading (dongle down, optimiser restarting)."""


def weather_by_day(first: date, last: date, seed: int) -> dict[date, Weather]:
    """Per day: overcast (PV 0.15-0.35), mixed (0.4-0.7) or clear (0.8-1.0); the house uses
    a little more on dull days and weekends."""
    rng = random.Random(seed * 104729 + 3)
    weather = {}
    for day in days.iter_days(first - timedelta(days=1), last + timedelta(days=1)):
        draw = rng.random()
        low, high = (0.15, 0.35) if draw < 0.4 else (0.4, 0.7) if draw < 0.75 else (0.8, 1.0)
        pv = rng.uniform(low, high)
        load = rng.uniform(0.85, 1.1) + 0.1 * (1 - pv) + (0.08 if day.weekday() >= 5 else 0.0)
        weather[day] = Weather(pv_factor=pv, load_factor=load)
    return weather


class _Prices:
    """The market prices the optimiser saw, by quarter hour."""

    def __init__(self, prices: pd.DataFrame, tz: str):
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.starts = [t.to_pydatetime() for t in prices["time_start"]]
        self.market = [float(v) for v in prices["market_pln_mwh"]]
        self.index = {start: i for i, start in enumerate(self.starts)}

    def market_at(self, moment: datetime) -> float:
        quarter = moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
        return self.market[self.index[quarter.astimezone(UTC)]]

    def buy_at(self, moment: datetime) -> float:
        return buy_pln_kwh(self.market_at(moment), moment.astimezone(self.zone).hour)

    def day_quarters(self, day: date) -> list[tuple[datetime, float]]:
        start, end = days.day_window(day, self.tz)
        return [(s, self.market[i]) for i, s in enumerate(self.starts) if start <= s < end]


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


class _Optimiser:
    """Plans each day, issues battery commands and records decisions, as the optimiser did."""

    def __init__(self, config: SimulationConfig, prices: _Prices, house: OptimisedHousehold):
        self.config = config
        self.prices = prices
        self.house = house
        self.zone = ZoneInfo(config.tz)
        self.rng = random.Random(config.seed * 31 + 5)

    def plan(self, day: date) -> list[Session]:
        """Tomorrow's charging plan, made the evening before: the night's cheapest three hours;
        on some days a midday top-up that the sun later makes unnecessary."""
        quarters = self.prices.day_quarters(day)
        stamp = day.strftime("%Y%m%d")
        sessions: list[Session] = []
        night = [(s, p) for s, p in quarters if s.astimezone(self.zone).hour < 6]
        if self.rng.random() < 0.85 and len(night) >= CHARGE_QUARTERS:
            windows = [
                night[i : i + CHARGE_QUARTERS]
                for i in range(0, len(night) - CHARGE_QUARTERS + 1)
                if night[i][0].astimezone(self.zone).hour < 3
            ]
            best = min(windows, key=lambda w: sum(p for _, p in w))
            sessions.append(self._planned(f"{stamp}_1", best, target_kwh=6.5))
        midday = [(s, p) for s, p in quarters if 12 <= s.astimezone(self.zone).hour < 15]
        if self.rng.random() < 0.3 and len(midday) >= 8:
            window = min(
                (midday[i : i + 8] for i in range(len(midday) - 7)),
                key=lambda w: sum(p for _, p in w),
            )
            sessions.append(self._planned(f"{stamp}_{len(sessions) + 1}", window, target_kwh=2.0))
        return sessions

    def _planned(
        self, session_id: str, window: list[tuple[datetime, float]], target_kwh: float
    ) -> Session:
        start = window[0][0]
        end = start + timedelta(minutes=15 * len(window))
        prices = [buy_pln_kwh(p, s.astimezone(self.zone).hour) for s, p in window]
        avg = sum(prices) / len(prices)
        evening = [
            buy_pln_kwh(p, s.astimezone(self.zone).hour)
            for s, p in self.prices.day_quarters(start.astimezone(self.zone).date())
            if 17 <= s.astimezone(self.zone).hour < 21
        ]
        peak = sum(evening) / len(evening) if evening else avg
        return Session(
            session_id=session_id,
            kind="charge",
            start=start,
            end=end,
            start_local=_local(start, self.zone),
            end_local=_local(end, self.zone),
            power_w=CHARGE_POWER_W,
            target_energy_kwh=target_kwh,
            estimated_cost_pln=round(target_kwh * avg, 2),
            estimated_savings_pln=round(target_kwh * (peak - avg), 2),
            avg_price_pln_kwh=round(avg, 4),
        )

    def decision(
        self, kind: str, moment: datetime, action: str, reason: str, **details
    ) -> Decision:
        flows = self.house.powers
        return Decision(
            kind=kind,
            utc=moment,
            local=_local(moment, self.zone),
            action=action,
            reason=reason,
            soc=round(self.house.soc_pct, 1),
            pv_w=round(flows.pv, 1),
            load_w=round(flows.load, 1),
            price_pln_kwh=self.prices.buy_at(moment),
            details=details,
        )

    def selling_hour(self, day: date) -> tuple[datetime, float] | None:
        """The dearest full evening hour (17-21) of the day: start and mean market price."""
        quarters = self.prices.day_quarters(day)
        hours: dict[datetime, list[float]] = {}
        for start, price in quarters:
            local = start.astimezone(self.zone)
            if 17 <= local.hour < 21:
                hours.setdefault(start - timedelta(minutes=local.minute), []).append(price)
        full = {h: sum(p) / len(p) for h, p in hours.items() if len(p) == 4}
        if not full:
            return None
        best = max(full, key=full.get)
        return best, full[best]


def _sample(
    house: OptimisedHousehold, moment: datetime, zone: ZoneInfo, rng: random.Random
) -> Sample:
    values = house.sensor_values()
    local = _local(moment, zone).replace(microsecond=rng.randrange(1, 1_000_000))
    command = house.command
    forced = command.kind if command and command.start <= moment < command.end else None
    return Sample(utc=moment, local=local, values=values, forced=forced)


def _stats(day: date, samples: list[Sample], today: dict[str, float], battery_kwh: float) -> dict:
    """``daily_stats_*.json`` content, from the day's readings and the inverter's day counters."""
    pv = [(s.values["ppv1"] + s.values["ppv2"], s.local) for s in samples]
    load = [(s.values["load_ptotal"], s.local) for s in samples]
    grid = [s.values["active_power"] for s in samples]
    soc = [s.values["battery_soc"] for s in samples]
    peak_pv, peak_pv_time = max(pv, key=lambda x: x[0]) if pv else (0.0, None)
    peak_load, peak_load_time = max(load, key=lambda x: x[0]) if load else (0.0, None)
    return {
        "date": day.isoformat(),
        "pv_production": {
            "total_kwh": round(today["pv"], 3),
            "peak_power": round(peak_pv, 1),
            "peak_time": peak_pv_time.strftime("%H:%M:%S") if peak_pv_time else None,
            "hours_above_1kw": round(sum(p > 1000 for p, _ in pv) / 60, 2),
            "hours_above_5kw": round(sum(p > 5000 for p, _ in pv) / 60, 2),
        },
        "battery": {
            "total_charge_kwh": round(today["charge"], 3),
            "total_discharge_kwh": round(today["discharge"], 3),
            "min_soc": min(soc) if soc else None,
            "max_soc": max(soc) if soc else None,
            "charge_cycles": round(today["discharge"] / battery_kwh, 3),
        },
        "grid": {
            "total_import_kwh": round(today["import"], 3),
            "total_export_kwh": round(today["export"], 3),
            "peak_import": round(-min(grid), 1) if grid else 0.0,
            "peak_export": round(max(grid), 1) if grid else 0.0,
            "net_consumption": round(today["import"] - today["export"], 3),
        },
        "house_consumption": {
            "total_kwh": round(today["load"], 3),
            "peak_power": round(peak_load, 1),
            "peak_time": peak_load_time.strftime("%H:%M:%S") if peak_load_time else None,
        },
    }


def simulate(config: SimulationConfig, prices: pd.DataFrame) -> Iterator[Day]:
    """Run the household and its optimiser over ``config.first``..``config.last``, a day at a time.

    ``prices`` must cover those days (``demo.prices.quarter_hour_prices``).
    """
    zone = ZoneInfo(config.tz)
    price_book = _Prices(prices, config.tz)
    first_start, _ = days.day_window(config.first, config.tz)
    house = OptimisedHousehold(
        config.household,
        first_start - WARM_UP,
        weather_by_day(config.first, config.last, config.seed),
    )
    optimiser = _Optimiser(config, price_book, house)
    rng = random.Random(config.seed * 7 + 1)
    plan = optimiser.plan(config.first)
    for day in days.iter_days(config.first, config.last):
        plan_created = datetime.combine(day - timedelta(days=1), datetime.min.time()).replace(
            hour=23, minute=30, second=12
        )
        start, end = days.day_window(day, config.tz)
        samples: list[Sample] = []
        decisions: list[Decision] = []
        sales: list[Session] = []
        events = _day_events(optimiser, day, plan, start, end)
        active: Active | None = None
        moment = start + timedelta(seconds=POLL_OFFSET_S)
        while moment < end:
            house.advance(moment)
            while events and events[0][0] <= moment:
                _, handler = events.pop(0)
                active = handler(moment, active, decisions, sales)
            if active is not None and house.command is not None and moment >= house.command.end:
                _finish(optimiser, active, moment)
                house.command = None
                active = None
            if not any(a <= moment < b for a, b in config.outages):
                samples.append(_sample(house, moment, zone, rng))
            moment += POLL
        house.advance(end - timedelta(microseconds=1))
        stats = _stats(day, samples, dict(house.today_kwh), house.config.battery_kwh)
        next_plan = optimiser.plan(day + timedelta(days=1)) if day < config.last else []
        yield Day(day, samples, decisions, plan, plan_created, sales, stats)
        plan = next_plan


Active = tuple[Session, float, dict[str, float]]
"""The session a command is executing, the charge at its start and the lifetime counters then."""
Handler = Callable[[datetime, Active | None, list[Decision], list[Session]], Active | None]


def _counters(house: OptimisedHousehold) -> dict[str, float]:
    return dict(house.lifetime_kwh)


def _day_events(
    optimiser: _Optimiser, day: date, plan: list[Session], start: datetime, end: datetime
) -> list[tuple[datetime, Handler]]:
    """Time-ordered ``(utc, handler)``: charging checks every 3 hours, the plan's sessions,
    the evening selling check."""
    zone = optimiser.zone
    house = optimiser.house
    events: list[tuple[datetime, Handler]] = []

    def check_charging(moment, active, decisions, sales):
        upcoming = [s for s in plan if s.status == "planned"]
        cheapest = min(optimiser.prices.day_quarters(day), key=lambda q: q[1])
        decisions.append(
            optimiser.decision(
                "charging",
                moment,
                "wait",
                "price not in the planned cheap window; battery covers the house"
                if upcoming
                else "no charging planned for the rest of the day",
                cheapest_price=buy_pln_kwh(cheapest[1], cheapest[0].astimezone(zone).hour),
                cheapest_hour=cheapest[0].astimezone(zone).hour,
            )
        )
        return active

    def start_charge(session: Session):
        def handler(moment, active, decisions, sales):
            if session.session_id.endswith("_1") or house.weather[day].pv_factor < 0.5:
                session.status = "active"
                session.started_local = _local(moment, zone)
                session.start_soc = round(house.soc_pct, 1)
                house.command = Command(
                    "charge", moment, session.end, session.power_w, CHARGE_TARGET_PCT
                )
                decisions.append(
                    optimiser.decision(
                        "charging",
                        moment,
                        "charge",
                        f"cheapest window of the night ({session.avg_price_pln_kwh:.3f} PLN/kWh), "
                        f"planned session {session.session_id}",
                        session=session,
                    )
                )
                return (session, house.soc_pct, _counters(house))
            session.status = "cancelled"
            decisions.append(
                optimiser.decision(
                    "charging",
                    moment,
                    "wait",
                    f"planned session {session.session_id} cancelled: PV covers the house",
                    session=session,
                )
            )
            return active

        return handler

    def check_selling(hour_start: datetime, price: float):
        def handler(moment, active, decisions, sales):
            soc = house.soc_pct
            if (
                price >= SELL_MIN_PRICE_PLN_MWH
                and soc >= SELL_MIN_SOC_PCT
                and house.command is None
            ):
                finish = hour_start + timedelta(hours=1)
                session = Session(
                    session_id=f"sell_{_local(moment, zone):%Y%m%d_%H%M}",
                    kind="sell",
                    start=moment,
                    end=finish,
                    start_local=_local(moment, zone),
                    end_local=_local(finish, zone),
                    power_w=SELL_POWER_W,
                    target_energy_kwh=round(
                        (soc - SELL_FLOOR_PCT) / 100 * house.config.battery_kwh, 2
                    ),
                    estimated_cost_pln=0.0,
                    estimated_savings_pln=0.0,
                    avg_price_pln_kwh=round(price / 1000, 4),
                    status="active",
                    start_soc=round(soc, 1),
                    started_local=_local(moment, zone),
                )
                house.command = Command("sell", moment, finish, SELL_POWER_W, SELL_FLOOR_PCT)
                sales.append(session)
                decisions.append(
                    optimiser.decision(
                        "selling",
                        moment,
                        "start_selling",
                        f"evening peak {price:.0f} PLN/MWh, battery at {soc:.0f} %",
                        session=session,
                        market_pln_mwh=price,
                    )
                )
                return (session, soc, _counters(house))
            why = (
                f"price {price:.0f} PLN/MWh below the {SELL_MIN_PRICE_PLN_MWH:.0f} threshold"
                if price < SELL_MIN_PRICE_PLN_MWH
                else f"battery at {soc:.0f} %, below the {SELL_MIN_SOC_PCT:.0f} % safety margin"
            )
            decisions.append(
                optimiser.decision("selling", moment, "wait", why, market_pln_mwh=price)
            )
            return active

        return handler

    for hours in range(0, 25, 3):
        moment = start + timedelta(hours=hours, minutes=1)
        if moment < end:
            events.append((moment, check_charging))
    for session in plan:
        events.append((session.start, start_charge(session)))
    selling = optimiser.selling_hour(day)
    if selling is not None:
        events.append((selling[0], check_selling(*selling)))
    events.sort(key=lambda e: e[0])
    return events


def _finish(optimiser: _Optimiser, active: Active, moment: datetime) -> None:
    session, _, before = active
    house = optimiser.house
    after = house.lifetime_kwh
    session.end_soc = round(house.soc_pct, 1)
    session.completed_local = _local(moment, optimiser.zone)
    session.status = "completed"
    if session.kind == "charge":
        energy = after["charge"] - before["charge"]
        session.actual_energy_kwh = round(energy, 3)
        session.actual_cost_pln = round(energy * session.avg_price_pln_kwh, 2)
    else:
        energy = after["export"] - before["export"]
        session.actual_energy_kwh = round(energy, 3)
        session.actual_cost_pln = round(energy * session.avg_price_pln_kwh, 2)
