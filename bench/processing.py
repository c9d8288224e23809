#!/usr/bin/env python
"""The processing of inbound Messenger messages, measured in-process, phase by phase.

Stores signed Messenger webhooks through the real view (Django's test client) and processes the
stored events as the worker does (`inbox.intake.store.event_process`, or the batch path the
worker's task takes), on the benchmark database (`BENCH_DB`, default inbox_bench; it must have been
seeded by `make bench` / `seed_bench`). For every message it counts SQL statements and CPU time
(`time.process_time`, every thread of the process: the realtime sender loop included) by phase:

    event         the stored event's row lock and its processed mark
    route         the inbox the event is for
    dedupe        "is this message already held"
    identity      the person's identity (and, when new, customer: counted apart)
    customer      a new customer row / profile lookups
    conversation  the thread found or made, and its row lock
    message       the message row
    csat          "is this an answer to a survey"
    window        the conversation row updated (last message, waiting since, unread, 24 h window)
    metrics       responsiveness record and daily rollup
    signals       receivers in the transaction (SLA clocks, automation rules: the default ones are made
                  first if missing) and after commit (auto-assignment, greeting/away, bot)
    frames        realtime frames built and sent to Redis after commit

Phases are timed by wrapping the functions named in PHASES where they are looked up (exclusive
time: a phase inside another is not counted twice); a clean run without the wrappers gives the
totals. Three kinds of message: to an existing thread within 24 h of its last message (what most
traffic is), to an existing thread after a silence (counted for responsiveness), from a new person.

    .venv/bin/python bench/processing.py                  # 200 messages of each kind
    .venv/bin/python bench/processing.py --events 50 --profile   # + the top of cProfile (CPU)
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import hmac
import io
import json
import os
import pstats
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import ENV, META_SECRET, PAGE_ID  # noqa: E402

# (module, attribute) -> phase. The attribute is wrapped wherever a module of the project holds it.
PHASES: list[tuple[str, str, str]] = [
    ("inbox.intake.store", "event_process", "event"),
    ("inbox.intake.batch", "events_process", "event"),
    ("inbox.intake.inboxes", "inbox_for", "route"),
    ("inbox.conversations.receive", "message_receive", "dedupe"),
    ("inbox.conversations.receive", "messages_receive", "dedupe"),
    ("customers.services", "identity_resolve", "identity"),
    ("customers.services", "identities_resolve", "identity"),
    ("customers.services", "_customer_with_same_contact", "customer"),
    ("inbox.conversations.profiles", "meta_profile_schedule", "customer"),
    ("inbox.conversations.threads", "conversation_find_or_create", "conversation"),
    ("inbox.conversations.threads", "conversations_find_or_create", "conversation"),
    ("inbox.conversations.receive", "_message_store", "message"),
    ("inbox.csat.answers", "survey_reply_of", "csat"),
    ("inbox.conversations.threads", "note_inbound", "window"),
    ("inbox.metrics", "record_inbound", "metrics"),
    ("inbox.metrics", "records_inbound", "metrics"),
    ("inbox.realtime.publish", "_send", "frames"),
    ("inbox.realtime.publish", "_send_many", "frames"),
]
ORDER = ["event", "route", "dedupe", "identity", "customer", "conversation", "message", "csat", "window", "metrics",
         "signals", "frames"]


class Phases:
    """Exclusive CPU seconds and statements per phase, for wrapped functions on a stack."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.sql: dict[str, int] = defaultdict(int)
        self.samples: dict[str, list[str]] = defaultdict(list)
        self.stack: list[list[Any]] = []  # [phase, started, children's cpu]

    def wrap(self, phase: str, func: Callable) -> Callable:
        tracker = self

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            tracker.stack.append([phase, time.process_time(), 0.0])
            try:
                return func(*args, **kwargs)
            finally:
                name, started, children = tracker.stack.pop()
                spent = time.process_time() - started
                tracker.cpu[name] += spent - children
                if tracker.stack:
                    tracker.stack[-1][2] += spent

        wrapped.__wrapped__ = func  # type: ignore[attr-defined]
        return wrapped

    # Statements made by the event-level code (a batch's lookups for all its messages, the frames'
    # labels at commit) go to the phase their table belongs to.
    TABLES = [('"inbox_inboundevent"', "event"), ('"inbox_inbox"', "route"), ("MAX(", "metrics"),
              ('"inbox_message"', "dedupe"), ('"customers_identity"', "identity"), ('"inbox_csatresponse"', "csat"),
              ('"inbox_conversation_labels"', "frames"), ('"inbox_conversation"', "conversation")]

    def execute(self, execute, sql, params, many, context):  # connection.execute_wrapper
        phase = self.stack[-1][0] if self.stack else "outside"
        if phase == "event":
            phase = next((p for table, p in self.TABLES if table in sql), phase)
        if phase == "identity" and ('INTO "customers_customer"' in sql or 'FROM "customers_customer"' in sql):
            phase = "customer"
        if phase == "message" and "FOR UPDATE" in sql and '"inbox_conversation"' in sql:
            phase = "conversation"  # the thread's row lock, taken once the message row is in
        self.sql[phase] += 1
        if len(self.samples[phase]) < 25:
            self.samples[phase].append(sql[:160])
        return execute(sql, params, many, context)


