#!/usr/bin/env python
"""`make bench`: every benchmark against PostgreSQL + Redis and the production server setup.

Uses its own database (`inbox_bench`, created if missing, loaded once by `seed_bench`), its own
Redis database number and channel-layer prefix, starts the README's production processes (gunicorn
for HTTP, daphne for /ws/, a Celery worker, `--worker-nice` to lower its priority; `BENCH_FLOOR=1`) in their own
process groups, drives them from this process over loopback
(asyncio + aiohttp), prints a table and writes `bench/results.json`. Everything it starts is
stopped on the way out. Figures, not assertions: `met` says whether a target was reached.

    .venv/bin/python bench/run.py                       # 100k conversations / 1M messages
    .venv/bin/python bench/run.py --quick               # 5k / 50k, for developing
    .venv/bin/python bench/run.py --only webhooks,inbox_list
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
PORT = int(os.environ.get("BENCH_PORT", "8765"))  # gunicorn: every URL but /ws/
WS_PORT = PORT + 1  # daphne: /ws/ (a reverse proxy joins the two in production)
BASE = f"http://127.0.0.1:{PORT}"
WS_BASE = f"http://127.0.0.1:{WS_PORT}"
DB_NAME = os.environ.get("BENCH_DB", "inbox_bench")
META_SECRET = "bench-app-secret"
TWILIO_TOKEN = "bench-twilio-token"
TWILIO_SID = "AC" + "0" * 30 + "be"
PAGE_ID = "900000000000001"  # the Bench Page inbox of seed_bench
SMS_NUMBER = "+14155550199"
STATE = ROOT / "bench" / ".seeded.json"
# Requests sent to warm each web process up before a latency is sampled (gunicorn spreads them).
WARM_UP_PER_PROCESS = 2 * (os.cpu_count() or 1) + 1
LOGS = ROOT / "bench" / "logs"

ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
    "CHANNEL_LAYER_PREFIX": "bench",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "PUBLIC_BASE_URL": BASE,
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_HSTS_SECONDS": "0",
    "META_APP_SECRET": META_SECRET,
    "META_VERIFY_TOKEN": "bench-verify",
    "TWILIO_ACCOUNT_SID": TWILIO_SID,
    "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    # Provider APIs are never called for inbound traffic; point them at nothing reachable anyway.
    "META_GRAPH_URL": "http://127.0.0.1:9/graph",
    "TWILIO_API_URL": "http://127.0.0.1:9/twilio",
    "BENCH_FLOOR": "1",
    # No Graph API here to ask for Meta customers' names: every lookup would fail and be retried.
    "META_PROFILE_FETCH": "0",
    # The benchmarks time requests; the API's per-token rate limit (600/min) is not what they measure.
    "API_THROTTLE_RATE": "1000000/min",
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "inbox_project.settings",
}


# --- figures --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ms(values: list[float]) -> dict:
    return {f"p{int(q * 100)}_ms": round(pct(values, q) * 1000, 1) if values else None for q in (0.5, 0.95, 0.99)}


def hwm_kib(pid: int) -> int:
    """Peak resident set (VmHWM) of a process, in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out.append(int(child))
                out.extend(descendants(int(child)))
    except OSError:
        pass
    return out


# --- processes ------------------------------------------------------------------------------------


class Processes:
    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.peak: dict[str, int] = {}
        self.count: dict[str, int] = {}  # processes seen under each name (a gunicorn arbiter and its workers)

    def start(self, name: str, argv: list[str]) -> None:
        LOGS.mkdir(exist_ok=True)
        log = open(LOGS / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def sample(self) -> None:
        """Peak RSS so far; the worker's pool children are read while they are alive."""
        for name, proc in self.procs.items():
            pids = [proc.pid] + descendants(proc.pid)
            self.peak[name] = max(self.peak.get(name, 0), max(hwm_kib(p) for p in pids))
            self.count[name] = max(self.count.get(name, 0), len(pids))

    def signal(self, name: str, signum: int) -> None:
        """Signal a started process and everything in its process group (e.g. pause a worker)."""
        try:
            os.killpg(self.procs[name].pid, signum)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self.sample()
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


def server_log_errors(names) -> dict:
    """Errors the servers logged during the run (bench/logs/<name>.log): a figure can look fine while
    sockets were being dropped, as a channel-layer failure once showed only in daphne's log."""
    errors, tracebacks, first = {}, {}, {}
    for name in names:
        path = LOGS / f"{name}.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        bad = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
        errors[name] = len(bad)
        tracebacks[name] = sum(line.startswith("Traceback") for line in lines)
        if bad:
            first[name] = bad[0][:300]
    return {"errors": errors, "tracebacks": tracebacks, "first_error": first}


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout}s; see bench/logs/")


# --- setup ----------------------------------------------------------------------------------------


def ensure_database() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
            print(f"created database {DB_NAME}")


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=os.environ.copy(), check=True)


def ensure_seeded(size: dict, reseed: bool) -> None:
    current = json.loads(STATE.read_text()) if STATE.exists() else None
    if current and {k: current.get(k) for k in (*size, "db")} == {**size, "db": DB_NAME} and not reseed:
        print(f"database {DB_NAME} already holds {size['conversations']} conversations / {size['messages']} messages")
        return
    t = time.monotonic()
    manage("seed_bench", "--conversations", str(size["conversations"]), "--messages", str(size["messages"]),
           "--agents", str(size["agents"]), "--heavy", str(size["heavy"]))
    STATE.write_text(json.dumps({**size, "db": DB_NAME, "seconds": round(time.monotonic() - t, 1)}))


