"""The ``prices`` resource: where prices come from and the owner's tariff."""

import dagster as dg

from goodwe_pipeline.common.settings import DEFAULT_TIMEZONE
from goodwe_pipeline.defs.resources import env_or
from goodwe_pipeline.prices.pse_client import DEFAULT_PSE_URL, DEFAULT_TIMEOUT_S
from goodwe_pipeline.prices.sources import DEFAULT_PRICE_SOURCE, PriceSource, parse_price_source
from goodwe_pipeline.prices.tariffs import Tariff, load_tariff


class PricesResource(dg.ConfigurableResource):
    """Price source (``pse``, ``csv:<path>``, ``fixed:<PLN/kWh>``) and tariff file (YAML).

    ``timezone`` places CSV times written without an offset.
    """

    source: str = DEFAULT_PRICE_SOURCE
    tariff_file: str | None = None
    pse_url: str = DEFAULT_PSE_URL
    timezone: str = DEFAULT_TIMEZONE
    timeout_s: float = DEFAULT_TIMEOUT_S

    def get_tariff(self) -> Tariff:
        return load_tariff(self.tariff_file)

    def get_source(self, tariff: Tariff) -> PriceSource:
        return parse_price_source(
            self.source,
            tz=self.timezone,
            pse_url=self.pse_url,
            timeout_s=self.timeout_s,
            with_rce=tariff.sell.rule == "rce",
        )


def prices_from_env() -> PricesResource:
    return PricesResource(
        source=env_or("GOODWE_PRICE_SOURCE", DEFAULT_PRICE_SOURCE),
        tariff_file=env_or("GOODWE_TARIFF_FILE"),
        pse_url=env_or("GOODWE_PSE_URL", DEFAULT_PSE_URL),
        timezone=env_or("GOODWE_TIMEZONE", DEFAULT_TIMEZONE),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"prices": prices_from_env()})
