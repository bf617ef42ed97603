#!/bin/sh
# One-shot job, run in the temporalio/admin-tools image before the Temporal server starts:
# creates the Temporal databases in PostgreSQL and brings both schemas (temporal and
# temporal_visibility) up to the version that this admin-tools image ships.
#
# Safe to run again (that is how an upgrade gets its schema changes): `create` fails harmlessly
# on an existing database, `setup-schema -v 0.0` leaves a versioned schema alone and
# `update-schema` applies only the versions that are missing. Keep the admin-tools tag equal to
# the server tag.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (database host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
SCHEMA_ROOT="${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"
WAIT_ATTEMPTS="${WAIT_ATTEMPTS:-60}"
RETRY_DELAY="${RETRY_DELAY:-2}"

# temporal-sql-tool reads the password from SQL_PASSWORD: it stays out of the process list.
SQL_PASSWORD="$POSTGRES_PWD"
export SQL_PASSWORD

sql() {
    temporal-sql-tool --plugin "$SQL_PLUGIN" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" "$@"
}

echo "Waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT ..."
attempt=1
until nc -z -w 2 "$POSTGRES_SEEDS" "$DB_PORT"; do
    if [ "$attempt" -ge "$WAIT_ATTEMPTS" ]; then
        echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not answer; giving up." >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$RETRY_DELAY"
done

setup_database() {
    database="$1"
    schema_dir="$SCHEMA_ROOT/$2/versioned"
    echo "== $database ($schema_dir) =="
    if sql --db "$database" create; then
        echo "Created database $database."
    else
        # Already there on every run after the first; a real connection or permission
        # problem fails the next step loudly.
        echo "Database $database not created (it exists already?); continuing."
    fi
    sql --db "$database" setup-schema -v 0.0
    sql --db "$database" update-schema -d "$schema_dir"
}

setup_database "$DBNAME" temporal
setup_database "$VISIBILITY_DBNAME" visibility
echo "Temporal schemas are up to date."
