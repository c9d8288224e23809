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
import resource
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The step modules (bench/webhooks.py, bench/realtime.py…) import this one as `bench.run`: the same module.
sys.modules.setdefault("bench.run", sys.modules[__name__])
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
PORT = int(os.environ.get("BENCH_PORT", "8765"))  # gunicorn: every URL but /ws/
WS_PORT = PORT + 1  # daphne: /ws/ (a reverse proxy joins the two in production)
BASE = f"http://127.0.0.1:{PORT}"
WS_BASE = f"http://127.0.0.1:{WS_PORT}"
WS2_PORT = PORT + 2  # a second daphne: the realtime run that spreads sockets over two processes
WS2_BASE = f"http://127.0.0.1:{WS2_PORT}"
GROUP_B_PORT = PORT + 10  # --two-groups: group B's gunicorn (its daphne on the next port)
DB_NAME = os.environ.get("BENCH_DB", "inbox_bench")
META_SECRET = "bench-app-secret"
TWILIO_TOKEN = "bench-twilio-token"
TWILIO_SID = "AC" + "0" * 30 + "be"
PAGE_ID = "900000000000001"  # the Bench Page inbox of seed_bench
SMS_NUMBER = "+14155550199"
# What each database was seeded with (one file per database: engineers' runs use databases of their own).
STATE = ROOT / "bench" / (".seeded.json" if DB_NAME == "inbox_bench" else f".seeded.{DB_NAME}.json")
# Requests sent to warm each web process up before a latency is sampled (gunicorn spreads them).
WARM_UP_PER_PROCESS = 2 * (os.cpu_count() or 1) + 1
LOGS = ROOT / "bench" / "logs" / ("" if DB_NAME == "inbox_bench" else DB_NAME)

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


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        LOGS.mkdir(parents=True, exist_ok=True)
        log = open(LOGS / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def sample(self) -> None:
        """Peak RSS so far; the worker's pool children are read while they are alive."""
        for name, proc in self.procs.items():
            pids = [proc.pid] + descendants(proc.pid)
            self.peak[name] = max(self.peak.get(name, 0), max(hwm_kib(p) for p in pids))
            self.count[name] = max(self.count.get(name, 0), len(pids))

    def cpu_seconds(self, name: str) -> float:
        """CPU (user + system) used so far by a started process and its live descendants (a gunicorn
        arbiter and its workers, a Celery worker and its pool), from /proc."""
        proc = self.procs.get(name)
        if proc is None:
            return 0.0
        return sum(cpu_seconds(pid) for pid in [proc.pid] + descendants(proc.pid))

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
    errors, tracebacks, first, dropped = {}, {}, {}, {}
    for name in names:
        path = LOGS / f"{name}.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        bad = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
        errors[name] = len(bad)
        tracebacks[name] = sum(line.startswith("Traceback") for line in lines)
        # Realtime frames the channel layer could not take (a full channel key, Redis away): warnings.
        dropped[name] = sum("message dropped" in line or "channel layer unavailable" in line for line in lines)
        if bad:
            first[name] = bad[0][:300]
    return {"errors": errors, "tracebacks": tracebacks, "first_error": first, "frames_dropped": dropped}


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


def flush_redis() -> None:
    """Empty the bench's own Redis database: group members of the daphne processes of earlier runs
    would otherwise stay for the layer's group expiry (an hour), their full channel keys dropping
    every frame sent to them (warnings the server_logs row counts), and old tasks would wait in the queue."""
    import redis

    client = redis.Redis.from_url(ENV["REDIS_URL"])
    try:
        client.flushdb()
    finally:
        client.close()


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
    """Every provider's webhook against the write floor of the same run (bench/webhooks.py)."""
    from bench.webhooks import bench_webhooks as run_webhooks

    return run_webhooks(args, procs)


def bench_processing(args, procs: Processes) -> list[dict]:
    """One inbound Messenger message's processing, in this process, by phase (bench/processing.py)."""
    from bench.processing import measure

    # The worker is paused meanwhile: its listener would otherwise take the events this process stores.
    procs.signal("worker", signal.SIGSTOP)
    try:
        figures = measure(args.profile_events, args.profile_batch, False)
    finally:
        procs.signal("worker", signal.SIGCONT)
    kinds = figures["kinds"]
    return [{"name": "processing_profile", "figures": {
        "batch": figures["batch"],
        **{kind: {k: v for k, v in f.items() if k != "samples"} for kind, f in kinds.items()}},
        "target": "reported: CPU ms and SQL statements per message by phase (in-process, this database)", "met": None}]


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
    # The read floor (bench/floor.py): the same rows by one raw keyset query, walked to the same page.
    from django.contrib.auth import get_user_model

    agent_id = get_user_model().objects.get(username="agent0001").pk
    floor_first = f"{BASE}/bench/floor/read/?user={agent_id}"
    url, floor_pages = floor_first, 1
    while floor_pages < pages:
        data = get(url)[1]
        if not data["next"]:
            break
        url, floor_pages = f"{floor_first}&after={urllib.parse.quote(data['next'])}", floor_pages + 1
    floor200_url = url
    floor_same_rows = [r["id"] for r in get(floor200_url)[1]["results"]] == [r["id"] for r in data_rows(get(page200_url))]
    # Page 1 and page 200, of the list and of the floor, take turns: a slow moment falls on all alike.
    page1, page200, floor1, floor200 = [], [], [], []
    for _ in range(args.list_samples):
        page1.append(get(first)[0])
        page200.append(get(page200_url)[0])
        floor1.append(get(floor_first)[0])
        floor200.append(get(floor200_url)[0])
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
    f95_1, f95_200 = pct(floor1, 0.95) * 1000, pct(floor200, 0.95) * 1000
    figures = {
        "page1": ms(page1), "page200": ms(page200), "pages_walked": pages, "page200_rows": page200_rows,
        "walk_mean_ms": round(sum(walk) / len(walk) * 1000, 1) if walk else None,
        "queries": counts, "page200_over_page1_p95": round(p95_200 / p95_1, 2),
        "floor": {"page1": ms(floor1), "page200": ms(floor200), "pages_walked": floor_pages,
                  "same_rows_on_last_page": floor_same_rows},
        "vs_floor_p95": {"page1": round(p95_1 / f95_1, 2), "page200": round(p95_200 / f95_200, 2)},
    }
    met = (pages == 200 and p95_1 <= 2 * f95_1 and p95_200 <= 2 * f95_200 and counts["page1"] == counts["page200"]
           and p95_200 <= 1.2 * p95_1)
    return [{"name": "inbox_list_api", "figures": figures,
             "target": "p95 <= 2 x the read floor's p95 (page 1 and page 200); constant query count; page 200 "
                       "<= 1.2 x page 1 (equal within noise)", "met": met}]


def data_rows(answer: tuple[float, dict]) -> list[dict]:
    return answer[1]["results"]


# --- 2b. search -----------------------------------------------------------------------------------

# What an agent types: a word common in the seeded threads, a three-word phrase of a customer's
# message, and a phone fragment (seed_bench's phones are +1555 and the customer id on 7 digits).
SEARCHES = {"one_word": "parcel", "three_words": "charged twice order", "phone_fragment": "555-00123"}


def bench_search(args, creds: dict, procs: Processes) -> list[dict]:
    """`/api/v1/conversations/?q=` as the heavy agent sees it (their teams' conversations, any status),
    ranked (the default with q) and by recent activity (`ordering=-last_message_at`): p50/p95/p99 of
    the first page, measured as the list's are (over HTTP, after warming every web process up), and
    the queries each costs."""
    import urllib.parse
    import urllib.request

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token = creds["tokens"]["agent0001"]
    headers = {"Authorization": f"Token {token}"}

    def get(url: str) -> tuple[float, dict]:
        req = urllib.request.Request(url, headers=headers)
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return time.perf_counter() - t, json.loads(body)

    urls = {}
    for name, q in SEARCHES.items():
        for order, extra in (("ranked", {}), ("recent", {"ordering": "-last_message_at"})):
            urls[f"{name}_{order}"] = f"{BASE}/api/v1/conversations/?" + urllib.parse.urlencode({"q": q, **extra})
    # The same agent's list without q, in the same rotation: what the search adds to it.
    urls["list"] = f"{BASE}/api/v1/conversations/"
    hits = {}
    for key, url in urls.items():
        for _ in range(WARM_UP_PER_PROCESS):
            hits[key] = len(get(url)[1]["results"])
    samples: dict[str, list[float]] = {key: [] for key in urls}
    for _ in range(args.search_samples):  # the queries take turns, so a slow moment falls on all alike
        for key, url in urls.items():
            samples[key].append(get(url)[0])
    procs.sample()
    list_p95 = ms(samples.pop("list"))["p95_ms"]
    del urls["list"]

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    queries = {}
    for key, url in urls.items():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url.removeprefix(BASE)).status_code == 200
        queries[key] = len(ctx.captured_queries)
    results = []
    for key in urls:
        figures = {**ms(samples[key]), "q": SEARCHES[key.rsplit("_", 1)[0]], "hits_on_page": hits[key],
                   "queries": queries[key], "list_without_q_p95_ms": list_p95}
        p95 = figures["p95_ms"]
        results.append({"name": f"search_{key}", "figures": figures, "target": "p95 < 50 ms",
                        "met": bool(p95 is not None and p95 < 50 and hits[key] > 0)})
    return results


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
    """Webhook -> every agent's socket against the realtime floor; then many sockets over two daphnes
    (bench/realtime.py)."""
    from bench.realtime import bench_realtime as run_realtime

    daphnes = [name for name in ("daphne", "daphne2") if name in procs.procs]
    bases = [WS_BASE, WS2_BASE][:len(daphnes)]
    return run_realtime(args, creds, procs, bases, daphnes)


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
    raw_runs = []
    for _ in range(5):  # the raw computation's time: the median of five runs, here in this process
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(RAW_RESPONSIVENESS, {"inbox": page.pk, "since": since, "until": until})
            counted, answered, fastest = cursor.fetchone()
        raw_runs.append(time.perf_counter() - t)
    raw_seconds = sorted(raw_runs)[len(raw_runs) // 2]
    t = time.perf_counter()
    mine = metrics.responsiveness(since=since, until=until, inbox_ids=[page.pk])
    function_seconds = time.perf_counter() - t
    equal = (mine.counted == counted and mine.answered == answered
             and (fastest is None) == (mine.response_time_seconds is None)
             and (fastest is None or abs(float(fastest) - mine.response_time_seconds) < 1e-3))
    figures = {**ms(timings), "counted": mine.counted, "answered": mine.answered,
               "response_time_seconds": mine.response_time_seconds,
               "raw": {"counted": counted, "answered": answered, "fastest90_mean": float(fastest or 0),
                       "seconds": round(raw_seconds, 3), "seconds_of_runs": [round(r, 3) for r in raw_runs]},
               "function_ms": round(function_seconds * 1000, 1), "equal_to_raw": equal,
               "api_counted": last["counted"], "messages_in_inbox_scope": None}
    figures["vs_raw_p95"] = round(figures["p95_ms"] / (raw_seconds * 1000), 3) if raw_seconds else None
    met = bool(equal and figures["vs_raw_p95"] is not None and figures["vs_raw_p95"] <= 0.2)
    return [{"name": "dashboard_responsiveness_90d", "figures": figures,
             "target": "p95 over HTTP <= 0.2 x the raw window-function computation's time (median of 5); equal "
                       "to it in value", "met": met}]


# --- 5. campaigns ---------------------------------------------------------------------------------


def bench_campaigns(args, creds: dict, procs: Processes) -> list[dict]:
    """Planning a broadcast to every customer, and (--campaign-million) to ten times as many (bench/campaign_scale.py)."""
    from bench.campaign_scale import bench_campaign_scale

    return bench_campaign_scale(million=args.campaign_million)


# --- 7. two process groups -----------------------------------------------------------------------


def bench_two_groups(args, creds: dict, procs: Processes) -> list[dict]:
    """Two web+worker groups on one PostgreSQL and Redis: nothing lost, duplicated or misdelivered."""
    from bench.two_groups import bench_two_groups as run_two_groups

    groups = {"A": {"web": BASE, "ws": WS_BASE},
              "B": {"web": f"http://127.0.0.1:{GROUP_B_PORT}", "ws": f"http://127.0.0.1:{GROUP_B_PORT + 1}"}}
    return run_two_groups(args, creds, procs, groups)


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


# --- 7. SLA views and automation rules -------------------------------------------------------------


def bench_sla_rules(args, creds: dict, procs: Processes) -> list[dict]:
    """The "due within 1 h" view as agent0001, and 50 active rules per inbound event (bench/sla_rules.py).

    Gives a share of the open conversations a running SLA target first (sla_state_seed), and removes
    the 50 bench rules afterwards."""
    from bench import sla_rules

    seeded = sla_rules.sla_state_seed()
    view = sla_rules.due_view(username="agent0001", samples=args.list_samples)
    ids = sla_rules.rules_setup(50)
    try:
        rules = sla_rules.rules_eval(events=300)
    finally:
        sla_rules.rules_teardown(ids)
    procs.sample()
    return [
        {"name": "sla_due_within_1h_view", "figures": {**view, "seeded": seeded}, "target": "p95 < 50 ms",
         "met": view["met"]},
        {"name": "rules_per_inbound_event", "figures": rules, "target": "p95 < 5 ms with 50 active rules",
         "met": rules["met"]},
    ]


# --- main -----------------------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    lines = [f"{'benchmark':32s} {'met':6s} key figures", "-" * 100]
    for r in results:
        f = r["figures"]
        if r["name"].startswith("webhook_") and "vs_floor" in f:
            key = (f"{f['closed_loop']['rps']} req/s ({f['vs_floor']}x floor), steady p50/p95/p99 "
                   f"{f['steady']['p50_ms']}/{f['steady']['p95_ms']}/{f['steady']['p99_ms']} ms "
                   f"({f['p99_vs_floor']}x floor's p99), dup {f['rows']['duplicates']} lost {f['rows']['lost']}, "
                   f"{f['closed_loop']['web_cpu_ms_per_request']} ms CPU/req, processed "
                   f"{f['processing']['events_per_s_of_runs']} events/s")
        elif r["name"] == "webhook_floor":
            key = (f"{f['closed_loop']['rps']} req/s, steady p50/p95/p99 {f['steady']['p50_ms']}/"
                   f"{f['steady']['p95_ms']}/{f['steady']['p99_ms']} ms, {f['web_cpu_ms_per_request']} ms CPU/req")
        elif r["name"] == "processing_cpu":
            key = (f"worker {f['worker_cpu_ms_per_message']} ms CPU per message = {f['vs_floor']}x the floor's "
                   f"{f['floor_web_cpu_ms_per_request']} ms per request; {f['events_per_s_of_runs']} events/s")
        elif r["name"] == "processing_profile":
            key = "; ".join(f"{k}: {v['cpu_ms_per_message']} ms, {v['statements_per_message']} statements"
                            for k, v in f.items() if isinstance(v, dict))
        elif r["name"] == "inbox_list_api":
            key = (f"p1 p50/p95 {f['page1']['p50_ms']}/{f['page1']['p95_ms']} ms, p200 {f['page200']['p50_ms']}/"
                   f"{f['page200']['p95_ms']} ms, queries {f['queries']}, vs read floor p95 {f.get('vs_floor_p95')}")
        elif r["name"].startswith("search_"):
            key = (f"q={f['q']!r} p50/p95/p99 {f['p50_ms']}/{f['p95_ms']}/{f['p99_ms']} ms, "
                   f"{f['hits_on_page']} hits on page 1, queries {f['queries']} (list p95 {f['list_without_q_p95_ms']})")
        elif r["name"].startswith("realtime_fanout"):
            storm = f.get("storm") or {}
            key = (f"{f.get('sockets')} sockets on {f.get('daphne_processes')} daphne, "
                   f"{f.get('deliveries')}/{f.get('deliveries_expected')} deliveries p50/p95/p99 {f.get('p50_ms')}/"
                   f"{f.get('p95_ms')}/{f.get('p99_ms')} ms ({f.get('vs_floor_p95')}x the floor's p95 "
                   f"{(f.get('floor') or {}).get('p95_ms')} ms), leaked {f.get('leaked_to_agents_who_may_not_see')}, "
                   f"{f.get('memory_kib_per_socket')} KiB/socket"
                   + (f", storm {storm.get('connected')}/{storm.get('sockets')} in {storm.get('seconds')} s" if storm else ""))
        elif r["name"].startswith("dashboard"):
            key = (f"p50/p95 {f['p50_ms']}/{f['p95_ms']} ms = {f.get('vs_raw_p95')}x the raw computation's "
                   f"{f['raw']['seconds']} s, equal to raw: {f['equal_to_raw']}")
        elif r["name"] == "workspace_tti" and "list_shown" in f:
            key = (f"list shown p50/p95 {f['list_shown']['p50_ms']}/{f['list_shown']['p95_ms']} ms, thread "
                   f"{f['thread_shown']['p50_ms']}/{f['thread_shown']['p95_ms']} ms")
        elif r["name"] == "two_groups":
            key = (f"{f['acknowledged']} ids: dup {f['duplicates']} lost {f['lost']}; {f['sockets']} sockets: missed "
                   f"{f['missed']}, to sockets that may not see {f['delivered_to_sockets_that_may_not_see']}, twice "
                   f"{f['delivered_twice_to_a_socket']}; worker CPU s {f['worker_cpu_seconds']}")
        elif r["name"] == "server_logs":
            key = f"errors {f['errors']}, tracebacks {f['tracebacks']}, frames dropped {f.get('frames_dropped')}"
        elif r["name"] == "memory":
            key = ", ".join(f"{k} {v}" + (" MiB" if k.endswith("_mib") or "_mib_" in k else "") for k, v in f.items())
        else:
            key = json.dumps(f)[:90]
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        lines.append(f"{r['name']:32s} {met:6s} {key}")
    return "\n".join(lines)


def merged_results(out: Path, rows: list[dict]) -> list[dict]:
    """A partial run (`--only`, `--two-groups`) replaces its own rows in the results file and keeps
    the others, each with the time of the run that measured it (`at`), so the file holds every row
    of the last full run plus what was measured since. The run rows of earlier runs are kept as
    `run@<time>`."""
    try:
        earlier = json.loads(out.read_text())
    except (OSError, ValueError):
        return rows
    fresh = {row["name"] for row in rows}
    kept = []
    for row in earlier:
        if row.get("name") == "run":
            row = {**row, "name": f"run@{row.get('figures', {}).get('at', '?')}"}
        if row.get("name") not in fresh:
            kept.append(row)
    runs = [row for row in kept if row["name"].startswith("run@")]
    return rows[:1] + runs + rows[1:] + [row for row in kept if not row["name"].startswith("run@")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="5k conversations / 50k messages / 50 agents")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--only", default="",
                        help="comma-separated: webhooks,inbox_list,search,realtime,dashboard,campaigns,sla_rules")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--webhook-providers", default="",
                        help="webhooks: comma-separated subset of meta,instagram,twilio,email,shopify (default all)")
    parser.add_argument("--profile-events", type=int, default=100,
                        help="processing: messages of each kind profiled in-process (step 'processing')")
    parser.add_argument("--profile-batch", type=int, default=10, help="processing: events per task, as the worker's")
    parser.add_argument("--webhook-requests", type=int, default=1500)
    parser.add_argument("--max-seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="throughput and steady-rate runs per webhook (median)")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--steady-seconds", type=float, default=5)
    parser.add_argument("--drain-seconds", type=float, default=300)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--list-samples", type=int, default=200, help="inbox list: requests per page measured")
    parser.add_argument("--search-samples", type=int, default=100, help="search: requests measured per query")
    parser.add_argument("--tti-loads", type=int, default=30,
                        help="workspace (step 'workspace'): page loads timed in Chromium until the list shows")
    parser.add_argument("--tti-opens", type=int, default=30, help="workspace: threads opened and timed")
    parser.add_argument("--realtime-events", type=int, default=40)
    parser.add_argument("--realtime-gap", type=float, default=0.25)
    parser.add_argument("--two-groups", action="store_true",
                        help="start a second web+worker group on the same PostgreSQL and Redis and run step two_groups "
                             "(alone unless --only names more)")
    parser.add_argument("--two-groups-events", type=int, default=400, help="two_groups: webhooks sent over both groups")
    parser.add_argument("--campaign-million", action="store_true",
                        help="campaigns: also plan 10x the seeded customers (1M on the full run; slow, opt-in)")
    parser.add_argument("--realtime-sockets", type=int, default=1000,
                        help="realtime: the second run's sockets (several per agent), over two daphne processes; 0: none")
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
        args.realtime_sockets = min(args.realtime_sockets, 250)
        args.webhook_requests, args.steady_seconds, args.samples = 1000, 4, 15
    size = {"conversations": args.conversations, "messages": args.messages, "agents": args.agents,
            "heavy": min(11_000, args.conversations // 3)}
    only = set(filter(None, args.only.split(",")))
    if args.two_groups and not only:
        only = {"two_groups"}

    from bench import webhooks

    ENV.update(webhooks.ENV)
    os.environ.update(ENV)
    os.chdir(ROOT)
    ensure_database()
    manage("migrate", "--noinput", "-v0")
    try:
        manage("collectstatic", "--noinput", "-v0")  # as `make run` does: the servers serve it (WhiteNoise)
    except subprocess.CalledProcessError:
        # Only the pages need it (the workspace step); the APIs and webhooks measured here do not.
        print("warning: collectstatic failed (see above); pages may not render, the other steps are unaffected")
    ensure_seeded(size, args.reseed)
    vacuum()
    flush_redis()

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
            if args.realtime_sockets and (not only or "realtime" in only):
                # A second daphne for the realtime run that spreads its sockets over two processes.
                procs.start("daphne2", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(WS2_PORT),
                                        "inbox_project.asgi:application"])
        else:  # the earlier setup, for comparison: one daphne process serves HTTP and /ws/
            WS_BASE = BASE
            procs.start("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(PORT), "inbox_project.asgi:application"])
        if args.two_groups:
            # Group B: another worker, gunicorn and daphne on the same PostgreSQL and Redis (bench/two_groups.py).
            procs.start("worker2", [str(BIN / "celery"), "-A", "inbox_project", "worker", "-l", "warning",
                                    "--concurrency", str(args.workers), "-n", f"bench2@{os.uname().nodename}"])
            os.environ["GUNICORN_BIND"] = f"127.0.0.1:{GROUP_B_PORT}"
            procs.start("web2", [str(BIN / "gunicorn"), "-c", "python:inbox_project.gunicorn_conf", "inbox_project.wsgi"])
            os.environ["GUNICORN_BIND"] = f"127.0.0.1:{PORT}"
            procs.start("daphne_b", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(GROUP_B_PORT + 1),
                                     "inbox_project.asgi:application"])
            wait_http(f"http://127.0.0.1:{GROUP_B_PORT}/healthz")
            wait_http(f"http://127.0.0.1:{GROUP_B_PORT + 1}/healthz")
        wait_http(f"{BASE}/healthz")
        wait_http(f"{WS_BASE}/healthz")
        if "daphne2" in procs.procs:
            wait_http(f"{WS2_BASE}/healthz")
        time.sleep(2)  # let the worker finish booting
        steps = [("webhooks", lambda: bench_webhooks(args, procs)),
                 ("processing", lambda: bench_processing(args, procs)),
                 ("inbox_list", lambda: bench_inbox_list(args, creds, procs)),
                 ("search", lambda: bench_search(args, creds, procs)),
                 ("realtime", lambda: bench_realtime(args, creds, procs)),
                 ("dashboard", lambda: bench_dashboard(args, creds, procs)),
                 ("campaigns", lambda: bench_campaigns(args, creds, procs)),
                 ("workspace", lambda: bench_workspace(args, creds, procs)),
                 ("sla_rules", lambda: bench_sla_rules(args, creds, procs)),
                 ("two_groups", lambda: bench_two_groups(args, creds, procs))]
        for name, step in steps:
            if (only and name not in only) or (name == "two_groups" and not args.two_groups):
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
    results.append({"name": "server_logs", "figures": logged, "target": "no errors, tracebacks or dropped frames logged by the servers",
                    "met": not any(logged["errors"].values()) and not any(logged["tracebacks"].values())
                    and not any(logged["frames_dropped"].values())})
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
    if DB_NAME != "inbox_bench":  # an engineer's own database: its own file
        out = ROOT / "bench" / f"results.{DB_NAME}{'.quick' if args.quick else ''}.json"
    else:
        out = ROOT / "bench" / ("results.quick.json" if args.quick else "results.json" if args.http == "gunicorn"
                            else f"results.{args.http}.json")
    if args.worker_nice:  # a comparison with the worker at a lower priority: beside the measured setup's file
        out = out.with_name(out.stem + f".nice{args.worker_nice}.json")
    for row in results:
        row.setdefault("at", meta["at"])
    rows = [{"name": "run", "figures": meta, "target": "", "met": None}] + results
    if only or args.two_groups:
        rows = merged_results(out, rows)
    out.write_text(json.dumps(rows, indent=2, default=str))
    print()
    print(table(results))
    print("\ntargets:")
    for r in results:
        if r["met"] is not None:
            print(f"  {'met    ' if r['met'] else 'NOT met'}  {r['name']}: {r['target']}")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
