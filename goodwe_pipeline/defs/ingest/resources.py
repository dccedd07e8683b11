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
    PollResult,
    shared_poller,
)


class InvertersResource(dg.ConfigurableResource):
    """Inverters from ``GOODWE_INVERTERS`` (``host[:port][/family]``, comma-separated).

    Connected inverters are kept between sensor ticks in a process-wide poller.
    One poll takes at most ``budget_s`` seconds; request settings that would not
    fit it are reduced (``poll_tick.poll_settings``).
    """

    inverters: str = Field(default="", description="GOODWE_INVERTERS")
    poll_seconds: int = Field(
        default=settings.DEFAULT_POLL_SECONDS, description="GOODWE_POLL_SECONDS"
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

    def addresses(self) -> list[settings.InverterAddress]:
        """The configured inverters; ``ValueError`` names a malformed entry."""
        return settings.parse_inverters(self.inverters)

    def poll_settings(self) -> poll_tick.PollSettings:
        """Timeout, retries, concurrency and budget fitted into a sensor tick; ``ValueError``
        names a setting that makes no sense."""
        return poll_tick.poll_settings(
            max(self.poll_seconds, settings.MIN_POLL_SECONDS),
            self.timeout_s,
            self.retries,
            self.max_concurrency,
        )

    @property
    def budget_s(self) -> float:
        return self.poll_settings().budget_s

    def poll(self) -> list[PollResult]:
        """Read every configured inverter once; failures are results, not exceptions."""
        addresses = self.addresses()
        if not addresses:
            return []
        fitted = self.poll_settings()
        poller = shared_poller(
            timeout_s=fitted.timeout_s,
            retries=fitted.retries,
            max_concurrency=fitted.max_concurrency,
            budget_s=fitted.budget_s,
            timezone=self.timezone,
        )
        return poller.poll(addresses)


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