@contextmanager
def instrumented(phases: Phases):
    """Wrap every function of PHASES wherever the project's modules refer to it, and the
    message_received / conversation_changed signals' send; undone on the way out."""
    import importlib

    from django.db import connection

    from inbox import signals

    patched: list[tuple[Any, str, Any]] = []
    for module_name, attr, phase in PHASES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = getattr(module, attr, None)
        if original is None:
            continue
        wrapped = phases.wrap(phase, original)
        for name, mod in list(sys.modules.items()):
            if name.split(".")[0] not in ("inbox", "customers", "campaigns") or mod is None:
                continue
            if getattr(mod, attr, None) is original:
                patched.append((mod, attr, original))
                setattr(mod, attr, wrapped)
    for signal in (signals.message_received, getattr(signals, "conversation_changed", None)):
        if signal is None:
            continue
        patched.append((signal, "send", None))
        signal.send = phases.wrap("signals", signal.send)
    try:
        with connection.execute_wrapper(phases.execute):
            yield
    finally:
        for target, attr, original in reversed(patched):
            if original is None:
                del target.__dict__[attr]
            else:
                setattr(target, attr, original)


def meta_body(psid: str, mid: str, text: str, at_ms: int) -> tuple[bytes, str]:
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": at_ms, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": at_ms,
        "message": {"mid": mid, "text": text}}]}]}, separators=(",", ":")).encode()
    return body, "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()


def store(client, items: list[tuple[str, str, int]]) -> list[int]:
    """Post each (psid, mid, at_ms) to the real webhook view; returns the stored events' ids in order."""
    from inbox.models import InboundEvent

    for psid, mid, at_ms in items:
        body, signature = meta_body(psid, mid, f"hello {mid}", at_ms)
        resp = client.post("/webhooks/meta/", data=body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=signature)
        assert resp.status_code == 200, resp.status_code
    keys = {mid for _, mid, _ in items}
    by_key = dict(InboundEvent.objects.filter(provider="meta", dedupe_key__in=keys).values_list("dedupe_key", "id"))
    return [by_key[mid] for _, mid, _ in items]


def process(ids: list[int], batch: int) -> None:
    """As the worker's task does, `batch` events per task; batch 1: each event alone (event_process)."""
    from inbox.intake import store as intake_store

    try:
        from inbox.intake.batch import events_process
    except ImportError:  # before batching existed
        events_process = None
    if batch > 1 and events_process is not None:
        for start in range(0, len(ids), batch):
            events_process(ids[start:start + batch])
    else:
        for event_id in ids:
            intake_store.event_process(event_id)


def failures(ids: list[int]) -> list[str]:
    """Events that were not processed cleanly: a figure of a failing path would be meaningless."""
    from inbox.models import InboundEvent

    bad = InboundEvent.objects.filter(pk__in=ids).exclude(error="", processed_at__isnull=False)
    return [f"{e.pk}: {e.error or 'not processed'}" for e in bad[:5]]


def scenarios(run: str, n: int) -> dict[str, list[tuple[str, str, int]]]:
    """Messages of three kinds, each (psid, mid, timestamp in ms)."""
    from inbox.models import Conversation

    now_ms = int(time.time() * 1000)
    # Threads silent for more than a day (the seeded history is older than that).
    base = Conversation.objects.filter(inbox__external_id=PAGE_ID, identity__external_id__startswith="ps",
                                       thread_key="")
    silent = list(base.filter(last_message_at__lt=_ago(days=2)).values_list("identity__external_id", flat=True)[:n])
    return {
        # The first message to a thread after a silence of more than 24 h: it counts for responsiveness.
        "existing_thread_after_silence": [(silent[i], f"m_prof_{run}_s{i}", now_ms + i) for i in range(min(n, len(silent)))],
        # The next message to each of those threads (within 24 h of the one above): most traffic.
        "existing_thread_within_24h": [(silent[i], f"m_prof_{run}_r{i}", now_ms + n + i)
                                       for i in range(min(n, len(silent)))],
        "new_person": [(f"psprof{run}{i}", f"m_prof_{run}_n{i}", now_ms + i) for i in range(n)],
    }


def _ago(**kw):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(**kw)


