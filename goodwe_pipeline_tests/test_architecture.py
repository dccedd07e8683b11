"""The import rules ``docs/architecture.md`` states, checked on the source.

Every module of the package belongs to one layer. A layer may import the layers below it
and never one above; only the Dagster wiring (``defs/``, ``definitions.py``) imports Dagster.
A new module must be given a layer here, so the rule cannot be skipped by accident.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "goodwe_pipeline"

LAYERS = ("utility", "domain", "adapter", "job", "wiring", "command")
"""From the bottom up: a module may import its own layer and those to its left."""

LAYER_OF_PREFIX = {
    # Small helpers every layer may use.
    "common": "utility",
    # Pure domain logic: data in, data out.
    "readings": "domain",
    "reports": "domain",
    "sessions": "domain",
    "prices": "domain",
    "whatif": "domain",
    "charts": "domain",
    "emulator": "domain",
    "history.timestamps": "domain",
    "history.mapping": "domain",
    "history.formats": "domain",
    "history.decode": "domain",
    "history.records": "domain",
    "history.snapshots": "domain",
    "history.readers": "domain",
    "history.files": "domain",
    "history.placement": "domain",
    "history.decisions": "domain",
    "history.optimiser_db": "domain",
    # Adapters to the outside world.
    "raw_store": "adapter",
    "warehouse": "adapter",
    "archive": "adapter",
    "ingest.spool": "adapter",
    "ingest.inverters": "adapter",
    "prices.pse_client": "adapter",
    "prices.sources": "adapter",
    "common.pipeline_config": "adapter",
    "demo.legacy_files": "adapter",
    # Dagster-free jobs that drive adapters: a poll tick, a migration, a health probe, the demo.
    "ingest": "job",
    "health": "job",
    "history": "job",
    "whatif.from_stores": "job",
    "demo": "job",
    # Dagster wiring.
    "defs": "wiring",
    "definitions": "wiring",
    # The command line.
    "commands": "command",
    "cli": "command",
}

DAGSTER_ALLOWED = {"wiring"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of the longest prefix of ``module`` (relative to the package) that has one."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYER_OF_PREFIX.get(".".join(parts[:end]))
        if layer:
            return layer
    return None


def imports_of(path: Path) -> set[str]:
    """Absolute names this file imports (``from goodwe_pipeline import x`` counts as ``x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "goodwe_pipeline":
                names.update(f"goodwe_pipeline.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def package_modules() -> list[tuple[str, Path]]:
    return sorted(
        (module_name(path), path)
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts and module_name(path)
    )


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name, _ in package_modules() if layer_of(name) is None]
    assert not unplaced, f"give these modules a layer in LAYER_OF_PREFIX: {unplaced}"


def upward_imports(module: str, path: Path) -> list[str]:
    """What ``path``, as the module ``module``, imports from a layer above its own."""
    layer = layer_of(module)
    assert layer is not None, module
    rank = LAYERS.index(layer)
    wrong = []
    for name in sorted(imports_of(path)):
        top = name.split(".")[0]
        if top == "dagster" or top.startswith("dagster_"):
            if layer not in DAGSTER_ALLOWED:
                wrong.append(f"{name} (only defs/ imports Dagster)")
            continue
        if top != "goodwe_pipeline" or name == "goodwe_pipeline":
            continue
        target = layer_of(name.removeprefix("goodwe_pipeline."))
        if target is not None and LAYERS.index(target) > rank:
            wrong.append(f"{name} ({target} is above {layer})")
    return wrong


@pytest.mark.parametrize(("module", "path"), package_modules(), ids=lambda v: str(v))
def test_imports_keep_to_lower_layers(module: str, path: Path) -> None:
    wrong = upward_imports(module, path)
    assert not wrong, f"{module} imports upwards: {wrong}"


def test_the_rules_catch_upward_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import dagster\n"
        "from goodwe_pipeline.warehouse import Warehouse\n"
        "from goodwe_pipeline.ingest.poll_tick import run_tick\n"
        "from goodwe_pipeline.defs.partitions import daily_partitions\n"
    )
    assert upward_imports("sessions", bad) == [
        "dagster (only defs/ imports Dagster)",
        "goodwe_pipeline.defs.partitions (wiring is above domain)",
        "goodwe_pipeline.ingest.poll_tick (job is above domain)",
        "goodwe_pipeline.warehouse (adapter is above domain)",
    ]
    assert upward_imports("raw_store.influx", bad)[1:] == [
        "goodwe_pipeline.defs.partitions (wiring is above adapter)",
        "goodwe_pipeline.ingest.poll_tick (job is above adapter)",
    ]
    assert upward_imports("defs.sessions.assets", bad) == []


SQL_STATEMENT = re.compile(r"\b(SELECT|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\S+\s+SET)\b")
"""The start of an SQL statement, in the upper case every query here is written in."""


def sql_in(source: str) -> list[str]:
    """The SQL of a module's ``source``: string literals holding a statement, and imports
    of SQLAlchemy (its query builder is SQL too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL_STATEMENT.search(node.value):
                found.append(node.value)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names]
            found += [n for n in names if n and n.split(".")[0] == "sqlalchemy"][:1]
    return found


SQL_OUTSIDE_THE_WAREHOUSE = {
    "history.optimiser_db": "reads the old optimiser's own SQLite database, not the warehouse",
    "history.first_day": "the oldest day in the old optimiser's own SQLite database",
    "demo.legacy_files": "writes the old optimiser's SQLite database for the demo and tests",
    "ingest.spool": "the spool is its own SQLite file of readings waiting for the raw store",
    "raw_store.influx": "InfluxQL for InfluxDB 1.x, the raw store",
    "common.settings": "SQLAlchemy's URL parser checks the warehouse URL; no query",
}
"""Modules outside ``warehouse/`` that may hold SQL, and why: none of it is the warehouse's."""


def sql_outside_the_warehouse() -> dict[str, list[str]]:
    return {
        module: sql
        for module, path in package_modules()
        if module.split(".")[0] != "warehouse" and (sql := sql_in(path.read_text(encoding="utf-8")))
    }


def test_only_the_warehouse_holds_its_sql() -> None:
    """The warehouse owns its queries (``warehouse/reads.py`` and its neighbours): the wiring,
    the commands and the domain call them by name."""
    found = {
        module: sql
        for module, sql in sql_outside_the_warehouse().items()
        if module not in SQL_OUTSIDE_THE_WAREHOUSE
    }
    assert not found, f"move this SQL to functions in warehouse/: {found}"


def test_every_sql_exception_is_still_needed() -> None:
    stale = set(SQL_OUTSIDE_THE_WAREHOUSE) - set(sql_outside_the_warehouse())
    assert not stale, f"these modules hold no SQL any more: drop them from the list: {stale}"


def test_the_sql_rule_catches_queries() -> None:
    source = (
        "import sqlalchemy as sa\n"
        "QUERY = (\n"
        '    \'SELECT "day" FROM "daily_energy" \'\n'
        "    'WHERE \"day\" >= :first'\n"
        ")\n"
        "DELETE = f'DELETE FROM {TABLE} WHERE x = 1'\n"
        "DESCRIPTION = 'Select the days to update, then delete from the list.'\n"
    )
    assert sql_in(source) == [
        "sqlalchemy",
        'SELECT "day" FROM "daily_energy" WHERE "day" >= :first',
        "DELETE FROM ",
    ]
