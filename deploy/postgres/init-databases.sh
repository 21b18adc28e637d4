#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data directory
# (/docker-entrypoint-initdb.d). POSTGRES_USER (temporal) already owns the database
# "temporal"; this adds Temporal's visibility database, and bootflow's role and database.
# bootflow's schema is then made by `bootflow init` (Alembic), Temporal's by temporal-sql-tool.
set -eu
: "${POSTGRES_USER:?}" "${BOOTFLOW_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 -v password="$BOOTFLOW_DB_PASSWORD" \
     --username "$POSTGRES_USER" --dbname postgres <<'SQL'
CREATE DATABASE temporal_visibility;
CREATE ROLE bootflow LOGIN PASSWORD :'password';
CREATE DATABASE bootflow OWNER bootflow;
SQL
