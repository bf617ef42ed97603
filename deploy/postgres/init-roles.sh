#!/bin/sh
# Runs once, when the postgres image initialises an empty data volume
# (/docker-entrypoint-initdb.d): two least-privilege login roles beside the superuser.
#   temporal       — may create databases (the schema job creates `temporal` and
#                    `temporal_visibility`, which it then owns); no access to the app's database.
#   escalation_app — owns the app's database (the worker applies its migrations there); no
#                    access to Temporal's databases, no CREATEDB, no superuser.
# A volume initialised before this script existed keeps its roles: create these by hand.
set -eu
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"
: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is required}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v temporal_pw="$TEMPORAL_DB_PASSWORD" -v app_pw="$APP_DB_PASSWORD" -v app_db="$POSTGRES_DB" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_pw';
CREATE ROLE escalation_app LOGIN PASSWORD :'app_pw';
ALTER DATABASE :"app_db" OWNER TO escalation_app;
REVOKE CONNECT ON DATABASE :"app_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"app_db" TO escalation_app;
SQL