def vacuum() -> None:
    """Clear the dead rows earlier runs left, as autovacuum would in production: this machine's
    PostgreSQL runs with autovacuum off, and without this every run is slower than the last."""
    import psycopg

    t = time.monotonic()
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={DB_NAME}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    print(f"vacuumed {DB_NAME} ({time.monotonic() - t:.1f}s)")


def credentials() -> dict:
    """API tokens for the heavy agent and the Social manager; sessions for every agent."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    backend = "django.contrib.auth.backends.ModelBackend"
    tokens = {name: Token.objects.get_or_create(user=User.objects.get(username=name))[0].key
              for name in ("agent0001", "manager2", "bench_admin")}
    sessions = {}
    for user in User.objects.filter(username__startswith="agent").order_by("username"):
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        sessions[user.pk] = session.session_key
    return {"tokens": tokens, "sessions": sessions}


# --- request builders -----------------------------------------------------------------------------


def meta_request(psid: str, mid: str, text: str) -> tuple[str, bytes, dict]:
    now_ms = int(time.time() * 1000)
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": now_ms, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms,
        "message": {"mid": mid, "text": text}}]}]}, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return "/webhooks/meta/", body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}


def twilio_request(phone: str, sid: str, text: str) -> tuple[str, bytes, dict]:
    path = "/webhooks/twilio/sms/"
    params = {"ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "SAN FRANCISCO",
              "FromZip": "30512", "SmsSid": sid, "FromState": "GA", "SmsStatus": "received", "FromCity": "BLAIRSVILLE",
              "Body": text, "FromCountry": "US", "To": SMS_NUMBER, "ToZip": "94105", "NumSegments": "1",
              "MessageSid": sid, "AccountSid": TWILIO_SID, "From": phone, "ApiVersion": "2010-04-01"}
    signed = BASE + path + "".join(k + params[k] for k in sorted(params))
    signature = base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return path, urllib.parse.urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}


# --- load generation ------------------------------------------------------------------------------


async def closed_loop(requests: list, concurrency: int, max_seconds: float) -> dict:
    """`concurrency` clients back to back until the requests or the time run out: throughput."""
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent: list[int] = []
    queue = iter(enumerate(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(BASE, connector=connector) as session:
        start = time.perf_counter()
        deadline = start + max_seconds

        async def client() -> None:
            for i, (path, body, headers) in queue:
                if time.perf_counter() > deadline:
                    return
                t = time.perf_counter()
                try:
                    async with session.post(path, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                            continue
                except aiohttp.ClientError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t)
                sent.append(i)

        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "seconds": round(elapsed, 2), "rps": round(len(latencies) / elapsed, 1),
            **ms(latencies), "errors": errors, "ok_indexes": sent}


async def open_loop(requests: list, rate: float) -> dict:
    """A steady `rate` of requests whatever the answers take; latency counts from the planned start."""
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent: list[int] = []
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(BASE, connector=connector) as session:
        start = time.perf_counter()

        async def one(i: int, path: str, body: bytes, headers: dict) -> None:
            planned = start + i / rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            try:
                async with session.post(path, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                        return
            except aiohttp.ClientError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.perf_counter() - planned)
            sent.append(i)

        await asyncio.gather(*(one(i, *r) for i, r in enumerate(requests)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "rate": rate, "seconds": round(elapsed, 2),
            "achieved_rps": round(len(latencies) / elapsed, 1), **ms(latencies), "errors": errors, "ok_indexes": sent}


def strip(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if k != "ok_indexes"}


# --- 1. webhooks ----------------------------------------------------------------------------------


def bench_webhooks(args, procs: Processes) -> list[dict]:
    from django.db.models import Count, Max, Min

    from inbox.models import InboundEvent, Inbox, Message

    run = uuid.uuid4().hex[:8]
    rng = random.Random(1)
    n = args.webhook_requests

    def meta_batch(tag: str, count: int) -> tuple[list, list[str]]:
        reqs, mids = [], []
        for i in range(count):
            if mids and rng.random() < 0.03:  # a redelivery: the same body and signature again
                reqs.append(reqs[rng.randrange(len(reqs))])
                continue
            mid = f"m_bench_{run}_{tag}_{i}"
            mids.append(mid)
            reqs.append(meta_request(f"psbench{run}{rng.randrange(400)}", mid, f"hello {i}"))
        return reqs, mids

    def twilio_batch(tag: str, count: int) -> tuple[list, list[str]]:
        reqs, sids = [], []
        for i in range(count):
            if sids and rng.random() < 0.03:
                reqs.append(reqs[rng.randrange(len(reqs))])
                continue
            sid = "SM" + hashlib.md5(f"{run}{tag}{i}".encode()).hexdigest()
            sids.append(sid)
            reqs.append(twilio_request(f"+1556{rng.randrange(400):07d}", sid, f"hi {i}"))
        return reqs, sids

    def floor_request(key: str) -> tuple[str, bytes, dict]:
        _, body, headers = meta_request("psfloor", key, "x")
        return "/bench/floor/", body, headers

    steady = int(args.rate * args.steady_seconds)
    floor_reqs = [floor_request(f"floor_{run}_{i}") for i in range(n)]
    # Fresh keys for the floor's steady run: ON CONFLICT DO NOTHING is cheaper than a new row.

    def meta_id(r):
        return json.loads(r[1])["entry"][0]["messaging"][0]["message"]["mid"]

    def twilio_id(r):
        return urllib.parse.parse_qs(r[1].decode())["MessageSid"][0]

    def drain(reqs: list, id_of) -> dict:
        """Wait for the worker to process what a phase stored, so the next phase starts level;
        processing throughput counts from the phase's first stored event to its last processed one."""
        keys = list({id_of(r) for r in reqs})
        t = time.monotonic()
        pending = None
        while time.monotonic() - t < args.drain_seconds:
            pending = InboundEvent.objects.filter(dedupe_key__in=keys, processed_at=None).count()
            procs.sample()
            if pending == 0:
                break
            time.sleep(0.5)
        span = InboundEvent.objects.filter(dedupe_key__in=keys).aggregate(
            n=Count("id"), first=Min("received_at"), last=Max("processed_at"))
        seconds = (span["last"] - span["first"]).total_seconds() if span["last"] and span["first"] else None
        return {"events": span["n"], "pending": pending, "seconds": round(seconds, 1) if seconds else None,
                "events_per_s": round(span["n"] / seconds, 1) if seconds else None,
                "drain_after_load_s": round(time.monotonic() - t, 1)}

    def phase(name: str, reqs: list, steady_rate: bool, id_of, worker_running: bool) -> tuple[dict, dict | None]:
        """One load run. With the worker stopped (SIGSTOP) only the ingest path is measured, like the
        floor, which has no processing behind it; the worker then resumes and drains."""
        if not worker_running:
            procs.signal("worker", signal.SIGSTOP)
        try:
            if steady_rate:
                figures = asyncio.run(open_loop(reqs, args.rate))
                label = f"open loop {args.rate:g}/s"
            else:
                figures = asyncio.run(closed_loop(reqs, args.concurrency, args.max_seconds))
                label = f"closed loop c={args.concurrency}"
        finally:
            procs.signal("worker", signal.SIGCONT)
        procs.sample()
        print(f"  {name:22s} {label}: {strip(figures)}")
        processed = None
        if id_of is not None:
            done = set(figures["ok_indexes"])
            processed = drain([r for i, r in enumerate(reqs) if i in done], id_of)
            print(f"  {'':22s} processed: {processed}")
        return figures, processed

    def summed_errors(results: list[dict]) -> dict[str, int]:
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        return errors

    def median_run(results: list[dict]) -> dict:
        """The run with the median throughput, with every run's req/s beside it."""
        ordered = sorted(results, key=lambda r: r["rps"])
        return {**ordered[len(ordered) // 2], "rps_of_runs": [r["rps"] for r in results], "errors": summed_errors(results)}

    # Warm every web process up (imports, URL resolver, pool, broker connection) before measuring.
    warm = 3 * WARM_UP_PER_PROCESS
    warm_meta, _ = meta_batch("warm", warm)
    warm_twilio, _ = twilio_batch("warm", warm)
    asyncio.run(closed_loop([floor_request(f"floor_{run}_w{i}") for i in range(warm)] + warm_meta + warm_twilio,
                            args.concurrency, 30))
    drain(warm_meta, meta_id)
    drain(warm_twilio, twilio_id)

    # Throughput runs are short: each is repeated (floor and webhooks taking turns, so a slow
    # moment of the machine does not fall on one of them only) and the median run is reported.
    acked: dict[str, set[str]] = {"meta": set(), "twilio": set()}
    closed_runs: dict[str, list[dict]] = {}
    processed_closed: dict[str, list[dict]] = {}
    webhooks = (("meta", meta_batch, meta_id), ("twilio", twilio_batch, twilio_id))
    modes = (("ingest_only", False), ("with_worker", True))
    for round_ in range(args.rounds):
        reqs = floor_reqs if round_ == 0 else [floor_request(f"floor_{run}_{round_}_{i}") for i in range(n)]
        closed_runs.setdefault("floor", []).append(phase(f"floor #{round_ + 1}", reqs, False, None, False)[0])
        for mode, worker_running in modes:
            for label, batch, id_of in webhooks:
                reqs, _ = batch(f"c{mode}{round_}", n)
                figures, processed = phase(f"{label} {mode} #{round_ + 1}", reqs, False, id_of, worker_running)
                acked[label] |= {id_of(reqs[i]) for i in figures["ok_indexes"]}
                closed_runs.setdefault(f"{label}_{mode}", []).append(figures)
                processed_closed.setdefault(f"{label}_{mode}", []).append(processed)
    # Steady-rate runs are repeated the same way; the run with the median p99 is reported, with
    # every run's p99 beside it (a stall of the machine lands on one run, not on the figure).
    steady_runs: dict[str, list[tuple[dict, dict | None]]] = {}
    for round_ in range(args.rounds):
        # Fresh keys for the floor too: ON CONFLICT DO NOTHING is cheaper than a new row.
        floor_steady = [floor_request(f"floor_{run}_s{round_}_{i}") for i in range(steady)]
        steady_runs.setdefault("floor", []).append(phase(f"floor steady #{round_ + 1}", floor_steady, True, None, False))
        for mode, worker_running in modes:
            for label, batch, id_of in webhooks:
                steady_reqs, _ = batch(f"s{mode}{round_}", steady)
                steady_r, processed_steady = phase(f"{label} {mode} steady #{round_ + 1}", steady_reqs, True, id_of,
                                                   worker_running)
                acked[label] |= {id_of(steady_reqs[i]) for i in steady_r["ok_indexes"]}
                steady_runs.setdefault(f"{label}_{mode}", []).append((steady_r, processed_steady))

    def median_steady(key: str) -> tuple[dict, dict | None]:
        pairs = steady_runs[key]
        ordered = sorted(pairs, key=lambda pair: pair[0]["p99_ms"] if pair[0]["p99_ms"] is not None else float("inf"))
        figures, processed = ordered[len(ordered) // 2]
        results = [r for r, _ in pairs]
        return {**figures, "p99_ms_of_runs": [r["p99_ms"] for r in results], "errors": summed_errors(results)}, processed

    floor = {"closed": median_run(closed_runs["floor"]), "steady": median_steady("floor")[0]}
    runs: dict[str, dict] = {}
    for mode, _ in modes:
        for label, _, _ in webhooks:
            key = f"{label}_{mode}"
            steady_r, processed_steady = median_steady(key)
            throughputs = [p["events_per_s"] for p in processed_closed[key] if p and p["events_per_s"]]
            runs[key] = {"closed": median_run(closed_runs[key]), "steady": steady_r,
                         "processing": {"closed_loop_events_per_s_of_runs": throughputs,
                                        "closed_loop": processed_closed[key][0], "steady": processed_steady}}

    keys = list(acked["meta"] | acked["twilio"])
    pending = InboundEvent.objects.filter(dedupe_key__in=keys, processed_at=None).count()
    page = Inbox.objects.get(kind="messenger", external_id=PAGE_ID)
    sms = Inbox.objects.get(kind="sms", external_id=SMS_NUMBER)
    rows = {}
    for label, inbox in (("meta", page), ("twilio", sms)):
        ids = acked[label]
        got = list(Message.objects.filter(inbox=inbox, external_id__in=list(ids)).values("external_id")
                   .annotate(n=Count("id")).values_list("external_id", "n"))
        rows[label] = {"acknowledged": len(ids), "messages": sum(n for _, n in got),
                       "duplicates": sum(n - 1 for _, n in got if n > 1), "lost": len(ids - {k for k, _ in got})}
    errors = InboundEvent.objects.filter(dedupe_key__in=keys).exclude(error="").count()
    floor_rps = floor["closed"]["rps"]
    target = f">= 60% of floor req/s; p99 < 100 ms at {args.rate:g} req/s; 0 duplicates, 0 lost"
    out = []
    for label in ("meta", "twilio"):
        for mode in ("ingest_only", "with_worker"):
            run_ = runs[f"{label}_{mode}"]
            closed, steady_r = run_["closed"], run_["steady"]
            ratio = round(closed["rps"] / floor_rps, 2) if floor_rps else None
            met = bool(ratio is not None and ratio >= 0.6 and steady_r["p99_ms"] is not None
                       and steady_r["p99_ms"] < 100 and rows[label]["duplicates"] == 0 and rows[label]["lost"] == 0
                       and not steady_r["errors"] and not closed["errors"])
            name = f"webhook_ingest_{label}" + ("" if mode == "ingest_only" else "_with_worker")
            out.append({
                "name": name,
                "figures": {"mode": WEBHOOK_MODES[mode], "closed_loop": strip(closed), "steady": strip(steady_r),
                            "vs_floor": ratio, "processing": run_["processing"],
                            # Counted over both modes: every id acknowledged by this provider's webhook.
                            "rows": rows[label], "events_with_errors": errors, "pending_after_drain": pending},
                "target": target, "met": met,
            })
    out.append({"name": "webhook_floor", "figures": {"closed_loop": strip(floor["closed"]),
                                                     "steady": strip(floor["steady"])},
                "target": "reference (HMAC check, JSON parse, one INSERT, same server, nothing behind it)",
                "met": None})
    return out


WEBHOOK_MODES = {
    "ingest_only": "the worker (with its listener, which publishes the processing tasks) is paused "
                   "(SIGSTOP) during the load, as the floor has nothing behind it; it then resumes, "
                   "dispatches and processes everything",
    "with_worker": "the worker processes events on the same two cores during the load",
}


# --- 2. inbox list --------------------------------------------------------------------------------


def bench_inbox_list(args, creds: dict, procs: Processes) -> list[dict]:
    import urllib.request

    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token = creds["tokens"]["agent0001"]
    headers = {"Authorization": f"Token {token}"}
    first = f"{BASE}/api/v1/conversations/?assignee=me&status=open"

    def get(url: str) -> tuple[float, dict]:
        req = urllib.request.Request(url, headers=headers)
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return time.perf_counter() - t, json.loads(body)

    for _ in range(3 * WARM_UP_PER_PROCESS):  # every web process's first requests (imports, URL resolver, pool)
        get(first)
    url, walk, pages = first, [], 1
    while pages < 200:
        seconds, data = get(url)
        walk.append(seconds)
        if not data["next"]:
            break
        url, pages = data["next"], pages + 1
    page200_url = url
    for _ in range(3 * WARM_UP_PER_PROCESS):
        seconds, data = get(page200_url)
    page200_rows = len(data["results"])
    # Page 1 and page 200 take turns, so a slow moment of the machine falls on both alike.
    page1, page200 = [], []
    for _ in range(args.list_samples):
        page1.append(get(first)[0])
        page200.append(get(page200_url)[0])
    procs.sample()

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    counts = {}
    for label, full in (("page1", first), ("page200", page200_url)):
        path = full.removeprefix(BASE)
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get(path)
        assert resp.status_code == 200, resp.status_code
        counts[label] = len(ctx.captured_queries)
    p95_1, p95_200 = pct(page1, 0.95) * 1000, pct(page200, 0.95) * 1000
    figures = {
        "page1": ms(page1), "page200": ms(page200), "pages_walked": pages, "page200_rows": page200_rows,
        "walk_mean_ms": round(sum(walk) / len(walk) * 1000, 1) if walk else None,
        "queries": counts, "page200_over_page1_p95": round(p95_200 / p95_1, 2),
    }
    met = (pages == 200 and p95_1 < 50 and p95_200 < 50 and counts["page1"] == counts["page200"]
           and p95_200 <= 1.2 * p95_1)
    return [{"name": "inbox_list_api", "figures": figures,
             "target": "p95 < 50 ms; constant query count; page 200 <= 1.2 x page 1", "met": met}]


# --- 3. realtime ----------------------------------------------------------------------------------


async def worker_idle(quiet: float = 1.5, limit: float = 120) -> float:
    """Wait until the broker's task queue has stayed empty for `quiet` seconds; returns the wait."""
    import redis

    client = redis.Redis.from_url(ENV["REDIS_URL"])
    t = time.monotonic()
    empty_since = None
    try:
        while time.monotonic() - t < limit:
            if client.llen("celery"):
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since >= quiet:
                break
            await asyncio.sleep(0.1)
    finally:
        client.close()
    return round(time.monotonic() - t, 1)


def bench_realtime(args, creds: dict, procs: Processes) -> list[dict]:
    from django.contrib.auth import get_user_model

    from inbox.models import Conversation, Identity, Inbox
    from inbox.team.access import conversations_visible_to

    page = Inbox.objects.get(kind="messenger", external_id=PAGE_ID)
    existing = list(Identity.objects.filter(channel="messenger", scope=PAGE_ID, external_id__startswith="ps")
                    .exclude(external_id__startswith="psbench").values_list("external_id", flat=True)[:50])
    run = uuid.uuid4().hex[:8]
    events = []
    for i in range(args.realtime_events):
        # Half to existing threads (assigned agents, team), half from new people (new conversations).
        psid = existing[i % len(existing)] if i % 2 == 0 and existing else f"psrt{run}{i}"
        mid = f"m_rt_{run}_{i}"
        events.append((mid, meta_request(psid, mid, f"realtime {i}")))
    sessions = creds["sessions"]
    received: dict[str, dict[int, float]] = {mid: {} for mid, _ in events}
    sent_at: dict[str, float] = {}

    async def main() -> dict:
        import aiohttp

        connected = 0
        stop = asyncio.Event()
        # Every web process's first webhooks (imports, URL resolver, pool) before anything is timed.
        await closed_loop([meta_request(f"psrtwarm{run}{i}", f"m_rtwarm_{run}_{i}", "warm-up")
                           for i in range(3 * WARM_UP_PER_PROCESS)], args.concurrency, 30)
        async with aiohttp.ClientSession(BASE, connector=aiohttp.TCPConnector(limit=0)) as session:
            sockets = []

            async def connect(user_id: int, key: str):
                ws = await session.ws_connect(f"{WS_BASE}/ws/inbox/", headers={"Cookie": f"sessionid={key}", "Origin": BASE},
                                              heartbeat=None, max_msg_size=0)
                hello = await ws.receive_json(timeout=30)
                assert hello.get("type") == "hello", hello
                return user_id, ws

            t = time.perf_counter()
            items = list(sessions.items())
            for i in range(0, len(items), 25):
                sockets += await asyncio.gather(*(connect(u, k) for u, k in items[i:i + 25]))
            connect_seconds = time.perf_counter() - t
            connected = len(sockets)

            async def reader(user_id: int, ws) -> None:
                while not stop.is_set():
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            return
                        continue
                    now = time.perf_counter()
                    frame = json.loads(msg.data)
                    if frame.get("type") == "message.created":
                        mid = (frame.get("message") or {}).get("external_id")
                        if mid in received and user_id not in received[mid]:
                            received[mid][user_id] = now

            readers = [asyncio.create_task(reader(u, ws)) for u, ws in sockets]
            # 200 agents coming online is work of its own (presence; queue drains to agents presence
            # had set away): the events start once the worker has it behind it.
            settle_seconds = await worker_idle()
            for mid, (path, body, headers) in events:
                sent_at[mid] = time.perf_counter()
                async with session.post(path, data=body, headers=headers) as resp:
                    await resp.read()
                await asyncio.sleep(args.realtime_gap)
            await asyncio.sleep(5.0)
            stop.set()
            await asyncio.gather(*readers)
            await asyncio.gather(*(ws.close() for _, ws in sockets))  # all at once, as when a tab-heavy office goes home

            # A reconnect storm (daphne restarted, every browser back at once): all 200 sockets
            # connect together; each must get its hello.
            t = time.perf_counter()
            storm = await asyncio.gather(*(connect(u, k) for u, k in items), return_exceptions=True)
            storm_seconds = time.perf_counter() - t
            reconnected = [r for r in storm if not isinstance(r, BaseException)]
            await asyncio.gather(*(ws.close() for _, ws in reconnected))
        return {"connected": connected, "connect_seconds": round(connect_seconds, 2), "settle_seconds": settle_seconds,
                "storm": {"sockets": len(items), "connected": len(reconnected), "seconds": round(storm_seconds, 2),
                          "failed": len(storm) - len(reconnected)}}

    info = asyncio.run(main())
    procs.sample()
    # Who may see each message, by the same rule the API uses.
    User = get_user_model()
    conv_of = {}
    from inbox.models import Message

    for mid, conv in Message.objects.filter(inbox=page, external_id__in=list(received)).values_list(
            "external_id", "conversation_id"):
        conv_of[mid] = conv
    users = {u.pk: u for u in User.objects.filter(pk__in=list(sessions))}
    visible: dict[int, set[int]] = {}
    conv_ids = list(set(conv_of.values()))
    for uid, user in users.items():
        visible[uid] = set(conversations_visible_to(user).filter(pk__in=conv_ids).values_list("pk", flat=True))
    latencies, missed, leaked, expected_total = [], 0, 0, 0
    for mid, conv in conv_of.items():
        should = {uid for uid in users if conv in visible[uid]}
        got = received[mid]
        expected_total += len(should)
        missed += len(should - set(got))
        leaked += len(set(got) - should)
        latencies += [got[u] - sent_at[mid] for u in should & set(got)]
    unstored = len(received) - len(conv_of)
    figures = {**info, "events": len(events), "deliveries_expected": expected_total, "deliveries": len(latencies),
               "missed": missed, "leaked_to_agents_who_may_not_see": leaked, "events_not_stored": unstored,
               **ms(latencies), "conversations": Conversation.objects.filter(pk__in=conv_ids).count()}
    p95 = figures["p95_ms"]
    met = bool(p95 is not None and p95 < 150 and missed == 0 and leaked == 0 and unstored == 0
               and not figures["storm"]["failed"])
    return [{"name": "realtime_fanout", "figures": figures,
             "target": "p95 < 150 ms webhook -> message.created at every agent who may see it; a reconnect "
                       "storm of every agent at once all connected", "met": met}]


# --- 4. dashboard ---------------------------------------------------------------------------------

RAW_RESPONSIVENESS = """
WITH m AS (
    SELECT id, created_at, direction, sender_type,
           lag(created_at) OVER w AS prev_at,
           min(created_at) FILTER (WHERE direction = 'out' AND sender_type = 'agent')
               OVER (w ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS reply_at
    FROM inbox_message
    WHERE inbox_id = %(inbox)s AND NOT is_private
    WINDOW w AS (PARTITION BY conversation_id ORDER BY created_at, id)
), counted AS (
    SELECT extract(epoch FROM reply_at - created_at) AS seconds
    FROM m
    WHERE direction = 'in' AND sender_type = 'customer'
      AND (prev_at IS NULL OR created_at - prev_at >= interval '24 hours')
      AND created_at >= %(since)s AND created_at < %(until)s
), ranked AS (
    SELECT seconds, row_number() OVER (ORDER BY seconds) AS rn, count(*) OVER () AS n
    FROM counted WHERE seconds IS NOT NULL
)
SELECT (SELECT count(*) FROM counted), (SELECT count(*) FROM ranked),
       (SELECT avg(seconds) FROM ranked WHERE rn <= greatest(1, floor(0.9 * n + 1e-9)))
"""


def bench_dashboard(args, creds: dict, procs: Processes) -> list[dict]:
    import urllib.request

    from django.db import connection

    from inbox import metrics
    from inbox.models import Inbox

    page = Inbox.objects.get(kind="messenger", external_id=PAGE_ID)
    url = f"{BASE}/api/v1/metrics/responsiveness/?inbox={page.pk}&days=90"
    headers = {"Authorization": f"Token {creds['tokens']['manager2']}"}

    def get() -> tuple[float, dict]:
        req = urllib.request.Request(url, headers=headers)
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read()
        return time.perf_counter() - t, json.loads(body)

    get()
    timings, last = [], None
    for _ in range(args.samples):
        seconds, last = get()
        timings.append(seconds)
    procs.sample()
    since, until = metrics.window(90)
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(RAW_RESPONSIVENESS, {"inbox": page.pk, "since": since, "until": until})
        counted, answered, fastest = cursor.fetchone()
    raw_seconds = time.perf_counter() - t
    t = time.perf_counter()
    mine = metrics.responsiveness(since=since, until=until, inbox_ids=[page.pk])
    function_seconds = time.perf_counter() - t
    equal = (mine.counted == counted and mine.answered == answered
             and (fastest is None) == (mine.response_time_seconds is None)
             and (fastest is None or abs(float(fastest) - mine.response_time_seconds) < 1e-3))
    figures = {**ms(timings), "counted": mine.counted, "answered": mine.answered,
               "response_time_seconds": mine.response_time_seconds,
               "raw": {"counted": counted, "answered": answered, "fastest90_mean": float(fastest or 0),
                       "seconds": round(raw_seconds, 3)},
               "function_ms": round(function_seconds * 1000, 1), "equal_to_raw": equal,
               "api_counted": last["counted"], "messages_in_inbox_scope": None}
    met = bool(equal and figures["p95_ms"] < 200)
    return [{"name": "dashboard_responsiveness_90d", "figures": figures,
             "target": "< 200 ms; equal to the raw window-function computation", "met": met}]


# --- 5. campaigns ---------------------------------------------------------------------------------


def bench_campaigns(args, creds: dict, procs: Processes) -> list[dict]:
    try:
        from campaigns.models import Campaign, CampaignSend
        from campaigns.services import broadcast_plan, campaign_create
    except ImportError:
        return [{"name": "campaign_planning", "figures": {"note": "not measured: campaigns planning not built"},
                 "target": "< 30 s for 100,000 customers", "met": None}]

    from django.contrib.auth import get_user_model

    from customers.models import Customer
    from inbox.models import Inbox

    mailbox = Inbox.objects.get(kind="email", external_id="support@bench.example")
    admin = get_user_model().objects.get(username="bench_admin")
    campaign = campaign_create(by=admin, name=f"bench {uuid.uuid4().hex[:6]}", kind="broadcast", channel="email",
                               inbox=mailbox, text="Winter sale: 20% off everything this week.",
                               subject="Winter sale", audience={}, send_window={"start": "09:00", "end": "21:00"})
    t = time.perf_counter()
    planned = broadcast_plan(campaign=campaign)
    seconds = time.perf_counter() - t
    zones = CampaignSend.objects.filter(campaign=campaign).values("due_at").distinct().count()
    customers = Customer.objects.count()
    CampaignSend.objects.filter(campaign=campaign).delete()
    Campaign.objects.filter(pk=campaign.pk).delete()
    return [{"name": "campaign_planning", "figures": {
        "customers": customers, "planned": planned, "seconds": round(seconds, 2), "distinct_send_times": zones,
        "note": "broadcast_plan (audience, quiet-hours send time per zone, bulk insert); consent and caps are "
                "checked per send at dispatch, not here"},
        "target": "< 30 s for 100,000 customers", "met": planned >= min(100_000, customers) * 0.5 and seconds < 30}]


# --- 6. the workspace in a browser ------------------------------------------------------------------


def bench_workspace(args, creds: dict, procs: Processes) -> list[dict]:
    """Time to interactive of the workspace and of opening a thread (bench/workspace.py), as agent0001."""
    from django.contrib.auth import get_user_model

    from bench.workspace import bench_workspace_tti

    agent = get_user_model().objects.get(username="agent0001")
    results = bench_workspace_tti(base_url=BASE, session_key=creds["sessions"][agent.pk],
                                  loads=args.tti_loads, opens=args.tti_opens)
    procs.sample()
    return results


# --- main -----------------------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    lines = [f"{'benchmark':32s} {'met':6s} key figures", "-" * 100]
    for r in results:
        f = r["figures"]
        if r["name"].startswith("webhook_ingest"):
            key = (f"{f['closed_loop']['rps']} req/s ({f['vs_floor']}x floor), steady p50/p95/p99 "
                   f"{f['steady']['p50_ms']}/{f['steady']['p95_ms']}/{f['steady']['p99_ms']} ms, "
                   f"dup {f['rows']['duplicates']} lost {f['rows']['lost']}, processed "
                   f"{f['processing']['closed_loop_events_per_s_of_runs']} events/s")
        elif r["name"] == "webhook_floor":
            key = (f"{f['closed_loop']['rps']} req/s, steady p50/p95/p99 {f['steady']['p50_ms']}/"
                   f"{f['steady']['p95_ms']}/{f['steady']['p99_ms']} ms")
        elif r["name"] == "inbox_list_api":
            key = (f"p1 p50/p95 {f['page1']['p50_ms']}/{f['page1']['p95_ms']} ms, p200 {f['page200']['p50_ms']}/"
                   f"{f['page200']['p95_ms']} ms, queries {f['queries']}")
        elif r["name"] == "realtime_fanout":
            storm = f.get("storm") or {}
            key = (f"{f.get('deliveries')}/{f.get('deliveries_expected')} deliveries p50/p95/p99 {f.get('p50_ms')}/"
                   f"{f.get('p95_ms')}/{f.get('p99_ms')} ms, leaked {f.get('leaked_to_agents_who_may_not_see')}, "
                   f"storm {storm.get('connected')}/{storm.get('sockets')} in {storm.get('seconds')} s")
        elif r["name"].startswith("dashboard"):
            key = f"p50/p95 {f['p50_ms']}/{f['p95_ms']} ms, equal to raw: {f['equal_to_raw']}"
        elif r["name"] == "workspace_tti" and "list_shown" in f:
            key = (f"list shown p50/p95 {f['list_shown']['p50_ms']}/{f['list_shown']['p95_ms']} ms, thread "
                   f"{f['thread_shown']['p50_ms']}/{f['thread_shown']['p95_ms']} ms")
        elif r["name"] == "server_logs":
            key = f"errors {f['errors']}, tracebacks {f['tracebacks']}"
        elif r["name"] == "memory":
            key = ", ".join(f"{k} {v}" + (" MiB" if k.endswith("_mib") or "_mib_" in k else "") for k, v in f.items())
        else:
            key = json.dumps(f)[:90]
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        lines.append(f"{r['name']:32s} {met:6s} {key}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="5k conversations / 50k messages / 50 agents")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: webhooks,inbox_list,realtime,dashboard,campaigns")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--webhook-requests", type=int, default=1500)
    parser.add_argument("--max-seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="throughput and steady-rate runs per webhook (median)")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--steady-seconds", type=float, default=5)
    parser.add_argument("--drain-seconds", type=float, default=300)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--list-samples", type=int, default=200, help="inbox list: requests per page measured")
    parser.add_argument("--tti-loads", type=int, default=30,
                        help="workspace (step 'workspace'): page loads timed in Chromium until the list shows")
    parser.add_argument("--tti-opens", type=int, default=30, help="workspace: threads opened and timed")
    parser.add_argument("--realtime-events", type=int, default=40)
    parser.add_argument("--realtime-gap", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")
    parser.add_argument("--http", choices=["gunicorn", "daphne"], default="gunicorn",
                        help="what serves HTTP: the README's gunicorn, or daphne alone (the earlier setup, for comparison)")
    parser.add_argument("--web-workers", type=int, default=0,
                        help="gunicorn worker processes (default: WEB_CONCURRENCY, else 2 x CPUs + 1)")
    parser.add_argument("--worker-nice", type=int, default=0,
                        help="niceness of the Celery worker (10: webhook acks win the CPU over processing; "
                             "README: Benchmarks says what it changed)")
    args = parser.parse_args()
    if args.quick:
        args.conversations, args.messages, args.agents = 5000, 50_000, 50
        args.webhook_requests, args.steady_seconds, args.samples = 1000, 4, 15
    size = {"conversations": args.conversations, "messages": args.messages, "agents": args.agents,
            "heavy": min(11_000, args.conversations // 3)}
    only = set(filter(None, args.only.split(",")))

    os.environ.update(ENV)
    os.chdir(ROOT)
    ensure_database()
    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")  # as `make run` does: the servers serve it (WhiteNoise)
    ensure_seeded(size, args.reseed)
    vacuum()

    import django

    django.setup()
    creds = credentials()
    procs = Processes()
    results: list[dict] = []
    try:
        # The README's production setup: gunicorn for HTTP, daphne for /ws/, a Celery worker (at
        # normal priority unless --worker-nice says otherwise).
        procs.start("worker", ["nice", "-n", str(args.worker_nice), str(BIN / "celery"), "-A", "inbox_project", "worker",
                               "-l", "warning", "--concurrency", str(args.workers), "-n", f"bench@{os.uname().nodename}"])
        global WS_BASE
        if args.http == "gunicorn":
            if args.web_workers:
                os.environ["WEB_CONCURRENCY"] = str(args.web_workers)
            os.environ["GUNICORN_BIND"] = f"127.0.0.1:{PORT}"
            procs.start("web", [str(BIN / "gunicorn"), "-c", "python:inbox_project.gunicorn_conf", "inbox_project.wsgi"])
            procs.start("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(WS_PORT),
                                   "inbox_project.asgi:application"])
        else:  # the earlier setup, for comparison: one daphne process serves HTTP and /ws/
            WS_BASE = BASE
            procs.start("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(PORT), "inbox_project.asgi:application"])
        wait_http(f"{BASE}/healthz")
        wait_http(f"{WS_BASE}/healthz")
        time.sleep(2)  # let the worker finish booting
        steps = [("webhooks", lambda: bench_webhooks(args, procs)),
                 ("inbox_list", lambda: bench_inbox_list(args, creds, procs)),
                 ("realtime", lambda: bench_realtime(args, creds, procs)),
                 ("dashboard", lambda: bench_dashboard(args, creds, procs)),
                 ("campaigns", lambda: bench_campaigns(args, creds, procs)),
                 ("workspace", lambda: bench_workspace(args, creds, procs))]
        for name, step in steps:
            if only and name not in only:
                continue
            print(f"== {name}")
            t = time.monotonic()
            try:
                results += step()
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                import traceback

                traceback.print_exc()
                results.append({"name": name, "figures": {"error": f"{type(exc).__name__}: {exc}"}, "target": "",
                                "met": False})
            print(f"   ({time.monotonic() - t:.1f}s)")
    finally:
        procs.stop()
    logged = server_log_errors(procs.procs)
    results.append({"name": "server_logs", "figures": logged, "target": "no errors logged by the servers",
                    "met": not any(logged["errors"].values()) and not any(logged["tracebacks"].values())})
    results.append({"name": "memory", "figures": {
        "web_peak_rss_mib_per_process": round(procs.peak.get("web", 0) / 1024, 1),
        "web_processes": procs.count.get("web", 0),
        "daphne_peak_rss_mib": round(procs.peak.get("daphne", 0) / 1024, 1),
        "worker_peak_rss_mib_per_process": round(procs.peak.get("worker", 0) / 1024, 1),
        "loadgen_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, "target": "reported", "met": None})
    http = (f"gunicorn ({procs.count.get('web', 0) - 1} sync workers) for HTTP, daphne for /ws/"
            if args.http == "gunicorn" else "daphne (1 process) for HTTP and /ws/")
    meta = {"size": size, "server": f"{http}, celery worker --concurrency {args.workers} at nice {args.worker_nice}",
            "cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%d %H:%M")}
    out = ROOT / "bench" / ("results.quick.json" if args.quick else "results.json" if args.http == "gunicorn"
                            else f"results.{args.http}.json")
    out.write_text(json.dumps([{"name": "run", "figures": meta, "target": "", "met": None}] + results, indent=2,
                              default=str))
    print()
    print(table(results))
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
