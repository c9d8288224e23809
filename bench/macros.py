#!/usr/bin/env python
"""Applying a macro with four actions (a templated reply, labels, assign to me, resolve): server time.

Not part of `make bench` (run it alone, it takes well under a minute):

    .venv/bin/python bench/macros.py [--runs 200] [--keep]

Uses its own database (BENCH_MACROS_DB, default `inbox_bench_macros`: created, migrated and dropped
unless `--keep`; its name must contain "bench_macros", since it is dropped) and the
Redis database BENCH_MACROS_REDIS_URL (default redis://127.0.0.1:6379/8, flushed at the end: the
send tasks the replies queue are never worked off here). Each run POSTs
`/api/v1/macros/{id}/apply/` through Django's full stack in this process (middleware, DRF, the
services, PostgreSQL with fsync on), each time on another open Messenger conversation, and times
the request: what the server spends, without the network. Prints p50/p95/p99 and the queries per
apply; the target is p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_MACROS_DB", "inbox_bench_macros")
REDIS_URL = os.environ.get("BENCH_MACROS_REDIS_URL", "redis://127.0.0.1:6379/8")
TARGET_P95_MS = 50.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def database(create: bool) -> None:
    import psycopg
    from psycopg import sql

    if "bench_macros" not in DB_NAME:
        raise SystemExit(f"refusing to drop {DB_NAME!r}: BENCH_MACROS_DB must contain 'bench_macros'")
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))


def setup(runs: int):
    """The shop: a team, an agent, a Messenger inbox, `runs` + warm-up open conversations, one macro."""
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth.models import User
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from customers.models import Order
    from customers.services import identity_resolve
    from inbox.conversations.threads import conversation_for_identity
    from inbox.models import Agent, Inbox, Macro, Role, Team

    team = Team.objects.create(name="Support")
    user = User.objects.create_user("bench-agent", "agent@bench.example", "x")
    agent = Agent.objects.create(user=user, role=Role.AGENT, availability="online")
    agent.teams.set([team])
    inbox = Inbox.objects.create(kind="messenger", name="Bench Page", external_id="900000000000777", team=team,
                                 credentials={"page_access_token": "bench"})
    now = timezone.now()
    conversations = []
    for n in range(runs + 20):
        identity = identity_resolve(channel="messenger", scope=inbox.external_id, external_id=f"7{n:015d}",
                                    display_name=f"Customer {n}").identity
        conversation = conversation_for_identity(inbox=inbox, identity=identity)
        conversation.last_customer_action_at = now - timedelta(minutes=5)
        conversation.window_expires_at = now + timedelta(hours=23)
        conversation.save()
        Order.objects.create(customer=identity.customer, external_id=f"o{n}", number=str(1000 + n),
                             total=Decimal("42.00"), fulfillment_status="fulfilled",
                             tracking_url="https://track.example/1", placed_at=now - timedelta(days=2))
        conversations.append(conversation.pk)
    macro = Macro.objects.create(name="Where is my order", team=team, actions=[
        {"type": "reply", "text": "Hi {{ customer.first_name }}, order #{{ order.number }} is {{ order.status }}: "
                                  "{{ order.tracking_url }}"},
        {"type": "labels", "add": ["shipping"]},
        {"type": "assign", "to": "me"},
        {"type": "status", "status": "resolved"},
    ])
    return Token.objects.create(user=user).key, macro.pk, conversations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    os.environ.update({
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}", "REDIS_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0", "DEBUG": "0", "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "testserver", "API_THROTTLE_RATE": "1000000/min", "LOG_LEVEL": "WARNING",
        "META_GRAPH_URL": "http://127.0.0.1:9/graph", "DJANGO_SETTINGS_MODULE": "inbox_project.settings",
        "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0",
    })
    database(create=True)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        call_command("migrate", verbosity=0)
        token, macro_id, conversations = setup(args.runs)
        client = Client(HTTP_AUTHORIZATION=f"Token {token}")
        url = f"/api/v1/macros/{macro_id}/apply/"

        cpu: list[float] = []

        def apply(pk: int) -> float:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.post(url, {"conversation": pk}, content_type="application/json")
            elapsed = time.perf_counter() - started
            cpu.append(time.process_time() - started_cpu)
            assert response.status_code == 200, response.content
            return elapsed

        for pk in conversations[:20]:  # warm-up: connections, caches, compiled templates
            apply(pk)
        queries: list[str] = []

        def count(execute, sql, params, many, context):
            if os.environ.get("BENCH_QUERIES_WHERE"):  # the project's frames that asked for it
                import traceback

                frames = [f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}" for f in traceback.extract_stack()
                          if str(ROOT) in f.filename and ".venv" not in f.filename and "bench" not in f.filename]
                queries.append(" <- ".join(reversed(frames[-3:])) + " | " + sql)
            else:
                queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            apply(conversations[20])
        if os.environ.get("BENCH_QUERIES"):
            print("\n".join(q[:160] for q in queries))
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
        cpu.clear()
        times = [apply(pk) for pk in conversations[21:]]
        if os.environ.get("BENCH_PROFILE"):
            profile.disable()
            pstats.Stats(profile).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(45)
        figures = {f"p{int(q * 100)}_ms": round(pct(times, q) * 1000, 1) for q in (0.5, 0.95, 0.99)}
        met = figures["p95_ms"] < TARGET_P95_MS
        print(f"macro apply (reply + labels + assign + resolve), {len(times)} runs: "
              f"p50/p95/p99 {figures['p50_ms']}/{figures['p95_ms']}/{figures['p99_ms']} ms, "
              f"{len(queries)} queries per apply, this process's CPU p50 {pct(cpu, 0.5) * 1000:.1f} ms "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs); target p95 < {TARGET_P95_MS:.0f} ms: "
              f"{'met' if met else 'NOT met'}")
        connection.close()
    finally:
        if not args.keep:
            database(create=False)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
