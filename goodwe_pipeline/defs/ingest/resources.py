"""The ``inverters`` resource: which GoodWe inverters to poll and how patiently."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from goodwe_pipeline import settings
from goodwe_pipeline.defs.resources import env_or
from goodwe_pipeline.inverter_client import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    PollResult,
    budget_for_interval,
    shared_poller,
)


class InvertersResource(dg.ConfigurableResource):
    """Inverters from ``GOODWE_INVERTERS`` (``host[:port][/family]``, comma-separated).

    Connected inverters are kept between sensor ticks in a process-wide poller.
    One poll takes at most ``budget_for_interval(poll_seconds)`` seconds.
    """

    inverters: str = Field(default="", description="GOODWE_INVERTERS")
    poll_seconds: int = Field(
        default=settings.DEFAULT_POLL_SECONDS, description="GOODWE_POLL_SECONDS"
    )
    timezone: str = Field(default=settings.DEFAULT_TIMEZONE, description="GOODWE_TIMEZONE")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, description="seconds per request attempt")
    retries: int = Field(default=DEFAULT_RETRIES, description="extra attempts per request")
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY, description="inverters read at once"
    )

    def addresses(self) -> list[settings.InverterAddress]:
        """The configured inverters; ``ValueError`` names a malformed entry."""
        return settings.parse_inverters(self.inverters)

    @property
    def budget_s(self) -> float:
        return budget_for_interval(max(self.poll_seconds, settings.MIN_POLL_SECONDS))

    def poll(self) -> list[PollResult]:
        """Read every configured inverter once; failures are results, not exceptions."""
        addresses = self.addresses()
        if not addresses:
            return []
        poller = shared_poller(
            timeout_s=self.timeout_s,
            retries=self.retries,
            max_concurrency=self.max_concurrency,
            budget_s=self.budget_s,
            timezone=self.timezone,
        )
        return poller.poll(addresses)


def inverters_from_env() -> InvertersResource:
    poll_seconds = (
        dg.EnvVar.int("GOODWE_POLL_SECONDS")
        if os.environ.get("GOODWE_POLL_SECONDS")
        else settings.DEFAULT_POLL_SECONDS
    )
    return InvertersResource(
        inverters=env_or("GOODWE_INVERTERS", ""),
        poll_seconds=poll_seconds,
        timezone=env_or("GOODWE_TIMEZONE", settings.DEFAULT_TIMEZONE),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"inverters": inverters_from_env()})
