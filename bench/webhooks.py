"""`make bench`'s webhook step: every provider's webhook against the write floor of the same run.

Messenger (`/webhooks/meta/`), Instagram (the same view, `object: instagram`), Twilio
(`/webhooks/twilio/sms/`), email (Mailgun's inbound webhook through django-anymail) and Shopify
(`/webhooks/shopify/`, `orders/create`; stored like the others and processed by the worker) are each loaded closed-loop (16
concurrent clients: throughput) and at a steady 200 req/s (latency), with the worker paused (SIGSTOP:
the floor has nothing behind it) and with it processing on the same cores; every round gives the
floor a turn first. The web processes' CPU per request and the worker's CPU per processed event are
read from /proc over each run. Targets, as ratios to the floor of the same run:

- throughput >= 0.8 x the floor's with the worker paused, >= 0.5 x with it processing;
- p99 at 200 req/s <= 2 x the floor's p99;
- every acknowledged id stored once: 0 lost, 0 duplicated (3 % of requests are redeliveries);
- processing: the worker's CPU per new Messenger message <= 3 x the floor's CPU per request.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import random
import signal
import time
import urllib.parse
import uuid
from pathlib import Path

from bench import run as common

ROOT = Path(__file__).resolve().parent.parent
IG_ACCOUNT = "17841400000000001"  # the Bench Instagram inbox of seed_bench
MAILBOX = "support@bench.example"
MAILGUN_SIGNING_KEY = "bench-mailgun-key"
ANYMAIL_SECRET = "anymail:bench-hook-secret"
SHOPIFY_SECRET = "bench-shopify-secret"
# The settings the servers need for these webhooks (bench/run.py adds them to its ENV).
ENV = {
    "ANYMAIL_WEBHOOK_SECRET": ANYMAIL_SECRET,
    "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY,
    "ANYMAIL_INBOUND_ESPS": "mailgun",
    "SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET,
}
PROVIDERS = ("meta", "instagram", "twilio", "email", "shopify")
WORKER_PROCESSED = PROVIDERS  # every webhook stores its events and the worker processes them
MODES = (("ingest_only", False), ("with_worker", True))
MODE_TEXT = {
    "ingest_only": "the worker (with its listener, which publishes the processing tasks) is paused (SIGSTOP) "
                   "during the load, as the floor has nothing behind it; it then resumes and processes everything",
    "with_worker": "the worker processes events on the same cores during the load",
}
TARGETS = {"ingest_only": 0.8, "with_worker": 0.5, "p99_vs_floor": 2.0, "processing_cpu_vs_floor": 3.0}


# --- requests -------------------------------------------------------------------------------------


def instagram_request(igsid: str, mid: str, text: str) -> tuple[str, bytes, dict]:
    now_ms = int(time.time() * 1000)
    body = json.dumps({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": now_ms, "messaging": [{
        "sender": {"id": igsid}, "recipient": {"id": IG_ACCOUNT}, "timestamp": now_ms,
        "message": {"mid": mid, "text": text}}]}]}, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(common.META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return "/webhooks/meta/", body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}


_MAILGUN = json.loads((ROOT / "tests" / "fixtures" / "email" / "mailgun_inbound.json").read_text())


def email_request(sender: str, message_id: str, text: str) -> tuple[str, bytes, dict]:
    """A Mailgun inbound post (the fixture's form, to the bench mailbox), signed and with basic auth."""
    form = dict(_MAILGUN)
    headers = [[k, v] for k, v in json.loads(form["message-headers"])
               if k.lower() not in ("message-id", "to", "from", "x-envelope-from", "subject")]
    headers += [["Message-Id", message_id], ["To", f"Bench Support <{MAILBOX}>"], ["From", f"Customer <{sender}>"],
                ["X-Envelope-From", f"<{sender}>"], ["Subject", "Where is my order?"]]
    form.update({"recipient": MAILBOX, "sender": sender, "from": f"Customer <{sender}>", "subject": "Where is my order?",
                 "body-plain": text, "stripped-text": text, "body-html": f"<p>{text}</p>", "stripped-html": f"<p>{text}</p>",
                 "message-headers": json.dumps(headers), "timestamp": str(int(time.time())),
                 "token": uuid.uuid4().hex + uuid.uuid4().hex[:18]})
    form["signature"] = hmac.new(MAILGUN_SIGNING_KEY.encode(), (form["timestamp"] + form["token"]).encode(),
                                 hashlib.sha256).hexdigest()
    auth = "Basic " + base64.b64encode(ANYMAIL_SECRET.encode()).decode()
    return "/webhooks/anymail/mailgun/inbound/", urllib.parse.urlencode(form).encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": auth}


_ORDER = json.loads((ROOT / "tests" / "fixtures" / "shopify" / "order_create.json").read_text())


def shopify_request(email: str, order_id: int) -> tuple[str, bytes, dict]:
    payload = copy.deepcopy(_ORDER)
    payload.update({"id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
                    "name": f"#B{order_id}", "number": order_id % 1_000_000, "order_number": order_id % 1_000_000,
                    "email": email, "contact_email": email})
    if isinstance(payload.get("customer"), dict):
        payload["customer"] = {**payload["customer"], "email": email, "id": order_id}
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return "/webhooks/shopify/", body, {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                                        "X-Shopify-Hmac-Sha256": digest, "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                                        "X-Shopify-Shop-Domain": "bench.myshopify.com"}


def batches(run: str, rng: random.Random):
    """provider -> batch(tag, count) -> (requests, the provider id of each request); 3 % redeliveries
    (the same body and signature again: a Shopify redelivery keeps its webhook id)."""

    def one(provider: str, tag: str, i: int) -> tuple[tuple[str, bytes, dict], str]:
        person = rng.randrange(400)
        if provider == "meta":
            mid = f"m_bench_{run}_{tag}_{i}"
            return common.meta_request(f"psbench{run}{person}", mid, f"hello {i}"), mid
        if provider == "instagram":
            mid = f"ig_bench_{run}_{tag}_{i}"
            return instagram_request(f"igbench{run}{person}", mid, f"hello {i}"), mid
        if provider == "twilio":
            sid = "SM" + hashlib.md5(f"{run}{tag}{i}".encode()).hexdigest()
            return common.twilio_request(f"+1556{person:07d}", sid, f"hi {i}"), sid
        if provider == "email":
            message_id = f"<bench.{run}.{tag}.{i}@mail.example>"
            return email_request(f"customer{person}.{run}@mail.example", message_id, f"Where is my order {i}?"), message_id
        order_id = int(hashlib.md5(f"{run}{tag}{i}".encode()).hexdigest()[:12], 16)
        return shopify_request(f"buyer{person}.{run}@mail.example", order_id), str(order_id)

    def batch_of(provider: str):
        def make(tag: str, count: int) -> tuple[list, list[str]]:
            reqs, ids = [], []
            for i in range(count):
                if reqs and rng.random() < 0.03:
                    k = rng.randrange(len(reqs))
                    reqs.append(reqs[k])
                    ids.append(ids[k])
                    continue
                req, key = one(provider, tag, i)
                reqs.append(req)
                ids.append(key)
            return reqs, ids
        return make

    return {p: batch_of(p) for p in PROVIDERS}


def floor_request(key: str) -> tuple[str, bytes, dict]:
    _, body, headers = common.meta_request("psfloor", key, "x")
    return "/bench/floor/", body, headers


# --- the step -------------------------------------------------------------------------------------


def bench_webhooks(args, procs) -> list[dict]:
    from django.db.models import Count, Max, Min

    from customers.models import Order
    from inbox.models import InboundEvent, Inbox, Message

    run = uuid.uuid4().hex[:8]
    rng = random.Random(1)
    make = batches(run, rng)
    n, steady = args.webhook_requests, int(args.rate * args.steady_seconds)
    providers = [p for p in PROVIDERS if not args.webhook_providers or p in args.webhook_providers.split(",")]
    inboxes = {"meta": Inbox.objects.get(kind="messenger", external_id=common.PAGE_ID),
               "instagram": Inbox.objects.get(kind="instagram", external_id=IG_ACCOUNT),
               "twilio": Inbox.objects.get(kind="sms", external_id=common.SMS_NUMBER),
               "email": Inbox.objects.get(kind="email", external_id=MAILBOX)}
    provider_of_events = {"meta": "meta", "instagram": "meta", "twilio": "twilio", "email": "email", "shopify": "shopify"}

    def mark() -> int:
        return InboundEvent.objects.aggregate(m=Max("id"))["m"] or 0

    def drain(provider: str, since: int) -> dict:
        """Wait for the worker to process what a phase stored; throughput from the phase's first stored
        event to its last processed one, and the worker's CPU over the drain."""
        if provider not in WORKER_PROCESSED:
            return {"events": 0}
        events = InboundEvent.objects.filter(id__gt=since, provider=provider_of_events[provider])
        cpu0, t = procs.cpu_seconds("worker"), time.monotonic()
        pending = None
        while time.monotonic() - t < args.drain_seconds:
            pending = events.filter(processed_at=None).count()
            procs.sample()
            if pending == 0:
                break
            time.sleep(0.25)
        cpu = procs.cpu_seconds("worker") - cpu0
        span = events.aggregate(n=Count("id"), first=Min("received_at"), last=Max("processed_at"))
        seconds = (span["last"] - span["first"]).total_seconds() if span["last"] and span["first"] else None
        return {"events": span["n"], "pending": pending, "seconds": round(seconds, 2) if seconds else None,
                "events_per_s": round(span["n"] / seconds, 1) if seconds else None,
                "worker_cpu_ms_per_event": round(cpu / span["n"] * 1000, 2) if span["n"] else None,
                "drain_after_load_s": round(time.monotonic() - t, 1)}

    def phase(name: str, provider: str | None, reqs: list, steady_rate: bool, worker_running: bool) -> tuple[dict, dict | None]:
        since = mark()
        if not worker_running:
            procs.signal("worker", signal.SIGSTOP)
        web0, worker0 = procs.cpu_seconds("web"), procs.cpu_seconds("worker")
        try:
            if steady_rate:
                figures = asyncio.run(common.open_loop(reqs, args.rate))
                label = f"open loop {args.rate:g}/s"
            else:
                figures = asyncio.run(common.closed_loop(reqs, args.concurrency, args.max_seconds))
                label = f"closed loop c={args.concurrency}"
        finally:
            procs.signal("worker", signal.SIGCONT)
        done = len(figures["ok_indexes"]) or 1
        figures["web_cpu_ms_per_request"] = round((procs.cpu_seconds("web") - web0) / done * 1000, 3)
        figures["worker_cpu_ms_during_load_per_request"] = round((procs.cpu_seconds("worker") - worker0) / done * 1000, 3)
        procs.sample()
        print(f"  {name:26s} {label}: {common.strip(figures)}")
        processed = drain(provider, since) if provider else None
        if processed and provider in WORKER_PROCESSED:
            print(f"  {'':26s} processed: {processed}")
        return figures, processed

    # Warm every web process up (imports, URL resolver, pool, broker connection) before measuring.
    first = mark()
    warm = 3 * common.WARM_UP_PER_PROCESS
    warm_reqs = [floor_request(f"floor_{run}_w{i}") for i in range(warm)]
    for provider in providers:
        warm_reqs += make[provider]("warm", warm)[0]
    asyncio.run(common.closed_loop(warm_reqs, args.concurrency, 60))
    for provider in providers:
        drain(provider, first)

    acked: dict[str, set[str]] = {p: set() for p in providers}
    closed_runs: dict[str, list[dict]] = {}
    steady_runs: dict[str, list[dict]] = {}
    processing: dict[str, list[dict]] = {}
    for round_ in range(args.rounds):
        reqs = [floor_request(f"floor_{run}_{round_}_{i}") for i in range(n)]
        closed_runs.setdefault("floor", []).append(phase(f"floor #{round_ + 1}", None, reqs, False, False)[0])
        for mode, running in MODES:
            for provider in providers:
                reqs, ids = make[provider](f"c{mode}{round_}", n)
                figures, processed = phase(f"{provider} {mode} #{round_ + 1}", provider, reqs, False, running)
                acked[provider] |= {ids[i] for i in figures["ok_indexes"]}
                closed_runs.setdefault(f"{provider}_{mode}", []).append(figures)
                if processed:
                    processing.setdefault(f"{provider}_{mode}", []).append(processed)
    for round_ in range(args.rounds):
        # Fresh keys for the floor too: ON CONFLICT DO NOTHING is cheaper than a new row.
        reqs = [floor_request(f"floor_{run}_s{round_}_{i}") for i in range(steady)]
        steady_runs.setdefault("floor", []).append(phase(f"floor steady #{round_ + 1}", None, reqs, True, False)[0])
        for mode, running in MODES:
            for provider in providers:
                reqs, ids = make[provider](f"s{mode}{round_}", steady)
                figures, _ = phase(f"{provider} {mode} steady #{round_ + 1}", provider, reqs, True, running)
                acked[provider] |= {ids[i] for i in figures["ok_indexes"]}
                steady_runs.setdefault(f"{provider}_{mode}", []).append(figures)

    def summed_errors(results: list[dict]) -> dict[str, int]:
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        return errors

    def median_closed(key: str) -> dict:
        results = closed_runs[key]
        ordered = sorted(results, key=lambda r: r["rps"])
        return {**common.strip(ordered[len(ordered) // 2]), "rps_of_runs": [r["rps"] for r in results],
                "web_cpu_ms_per_request_of_runs": [r["web_cpu_ms_per_request"] for r in results],
                "errors": summed_errors(results)}

    def median_steady(key: str) -> dict:
        results = steady_runs[key]
        ordered = sorted(results, key=lambda r: r["p99_ms"] if r["p99_ms"] is not None else float("inf"))
        return {**common.strip(ordered[len(ordered) // 2]), "p99_ms_of_runs": [r["p99_ms"] for r in results],
                "errors": summed_errors(results)}

    floor = {"closed_loop": median_closed("floor"), "steady": median_steady("floor")}
    floor_rps, floor_p99 = floor["closed_loop"]["rps"], floor["steady"]["p99_ms"]
    floor_cpu = sorted(floor["closed_loop"]["web_cpu_ms_per_request_of_runs"])[len(closed_runs["floor"]) // 2]

    rows: dict[str, dict] = {}
    for provider in providers:
        ids = list(acked[provider])
        if provider == "shopify":
            got = list(Order.objects.filter(source="shopify", external_id__in=ids).values("external_id")
                       .annotate(n=Count("id")).values_list("external_id", "n"))
        else:
            got = list(Message.objects.filter(inbox=inboxes[provider], external_id__in=ids).values("external_id")
                       .annotate(n=Count("id")).values_list("external_id", "n"))
        rows[provider] = {"acknowledged": len(ids), "stored": sum(k for _, k in got),
                          "duplicates": sum(k - 1 for _, k in got if k > 1), "lost": len(set(ids) - {i for i, _ in got})}
    errors = InboundEvent.objects.filter(id__gt=first).exclude(error="").count()

    out = [{"name": "webhook_floor", "figures": {**floor, "web_cpu_ms_per_request": floor_cpu},
            "target": "reference: HMAC check, JSON parse, one INSERT, same server, nothing behind it", "met": None}]
    for mode, _ in MODES:
        for provider in providers:
            closed, steady_r = median_closed(f"{provider}_{mode}"), median_steady(f"{provider}_{mode}")
            ratio = round(closed["rps"] / floor_rps, 2) if floor_rps else None
            p99_ratio = round(steady_r["p99_ms"] / floor_p99, 2) if floor_p99 and steady_r["p99_ms"] is not None else None
            ok_rows = rows[provider]["duplicates"] == 0 and rows[provider]["lost"] == 0
            met = bool(ratio is not None and ratio >= TARGETS[mode] and p99_ratio is not None
                       and p99_ratio <= TARGETS["p99_vs_floor"] and ok_rows and not closed["errors"]
                       and not steady_r["errors"])
            runs = processing.get(f"{provider}_{mode}", [])
            out.append({
                "name": f"webhook_{provider}" + ("" if mode == "ingest_only" else "_with_worker"),
                "figures": {"mode": MODE_TEXT[mode], "closed_loop": closed, "steady": steady_r, "vs_floor": ratio,
                            "p99_vs_floor": p99_ratio, "rows": rows[provider], "events_with_errors": errors,
                            "processing": {"events_per_s_of_runs": [r.get("events_per_s") for r in runs],
                                           "worker_cpu_ms_per_event_of_runs": [r.get("worker_cpu_ms_per_event")
                                                                              for r in runs]}},
                "target": f">= {TARGETS[mode]} x floor req/s; p99 at {args.rate:g} req/s <= {TARGETS['p99_vs_floor']} x "
                          "floor's; 0 lost, 0 duplicated",
                "met": met,
            })
    if "meta" in providers and processing.get("meta_ingest_only"):
        # The worker alone on the machine (the web tier idle): its CPU per new Messenger message.
        per_event = sorted(r["worker_cpu_ms_per_event"] for r in processing["meta_ingest_only"]
                           if r.get("worker_cpu_ms_per_event"))
        cpu = per_event[len(per_event) // 2] if per_event else None
        ratio = round(cpu / floor_cpu, 2) if cpu and floor_cpu else None
        out.append({"name": "processing_cpu", "figures": {
            "worker_cpu_ms_per_message": cpu, "worker_cpu_ms_per_message_of_runs": per_event,
            "floor_web_cpu_ms_per_request": floor_cpu, "vs_floor": ratio,
            "events_per_s_of_runs": [r.get("events_per_s") for r in processing["meta_ingest_only"]],
            "note": "worker processes' CPU (/proc utime+stime, pool children and the dispatch listener) while "
                    "draining what the paused run stored, over the events processed; bench row processing_profile "
                    "breaks one message down by phase"},
            "target": f"<= {TARGETS['processing_cpu_vs_floor']} x the write floor's CPU per request",
            "met": bool(ratio is not None and ratio <= TARGETS["processing_cpu_vs_floor"])})
    return out