def measure(n: int, batch: int, profile: bool) -> dict:
    from django.test import Client

    from inbox.rules.defaults import default_rules_ensure

    # A real install has the default rules (migrate makes them); seed_bench's TRUNCATE … CASCADE of the
    # users takes them away with the rules table, so the receivers would have nothing to do.
    default_rules_ensure()
    run = uuid.uuid4().hex[:8]
    client = Client()
    out: dict[str, Any] = {"batch": batch, "kinds": {}}
    plans = scenarios(run, n)
    for kind, items in plans.items():
        if not items:
            continue
        half = len(items) // 2
        # Instrumented half: per-phase statements and CPU.
        ids = store(client, items[:half])
        phases = Phases()
        with instrumented(phases):
            process(ids, batch)
        if failures(ids):
            raise RuntimeError(f"{kind}: events failed: {failures(ids)}")
        # Clean half: the total CPU and statements without the wrappers.
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        ids = store(client, items[half:])
        profiler = cProfile.Profile(time.process_time) if profile else None
        with CaptureQueriesContext(connection) as ctx:
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            process(ids, batch)
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if failures(ids):
            raise RuntimeError(f"{kind}: events failed: {failures(ids)}")
        count = len(items) - half
        per = {p: {"statements": round(phases.sql.get(p, 0) / half, 2), "cpu_ms": round(phases.cpu.get(p, 0.0) / half * 1000, 2)}
               for p in ORDER + ["outside"] if phases.sql.get(p) or phases.cpu.get(p)}
        out["kinds"][kind] = {
            "messages": count, "cpu_ms_per_message": round(cpu / count * 1000, 2),
            "wall_ms_per_message": round(wall / count * 1000, 2),
            "statements_per_message": round(len(ctx.captured_queries) / count, 2),
            "by_phase": per,
            "samples": {p: phases.samples[p] for p in per},
        }
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            out["kinds"][kind]["profile"] = text.getvalue()
    return out


def write_floor_cpu(n: int) -> dict:
    """The floor view's CPU per request in-process (test client), beside the real Messenger view's."""
    from django.test import Client

    client = Client()
    run = uuid.uuid4().hex[:8]
    out = {}
    for label, path in (("floor", "/bench/floor/"), ("messenger_webhook", "/webhooks/meta/")):
        bodies = [meta_body(f"psfl{run}{i % 50}", f"m_fl_{run}_{label}_{i}", "x", int(time.time() * 1000)) for i in range(n)]
        for body, sig in bodies[:20]:
            client.post(path, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sig)
        cpu = time.process_time()
        for body, sig in bodies[20:]:
            client.post(path, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sig)
        out[f"{label}_cpu_ms_per_request"] = round((time.process_time() - cpu) / (n - 20) * 1000, 3)
    return out


def report(figures: dict) -> str:
    lines = []
    for kind, f in figures["kinds"].items():
        lines.append(f"{kind}: {f['cpu_ms_per_message']} ms CPU, {f['wall_ms_per_message']} ms wall, "
                     f"{f['statements_per_message']} statements per message (clean run of {f['messages']})")
        for phase, p in f["by_phase"].items():
            lines.append(f"    {phase:14s} {p['statements']:6.2f} statements {p['cpu_ms']:7.2f} ms CPU")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200, help="messages of each kind")
    parser.add_argument("--batch", type=int, default=1, help="events per processing call (the worker's batch)")
    parser.add_argument("--profile", action="store_true", help="print the top of cProfile for each kind")
    parser.add_argument("--samples", action="store_true", help="print the first statements of each phase")
    parser.add_argument("--json", default="", help="also write the figures here")
    parser.add_argument("--sla-policy", action="store_true",
                        help="with one active SLA policy for every conversation (made, then deleted)")
    args = parser.parse_args()
    os.environ.update({**ENV, "DATABASE_URL": ENV["DATABASE_URL"], "BENCH_FLOOR": "1"})
    os.environ.setdefault("INBOUND_DISPATCH", "notify")
    os.chdir(ROOT)
    import django

    django.setup()
    policy = None
    if args.sla_policy:
        from inbox.models import SlaPolicy

        policy = SlaPolicy.objects.create(name=f"bench processing {uuid.uuid4().hex[:6]}", first_response_seconds=3600,
                                          next_response_seconds=3600, resolution_seconds=86400)
    try:
        figures = measure(args.events, args.batch, args.profile)
    finally:
        if policy is not None:
            policy.delete()
    figures["floor"] = write_floor_cpu(max(60, args.events))
    print(report(figures))
    print(json.dumps(figures["floor"]))
    if args.samples:
        for kind, f in figures["kinds"].items():
            print(f"-- {kind}")
            for phase, sqls in f["samples"].items():
                for s in sqls:
                    print(f"   {phase:12s} {s}")
    if args.profile:
        for kind, f in figures["kinds"].items():
            print(f"-- {kind}\n{f.get('profile', '')}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
