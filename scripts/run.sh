#!/usr/bin/env bash
# `make run`: migrate, seed the demo shop once, serve with daphne + a Celery worker and beat.
# With no PostgreSQL/Redis reachable (and no DATABASE_URL/REDIS_URL), settings fall back to the
# embedded default (SQLite, in-memory channel layer, tasks in-process) and only daphne runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PY=.venv/bin/python

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -z "${DATABASE_URL:-}" ]] && port_open 5432; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='inbox'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE inbox" >/dev/null
fi
$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo --once
$PY manage.py collectstatic --noinput -v0

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT INT TERM

if [[ -n "${REDIS_URL:-}" ]] || port_open 6379; then
  .venv/bin/celery -A inbox_project worker -l info --concurrency 2 & pids+=($!)
  .venv/bin/celery -A inbox_project beat -l info -S django_celery_beat.schedulers:DatabaseScheduler & pids+=($!)
fi
echo "serving on http://127.0.0.1:8000 (login demo / demo)"
.venv/bin/daphne -b 127.0.0.1 -p 8000 inbox_project.asgi:application & pids+=($!)
wait -n
