#!/usr/bin/env python
"""Every report's latency over 90 days of the bench database: `report_p95()` prints, per report, the
first (cold: the volume rollup of closed days not yet kept) and the p50/p95 of the following calls,
measured in-process on what `/api/v1/reports/<name>/` runs (scope, builders, sorting and paging).

    .venv/bin/python bench/reports.py                        # the `make bench` database (inbox_bench)
    .venv/bin/python bench/reports.py --seed 20000 200000    # seed it first: conversations, messages

It uses the database `make bench` fills (BENCH_DB, default inbox_bench; seeded by `seed_bench`
when empty or when --seed is given) and its own Redis database for the cache. Target: p95 < 200 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_DB", "inbox_bench")
TARGET_P95_MS = 200.0
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REPORTS_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "DEBUG": "0", "SECRET_KEY": "bench-only-secret-key-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "inbox_project.settings",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ensure_database(seed: tuple[int, int] | None) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True, env=os.environ.copy())
    if seed:
        conversations, messages = seed
        subprocess.run([py, "manage.py", "seed_bench", "--conversations", str(conversations), "--messages", str(messages),
                        "--agents", "50", "--heavy", str(min(11_000, conversations // 3))],
                       cwd=ROOT, check=True, env=os.environ.copy())


def report_p95(*, samples: int = 20, days: int = 90) -> list[dict]:
    """Time every report for an admin over `days`; print and return the figures."""
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection

    from customers.models import Order
    from inbox.api.report_views import sort_rows
    from inbox.models import Message
    from inbox.reports import builders
    from inbox.reports.scope import scope_for

    admin = get_user_model().objects.filter(is_superuser=True).first() or get_user_model().objects.get(username="bench_admin")
    messages = Message.objects.count()
    print(f"{DB_NAME}: {messages:,} messages, {Order.objects.count():,} orders; {days} days, {samples} samples a report")
    cache.clear()
    results = []
    for name in builders.REPORTS:
        timings = []
        for _ in range(samples + 1):
            t = time.perf_counter()
            scope = scope_for(admin, days=days)
            report = builders.build(name, scope)
            sort_rows(report["rows"], report["columns"], "")
            timings.append(time.perf_counter() - t)
        cold, warm = timings[0] * 1000, [x * 1000 for x in timings[1:]]
        row = {"report": name, "cold_ms": round(cold, 1), "p50_ms": round(pct(warm, 0.5), 1),
               "p95_ms": round(pct(warm, 0.95), 1), "met": pct(warm, 0.95) < TARGET_P95_MS, "rows": len(report["rows"])}
        results.append(row)
        print(f"  {name:18s} cold {row['cold_ms']:8.1f} ms   p50 {row['p50_ms']:7.1f} ms   p95 {row['p95_ms']:7.1f} ms"
              f"   {'met' if row['met'] else 'NOT met'} (< {TARGET_P95_MS:.0f} ms)   {row['rows']} rows")
    connection.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", nargs=2, type=int, metavar=("CONVERSATIONS", "MESSAGES"),
                        help="(re)seed the bench database first with seed_bench")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    os.environ.update(ENV)
    os.chdir(ROOT)
    ensure_database(tuple(args.seed) if args.seed else None)
    import django

    django.setup()
    results = report_p95(samples=args.samples, days=args.days)
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
