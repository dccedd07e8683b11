"""Alembic, driven from code: the warehouse upgrades itself on first use.

The migrations ship inside the package (``migrations/`` next to this file), so
no ``alembic.ini`` or working directory is involved. Concurrent first uses
(several Dagster processes starting at once) are serialised by the database
itself: a transaction-scoped advisory lock on PostgreSQL, ``BEGIN IMMEDIATE``
on SQLite (see ``store.py``), so exactly one of them applies the migrations.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key: any constant; advisory locks are scoped to one database.
ADVISORY_LOCK_KEY = 0x60_0D_3E_5A_7E

log = logging.getLogger(__name__)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic revisions found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> list[str]:
    """Upgrade to head inside the caller's transaction; return the revisions applied.

    The caller holds the write transaction (``BEGIN IMMEDIATE`` on SQLite); on
    PostgreSQL this takes the advisory lock, released at commit.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
    before = current_revision(connection)
    if before == head_revision():
        return []
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    script = ScriptDirectory.from_config(config)
    applied = [rev.revision for rev in script.iterate_revisions("head", before)]
    applied.reverse()
    log.info("warehouse migrated: %s", ", ".join(applied))
    return applied
