#!/usr/bin/env bash
# Ensure a PostgreSQL server for the loyalty backend's tests and print its URL (the only line on stdout):
#   postgresql+psycopg://register:register@127.0.0.1:PORT/register
# Idempotent: installs PostgreSQL (apt-get) if missing, creates the cluster once, starts it if stopped,
# creates the role (LOGIN CREATEDB: the tests create a database per test) and the database if absent.
# Listens on 127.0.0.1 only. Use: export REGISTER_TEST_PG_URL="$(scripts/ensure-postgres.sh)"
# Settings (env): REGISTER_PG_DIR (cluster, default /var/tmp/register-pg), REGISTER_PG_PORT (55432),
# REGISTER_PG_ROLE / REGISTER_PG_PASSWORD / REGISTER_PG_DB (register / register / register).
set -euo pipefail

PG_DIR="${REGISTER_PG_DIR:-/var/tmp/register-pg}"
PG_PORT="${REGISTER_PG_PORT:-55432}"
ROLE="${REGISTER_PG_ROLE:-register}"
PASSWORD="${REGISTER_PG_PASSWORD:-register}"
DB="${REGISTER_PG_DB:-register}"
DATA="$PG_DIR/data"
LOG="$PG_DIR/server.log"

log() { echo "ensure-postgres: $*" >&2; }

find_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" ]]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if ! BIN="$(find_bin)"; then
    log "PostgreSQL not found: installing it with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    BIN="$(find_bin)" || { log "PostgreSQL is still missing after apt-get install"; exit 1; }
fi

# The server refuses to run as root: as root, run it as the postgres OS user.
if [[ $(id -u) -eq 0 ]]; then
    OWNER=postgres
    run() { runuser -u postgres -- "$@"; }
else
    OWNER="$(id -un)"
    run() { "$@"; }
fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "creating the cluster in $DATA"
    mkdir -p "$DATA"
    chmod 700 "$DATA"
    [[ $(id -u) -eq 0 ]] && chown -R "$OWNER" "$PG_DIR"
    run "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >&2
fi

if ! run "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    touch "$LOG"
    [[ $(id -u) -eq 0 ]] && chown "$OWNER" "$LOG"
    run "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PG_PORT -k $DATA -c listen_addresses=127.0.0.1" start >&2
fi

psql_admin() { run "$BIN/psql" -h "$DATA" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA "$@"; }

if [[ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]]; then
    log "creating role $ROLE"
    psql_admin -c "CREATE ROLE \"$ROLE\" LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi
if [[ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
    log "creating database $DB"
    psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$ROLE\"" >&2
fi

echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PG_PORT/$DB"
