#!/usr/bin/env python
"""SLA and automation-rule figures: the "due within 1 h" view and 50 active rules per inbound event.

Not part of `make bench` by default; bench/run.py's `sla_rules` step calls the same functions on the
100k-conversation database. Alone, on a database of its own (created, seeded with seed_bench and
dropped unless `--keep`):

    .venv/bin/python bench/sla_rules.py [--conversations 5000] [--messages 50000] [--samples 200] [--keep]

- `due_view`: GET /api/v1/conversations/?sla=due_1h&ordering=sla_due_at&status=open as an agent of
  a team (visibility filter included), through Django's full stack in this process; p50/p95/p99.
  Before it, a share of the open conversations get a running SLA target (the state the clocks
  keep: `sla_next_due_at`), some due within the hour, some breached. Target: p95 < 50 ms.
- `rules_eval`: 50 active rules of the message-received trigger (conditions over channel, inbox,
  text, labels, customer tags, status, business hours, order status; a few actions that rarely
  match), run by the engine for a customer message on an open conversation, in a transaction that
  is rolled back, given the conversation's row as the receivers get it; the time (wall and this
  process's CPU) of inbox.rules.engine.rules_run per event. Target: p95 < 5 ms.

    # on an already seeded database (e.g. an engineer's bench/run.py --quick one), rules only:
    BENCH_SLA_DB=inbox_bench_<name> .venv/bin/python bench/sla_rules.py --existing [--profile]
"""

from __future__ import annotations

import argparse
import inspect
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_SLA_DB", "inbox_bench_sla")
REDIS_URL = os.environ.get("BENCH_SLA_REDIS_URL", "redis://127.0.0.1:6379/10")
DUE_VIEW_TARGET_MS = 50.0
RULES_TARGET_MS = 5.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def figures(times: list[float]) -> dict[str, float]:
    return {f"p{int(q * 100)}_ms": round(pct(times, q) * 1000, 2) for q in (0.5, 0.95, 0.99)}


