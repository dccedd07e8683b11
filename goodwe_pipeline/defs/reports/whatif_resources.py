"""The ``tariff_catalogue`` resource: the offers the what-if compares and the owner's tariff."""

import dagster as dg

from goodwe_pipeline.defs.resources import env_or
from goodwe_pipeline.prices.tariffs import Tariff, load_tariff
from goodwe_pipeline.whatif.catalogue import Catalogue, load_catalogue


class TariffCatalogueResource(dg.ConfigurableResource):
    """``catalogue_file`` (``GOODWE_TARIFF_CATALOGUE``; unset: the built-in catalogue) and
    ``tariff_file`` (``GOODWE_TARIFF_FILE``: the zone rules and rates every offer uses, and
    the tariff the stored prices were computed with)."""

    catalogue_file: str | None = None
    tariff_file: str | None = None

    def owner_tariff(self) -> Tariff:
        return load_tariff(self.tariff_file)

    def catalogue(self, owner: Tariff) -> Catalogue:
        return load_catalogue(self.catalogue_file, owner)


def tariff_catalogue_from_env() -> TariffCatalogueResource:
    return TariffCatalogueResource(
        catalogue_file=env_or("GOODWE_TARIFF_CATALOGUE"), tariff_file=env_or("GOODWE_TARIFF_FILE")
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"tariff_catalogue": tariff_catalogue_from_env()})
