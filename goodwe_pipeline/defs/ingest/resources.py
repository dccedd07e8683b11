"""The ``inverters`` resource: which GoodWe inverters to poll and how patiently."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from goodwe_pipeline.common import settings
from goodwe_pipeline.defs.resources import env_int_or, env_or
from goodwe_pipeline.ingest import poll_tick
from goodwe_pipeline.ingest.inverters import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
)

TICK_DEADLINE_S = 45.0
"""A whole ``poll_inverters`` tick (replay, poll, write or spool) ends within this: Dagster
cancels a sensor evaluation after 60 s."""


class InvertersResource(dg.ConfigurableResource):
    """Inverters from ``GOODWE_INVERTERS`` (``host[:port][/family]``, comma-separated).

    ``plan`` works out, once per sensor tick, what to poll and how patiently: request
    settings that would not fit the tick are reduced (``poll_tick.plan_poll``).
    """

    inverters: str = Field(default="", description="GOODWE_INVERTERS")
    poll_seconds: int = Field(
        default=settings.DEFAULT_POLL_SECONDS,
        ge=settings.MIN_POLL_SECONDS,
        description="GOODWE_POLL_SECONDS",
    )
    timezone: str = Field(default=settings.DEFAULT_TIMEZONE, description="GOODWE_TIMEZONE")
    timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S,
        description="GOODWE_INVERTER_TIMEOUT_S: seconds per request attempt",
    )
    retries: int = Field(
        default=DEFAULT_RETRIES, description="GOODWE_INVERTER_RETRIES: extra attempts per request"
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        description="GOODWE_POLL_CONCURRENCY: inverters read at once",
    )

    def plan(self) -> poll_tick.PollPlan:
        """The addresses and poll settings of one tick, fitted into ``TICK_DEADLINE_S``;
        ``ValueError`` names a malformed entry or a setting that makes no sense."""
        try:
            addresses = settings.parse_inverters(self.inverters)
        except ValueError as exc:
            raise ValueError(f"GOODWE_INVERTERS: {exc}") from None
        return poll_tick.plan_poll(
            addresses,
            self.poll_seconds,
            timeout_s=self.timeout_s,
            retries=self.retries,
            max_concurrency=self.max_concurrency,
            timezone=self.timezone,
            tick_s=TICK_DEADLINE_S,
        )


def inverters_from_env() -> InvertersResource:
    """The resource from ``GOODWE_*`` variables. The timeout (``EnvVar`` carries only strings
    and integers), the interval and the timezone are read when definitions load; a value
    that is not allowed gives the default here and the ``poll_inverters`` sensor reports it
    (``settings.require``)."""
    return InvertersResource(
        inverters=env_or("GOODWE_INVERTERS", ""),
        poll_seconds=settings.for_loading("GOODWE_POLL_SECONDS"),
        timezone=settings.for_loading("GOODWE_TIMEZONE"),
        timeout_s=settings.for_loading("GOODWE_INVERTER_TIMEOUT_S", DEFAULT_TIMEOUT_S),
        retries=env_int_or("GOODWE_INVERTER_RETRIES", DEFAULT_RETRIES),
        max_concurrency=env_int_or("GOODWE_POLL_CONCURRENCY", DEFAULT_MAX_CONCURRENCY),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"inverters": inverters_from_env()})