def sla_state_seed(*, due_share: float = 0.03, breached_share: float = 0.05, seed: int = 11) -> dict[str, int]:
    """Give a share of the open conversations a running SLA target: due within the hour, breached, or later.

    Writes `sla_next_due_at` and `sla_state` as inbox/sla/clocks.py keeps them (one policy), set-based."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from inbox.models import Conversation, SlaPolicy

    rng = random.Random(seed)
    now = timezone.now()
    policy, _ = SlaPolicy.objects.get_or_create(name="Bench standard", defaults={
        "first_response_seconds": 3600, "next_response_seconds": 7200, "resolution_seconds": 86400})
    ids = list(Conversation.objects.filter(status__in=["open", "pending"]).values_list("pk", flat=True))
    counts = {"due_1h": 0, "breached": 0, "later": 0}
    batches: dict[str, list[int]] = {k: [] for k in counts}
    for pk in ids:
        roll = rng.random()
        kind = "due_1h" if roll < due_share else "breached" if roll < due_share + breached_share else "later"
        batches[kind].append(pk)
    with transaction.atomic():
        Conversation.objects.update(sla_next_due_at=None, sla_state={}, sla_policy=None)
        for kind, pks in batches.items():
            for start in range(0, len(pks), 2000):
                chunk = pks[start:start + 2000]
                offset = {"due_1h": timedelta(minutes=rng.uniform(1, 59)), "breached": -timedelta(minutes=rng.uniform(1, 600)),
                          "later": timedelta(hours=rng.uniform(2, 20))}[kind]
                due = now + offset
                state = {"policy": {"id": policy.pk, "name": policy.name}, "targets": [
                    {"target": "first_response", "started_at": (due - timedelta(hours=1)).isoformat(),
                     "due_at": due.isoformat(), "met_at": None, "stopped_at": None}]}
                Conversation.objects.filter(pk__in=chunk).update(sla_next_due_at=due, sla_state=state, sla_policy=policy,
                                                                  sla_policy_source="match")
            counts[kind] = len(pks)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_conversation")
    return counts


def due_view(*, username: str = "agent0001", samples: int = 200) -> dict:
    """p50/p95/p99 of the "due within 1 h" view for `username` (a team agent), and its query count."""
    from django.contrib.auth import get_user_model
    from django.core.signals import request_started
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    views = {
        "due_1h": "/api/v1/conversations/?sla=due_1h&ordering=sla_due_at&status=open",
        "breached": "/api/v1/conversations/?sla=breached&ordering=sla_due_at&status=open",
        # For comparison, on the same machine at the same moment: the list's default view.
        "baseline_open_list": "/api/v1/conversations/?status=open",
    }
    out: dict = {}
    for name, url in views.items():
        for _ in range(10):
            assert client.get(url).status_code == 200
        times, rows = [], 0
        for _ in range(samples):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:300]
            rows = len(response.json()["results"])
        request_started.disconnect(reset_queries)
        try:
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
        finally:
            request_started.connect(reset_queries)
        out[name] = {**figures(times), "rows": rows, "queries": len(queries.captured_queries)}
    out["met"] = out["due_1h"]["p95_ms"] < DUE_VIEW_TARGET_MS
    return out


# Conditions that the measured conversations (Messenger, in the first inbox) do not meet: the cost of
# deciding 50 rules, not of acting (rules_eval also times one matching rule on top, separately).
FIELD_CONDITIONS = [
    lambda i, inbox: [{"field": "channel", "op": "is", "value": ["sms", "email", "instagram"][i % 3]}],
    lambda i, inbox: [{"field": "inbox", "op": "is_not", "value": inbox}],
    lambda i, inbox: [{"field": "text", "op": "contains", "value": f"coupon code {i}"}],
    lambda i, inbox: [{"field": "text", "op": "contains_word", "value": [f"word{i}", "chargeback"]}],
    lambda i, inbox: [{"field": "text", "op": "matches", "value": f"*invoice*{i}*"}],
    lambda i, inbox: [{"field": "label", "op": "has", "value": f"bench-label-{i}"}],
    lambda i, inbox: [{"field": "customer_tag", "op": "has", "value": f"bench-tag-{i}"}],
    lambda i, inbox: [{"field": "status", "op": "is", "value": "resolved"}],
    lambda i, inbox: [{"field": "business_hours", "op": "is", "value": False},
                      {"field": "priority", "op": "is", "value": "urgent"}],
    lambda i, inbox: [{"field": "order_status", "op": "in", "value": ["refunded", "cancelled"]},
                      {"field": "lifetime_value", "op": "gt", "value": 100000}],
]


def rules_setup(count: int = 50) -> list[int]:
    """`count` active message-received rules with assorted conditions (almost none of them match)."""
    from inbox.models import Inbox, Rule
    from inbox.rules.schema import rule_clean

    inbox = Inbox.objects.filter(kind="messenger").order_by("pk").values_list("pk", flat=True).first()
    ids = []
    for i in range(count):
        conditions = FIELD_CONDITIONS[i % len(FIELD_CONDITIONS)](i, inbox)
        data = rule_clean({"name": f"bench rule {i}", "trigger": "message_received", "position": 1000 + i,
                           "conditions": conditions, "actions": [{"type": "set_priority", "priority": "high"},
                                                                 {"type": "label", "add": [f"bench-{i}"]}]})
        ids.append(Rule.objects.create(**data, key=f"bench-{i}").pk)
    return ids


def rules_teardown(ids: list[int]) -> None:
    from inbox.models import Rule

    Rule.objects.filter(pk__in=ids).delete()


def rules_eval(*, events: int = 300, profile: bool = False) -> dict:
    """The engine's time for one inbound message with the bench rules (plus the default ones) active."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from inbox.models import Conversation, Direction, Message, Rule, SenderType
    from inbox.rules.engine import rules_run

    first = Conversation.objects.order_by("inbox_id").values_list("inbox_id", flat=True).first()
    conversations = list(Conversation.objects.filter(status="open", inbox_id=first, channel="messenger")
                         .order_by("-pk").values_list("pk", "inbox_id")[:events + 20])
    active = Rule.objects.filter(active=True, trigger="message_received").count()

    class _Rollback(Exception):
        pass

    cpu_times: list[float] = []

    def one(pk: int, inbox_id: int, measure: list[float] | None, queries: list[int] | None = None) -> None:
        try:
            with transaction.atomic():
                # The receivers get the conversation's row as the transaction has it (its inbox loaded).
                conversation = (Conversation.objects.select_related("inbox").defer("inbox__credentials")
                                .select_for_update(of=("self",)).get(pk=pk))
                kwargs = {"conversation": conversation} if "conversation" in inspect.signature(rules_run).parameters else {}
                message = Message.objects.create(
                    conversation_id=pk, inbox_id=inbox_id, direction=Direction.IN, sender_type=SenderType.CUSTOMER,
                    text="Hello, I wonder where my parcel is, it has been a week now.", status="received",
                    created_at=timezone.now())
                if queries is not None:
                    with CaptureQueriesContext(connection) as ctx:
                        rules_run(conversation_id=pk, trigger="message_received", event_key=f"message:{message.pk}",
                                  message=message, **kwargs)
                    queries.append(len(ctx.captured_queries))
                else:
                    started, cpu = time.perf_counter(), time.process_time()
                    rules_run(conversation_id=pk, trigger="message_received", event_key=f"message:{message.pk}",
                              message=message, **kwargs)
                    if measure is not None:
                        measure.append(time.perf_counter() - started)
                        cpu_times.append(time.process_time() - cpu)
                raise _Rollback
        except _Rollback:
            pass

    for pk, inbox_id in conversations[:20]:
        one(pk, inbox_id, None)
    cpu_times.clear()
    times: list[float] = []
    queries: list[int] = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    for pk, inbox_id in conversations[20:]:
        one(pk, inbox_id, times)
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
        print(text.getvalue())
    for pk, inbox_id in conversations[20:30]:
        one(pk, inbox_id, None, queries)
    # The decision alone: the 50 rules' conditions against facts already read (what the database adds
    # on top is the queries counted above).
    from inbox.rules import conditions as rule_conditions
    from inbox.rules.conditions import Facts, first_failing

    compile_conditions = getattr(rule_conditions, "compile_conditions", None)  # before: evaluated as written

    rules = list(Rule.objects.filter(active=True, trigger="message_received"))
    checks = {rule.pk: compile_conditions(rule.conditions) if compile_conditions else None for rule in rules}
    fields = {c["field"] for r in rules for c in r.conditions}
    decide: list[float] = []
    for pk, _inbox in conversations[20:]:
        facts = Facts(pk, at=timezone.now(), fields=fields)
        facts.row, facts.orders, facts.text  # noqa: B018  (read before timing)
        started = time.perf_counter()
        for rule in rules:
            if checks[rule.pk] is None:
                first_failing(rule.conditions, facts)
            else:  # compiled as the engine keeps them
                first_failing(rule.conditions, facts, checks=checks[rule.pk])
        decide.append(time.perf_counter() - started)
    return {**figures(times), "active_rules": active, "events": len(times),
            "queries_per_event": max(queries) if queries else None, "met": pct(times, 0.95) * 1000 < RULES_TARGET_MS,
            "cpu": figures(cpu_times), "decide_only": figures(decide)}


