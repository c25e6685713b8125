#!/bin/sh
# PostgreSQL container init script (docker-compose.yml mounts it into
# /docker-entrypoint-initdb.d/): creates one database per warren service,
# warren_<name> for each name in SERVICE_DATABASES, owned by POSTGRES_USER.
# The services create their own tables when they start.
set -eu
for name in ${SERVICE_DATABASES:?names of the databases to create}; do
  echo "create-databases: warren_$name"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE \"warren_$name\" OWNER \"$POSTGRES_USER\""
done
