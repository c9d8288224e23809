#!/usr/bin/env bash
# `make run`: migrate, load the demo shop once, serve with daphne plus a Celery worker and beat.
# With no DATABASE_URL/REDIS_URL and no PostgreSQL/Redis on their local ports, the settings fall
# back to the embedded default (SQLite, in-memory channel layer, tasks in-process) and only daphne
# runs. INBOX_EMBEDDED=1 forces that mode. PORT (default 8000) picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
export DJANGO_SETTINGS_MODULE=inbox_project.settings
PORT="${PORT:-8000}"
PY=.venv/bin/python

# Ask the settings once which database and Redis they chose (they say so on stderr when embedded),
# create the PostgreSQL database if it is missing, then pin the choice for every process below so
# they cannot probe their way to different answers.
resolved=$($PY - <<'EOF'
import sys

import django

django.setup()
from django.conf import settings

from inbox_project import settings as module

db = settings.DATABASES["default"]
if db["ENGINE"] == "django.db.backends.postgresql":
    import psycopg
    from psycopg import sql

    params = {k: v for k, v in {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"]}.items() if v}
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                print(f"created database {db['NAME']}", file=sys.stderr)
    except psycopg.Error as exc:  # no right to create databases: migrate will say if it is missing
        print(f"could not check or create database {db['NAME']}: {exc}", file=sys.stderr)
print(module._database_url)
print(settings.REDIS_URL or "")
EOF
)
{ read -r database_url; read -r redis_url || true; } <<<"$resolved"
export DATABASE_URL="$database_url"
if [[ -n "$redis_url" ]]; then
  export REDIS_URL="$redis_url"
elif [[ "$database_url" == sqlite:* ]]; then
  unset REDIS_URL
  export INBOX_EMBEDDED=1
fi
export INBOX_EMBEDDED_NOTICE=0  # said once above

$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo --once
$PY manage.py collectstatic --noinput -v0

pids=()
cleanup() {
  trap - EXIT INT TERM
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  # A warm Celery shutdown finishes the task at hand; give everyone 15 s, then kill what is left
  # (children first, so no pool process outlives its worker).
  for _ in $(seq 30); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.5
  done
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      echo "process $p did not stop; killing it" >&2
      pkill -KILL -P "$p" 2>/dev/null || true
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [[ -n "$redis_url" ]]; then
  .venv/bin/celery -A inbox_project worker -l info --concurrency 2 &
  pids+=($!)
  .venv/bin/celery -A inbox_project beat -l info -S django_celery_beat.schedulers:DatabaseScheduler &
  pids+=($!)
else
  echo "no Redis: tasks run in-process, no Celery worker or beat"
fi
.venv/bin/daphne -b 127.0.0.1 -p "$PORT" inbox_project.asgi:application &
pids+=($!)
echo "serving on http://127.0.0.1:$PORT (log in as demo / demo); Ctrl-C stops everything"
# Whichever process ends first (or Ctrl-C) brings the others down.
wait -n
