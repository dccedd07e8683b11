"""Alembic environment for the warehouse.

``Warehouse`` runs the migrations with its own connection (passed in
``config.attributes["connection"]``, inside a transaction it owns). Without a
connection, ``sqlalchemy.url`` from the config is used, online or offline
(``--sql``, to review the DDL before applying it by hand).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from goodwe_pipeline.warehouse.schema import metadata

config = context.config


def _configure(**kwargs) -> None:
    context.configure(target_metadata=metadata, compare_type=True, **kwargs)


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
