#!/bin/bash
# First start of the compose stack's PostgreSQL (docker-entrypoint-initdb.d): a database for
# Dagster's own instance storage, separate from the warehouse ($POSTGRES_DB), and a login
# for Grafana that may only read the warehouse. Values come from the environment; psql
# quotes them (:"identifier", :'literal').
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v dagster_db="$DAGSTER_POSTGRES_DB" \
    -v warehouse_db="$POSTGRES_DB" \
    -v reader="$GRAFANA_DB_USER" \
    -v reader_password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE DATABASE :"dagster_db";
CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE :"warehouse_db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