def database(create: bool) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))


def print_figures(view: dict, rules: dict) -> None:
    for name in ("due_1h", "breached", "baseline_open_list"):
        f = view[name]
        print(f"SLA view {name}: p50/p95/p99 {f['p50_ms']}/{f['p95_ms']}/{f['p99_ms']} ms, {f['rows']} rows, "
              f"{f['queries']} queries")
    print(f"  target p95 < {DUE_VIEW_TARGET_MS:.0f} ms (due within 1 h): {'met' if view['met'] else 'NOT met'}")
    print_rules(rules)


def print_rules(rules: dict) -> None:
    print(f"rules per inbound event ({rules['active_rules']} active message_received rules, {rules['events']} events): "
          f"p50/p95/p99 {rules['p50_ms']}/{rules['p95_ms']}/{rules['p99_ms']} ms, {rules['queries_per_event']} queries; "
          f"target p95 < {RULES_TARGET_MS:.0f} ms: {'met' if rules['met'] else 'NOT met'}")
    c = rules["cpu"]
    print(f"  CPU of this process per event (the database's share excluded): p50/p95/p99 {c['p50_ms']}/{c['p95_ms']}/"
          f"{c['p99_ms']} ms")
    d = rules["decide_only"]
    print(f"  of which deciding the 50 rules on facts already read: p50/p95/p99 {d['p50_ms']}/{d['p95_ms']}/{d['p99_ms']} ms")
    print(f"  (load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--existing", action="store_true",
                        help="use BENCH_SLA_DB as it is (already seeded, e.g. a bench/run.py --quick database): "
                             "no create, seed or drop; only the rules figure (the due view rewrites SLA state)")
    parser.add_argument("--profile", action="store_true", help="print the top of cProfile of the rules' runs")
    args = parser.parse_args()
    if "bench" not in DB_NAME:
        parser.error("BENCH_SLA_DB must name a benchmark database (its name contains 'bench')")
    os.environ.update({
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}", "REDIS_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0", "DEBUG": "0", "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "testserver", "API_THROTTLE_RATE": "1000000/min", "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "inbox_project.settings", "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0",
    })
    if args.existing:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        ids = rules_setup(50)
        try:
            rules = rules_eval(events=args.events, profile=args.profile)
        finally:
            rules_teardown(ids)
        print_rules(rules)
        return 0
    database(create=True)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        started = time.monotonic()
        call_command("seed_bench", conversations=args.conversations, messages=args.messages, agents=args.agents,
                     heavy=min(1000, args.conversations // 5), verbosity=0)
        print(f"seeded {args.conversations} conversations / {args.messages} messages in {time.monotonic() - started:.0f}s")
        print("SLA state:", sla_state_seed())
        view = due_view(samples=args.samples)
        ids = rules_setup(50)
        try:
            rules = rules_eval(events=args.events)
        finally:
            rules_teardown(ids)
        print_figures(view, rules)
        connection.close()
    finally:
        if not args.keep:
            database(create=False)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
