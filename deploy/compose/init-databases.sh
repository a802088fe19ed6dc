#!/usr/bin/env bash
# PostgreSQL's image runs this once, on an empty data directory: one database per
# service, so no service can read another's tables (they share only the topics).
set -euo pipefail
for db in accounts plans contact audit; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE $db OWNER $POSTGRES_USER"
done
