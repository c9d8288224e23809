"""gunicorn settings for the HTTP tier: every URL but `/ws/`, which daphne serves.

    gunicorn -c python:inbox_project.gunicorn_conf inbox_project.wsgi

Behind a reverse proxy that buffers requests (nginx, a cloud load balancer), as sync workers
expect; see docs/OPERATIONS.md. Read from the environment:

- `GUNICORN_BIND` (default `127.0.0.1:8000`)
- `WEB_CONCURRENCY`: worker processes (default 2 × CPUs + 1). Each is one request at a time with
  its own small connection pool (`DB_POOL_MAX`), so PostgreSQL sees at most workers × that.
- `FORWARDED_ALLOW_IPS`: proxies trusted for `X-Forwarded-*` (default `127.0.0.1`).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)
worker_class = "sync"
# A webhook is answered in milliseconds; a request still running after this is stuck.
timeout = 30
graceful_timeout = 25
# Bounded worker lifetime, so a slow leak can never grow without end.
max_requests = 20_000
max_requests_jitter = 2_000
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Django logs every request that matters (warnings and errors, with the request id); the proxy
# keeps the access log.
accesslog = None
errorlog = "-"
