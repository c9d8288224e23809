"""A private stack for fault tests: its own PostgreSQL and Redis (so they can be stopped and
restarted without touching the machine's shared services), daphne, a Celery worker and beat,
and the fake provider API in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import requests

from tests.conftest import META_APP_SECRET, PAGE_ID, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, meta_signature
from tests.fakes import FakeProviderServer

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql") / (sorted(os.listdir("/usr/lib/postgresql"))[-1] if Path("/usr/lib/postgresql").exists() else "15") / "bin"

pytestmark = pytest.mark.faults
ACCESS_LINE = re.compile(r"^[\d.:]+ - - \[")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # the thing may not be up yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Stack:
    def __init__(self, fake: FakeProviderServer):
        self.dir = Path(tempfile.mkdtemp(prefix="inbox-faults-"))
        os.chmod(self.dir, 0o755)
        self.pg_port, self.redis_port, self.http_port = free_port(), free_port(), free_port()
        self.fake = fake
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.pg_port}/inbox",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "SECRET_KEY": "fault-suite-secret-key-" + "x" * 40,
            "DEBUG": "1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.http_port}",
            "META_APP_SECRET": META_APP_SECRET,
            "META_VERIFY_TOKEN": "verify",
            "META_GRAPH_URL": fake.url + "/v24.0",
            "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "TWILIO_API_URL": fake.url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SWEEP_INTERVAL_SECONDS": "2",
            "SWEEP_STUCK_AFTER_SECONDS": "4",
            "INBOUND_DISPATCH_RETRY_SECONDS": "1",
            "CELERY_VISIBILITY_TIMEOUT": "3600",
            "PROVIDER_HTTP_TIMEOUT": "10",
            # An interrupted Meta send waits this long for its echo before it is sent again.
            "META_ECHO_GRACE_SECONDS": "5",
            "LOG_LEVEL": "WARNING",
            "DB_CONNECT_TIMEOUT": "2",
            "DB_POOL_TIMEOUT": "3",
        }

    # --- services ------------------------------------------------------------------------------
    def _as_postgres(self, command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True, timeout=60)

    def pg_start(self) -> None:
        self._as_postgres(
            f"{PG_BIN}/pg_ctl -D {self.dir}/pg -o '-p {self.pg_port} -k /tmp -c listen_addresses=127.0.0.1 "
            f"-c fsync=off' -l {self.dir}/pg/server.log -w start"
        )

    def pg_crash(self) -> None:
        self._as_postgres(f"{PG_BIN}/pg_ctl -D {self.dir}/pg -m immediate -w stop")

    def redis_start(self) -> None:
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
             "--appendonly", "no", "--pidfile", str(self.dir / "redis.pid"), "--logfile", str(self.dir / "redis.log")],
            check=True, timeout=30,
        )
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG", 10, what="redis")

    def redis_stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown", "nosave"], capture_output=True, timeout=30)

    def setup(self) -> None:
        install = subprocess.run(["install", "-d", "-o", "postgres", str(self.dir / "pg")], check=True)
        del install
        self._as_postgres(f"{PG_BIN}/initdb -D {self.dir}/pg -U postgres --auth=trust")
        self.pg_start()
        self.redis_start()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-c", "CREATE DATABASE inbox"],
                       check=True, capture_output=True, timeout=30)
        self.manage("migrate", "--noinput", "-v0")
        self.manage("shell", "-c", (
            "from inbox.models import Agent, Inbox, Team;"
            "from django.contrib.auth.models import User;"
            "t = Team.objects.create(name='Support');"
            f"Inbox.objects.create(kind='messenger', name='Page', external_id='{PAGE_ID}', team=t,"
            " credentials={'page_access_token': 'token'});"
            "u = User.objects.create_user('agent', 'agent@shop.example', 'pw');"
            "Agent.objects.create(user=u, role='agent', availability='online').teams.add(t)"
        ))

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    # --- processes -------------------------------------------------------------------------------
    def start(self, name: str, *argv: str) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_web(self) -> None:
        self.start("web", str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(self.http_port),
                   "inbox_project.asgi:application")
        wait_for(lambda: requests.get(self.url("/healthz"), timeout=1).status_code == 200, 30, what="daphne")

    def start_worker(self, name: str = "worker", concurrency: int = 2) -> subprocess.Popen:
        proc = self.start(name, str(Path(sys.executable).parent / "celery"), "-A", "inbox_project", "worker",
                          "-l", "warning", "--concurrency", str(concurrency), "-n", f"{name}-{time.time_ns()}@%h",
                          "--without-gossip", "--without-mingle", "--without-heartbeat")
        return proc

    def start_beat(self) -> None:
        self.start("beat", str(Path(sys.executable).parent / "celery"), "-A", "inbox_project", "beat", "-l", "warning",
                   "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                   "--pidfile", str(self.dir / "beat.pid"))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        try:
            if sig == signal.SIGTERM:
                # As a service manager stops it: the main process coordinates its children's shutdown.
                os.kill(proc.pid, sig)
            else:
                os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def log_tails(self, lines: int = 40) -> str:
        """The end of every process's log (web, worker, beat, Redis, PostgreSQL), for a failure's report."""
        parts = []
        for path in sorted([*self.dir.glob("*.log"), self.dir / "pg" / "server.log"]):
            if path.exists():
                # daphne's access lines ("127.0.0.1:5123 - - [date] "POST …") would crowd out what matters.
                kept = [line for line in path.read_text(errors="replace").splitlines() if not ACCESS_LINE.match(line)]
                tail = kept[-lines:]
                parts.append(f"--- {path.relative_to(self.dir)}\n" + "\n".join(tail))
        return "\n".join(parts)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def sql(self, query: str, *params):
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.pg_port}/inbox", autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def post_meta(self, payload: dict) -> requests.Response:
        body = json.dumps(payload).encode()
        return requests.post(self.url("/webhooks/meta/"), data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body)})

    def teardown(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM if name != "worker" else signal.SIGKILL)
        self.redis_stop()
        try:
            self.pg_crash()
        except subprocess.CalledProcessError:
            pass
        if not os.environ.get("KEEP_FAULT_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)


def _have_tools() -> bool:
    return (PG_BIN / "initdb").exists() and shutil.which("redis-server") is not None and os.geteuid() == 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed fault test's report carries the stack's logs (the folder is gone after the run)."""
    report = yield
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(stack, Stack):
        report.sections.append(("fault stack logs", stack.log_tails()))
    return report


@pytest.fixture(scope="package")
def fake_api():
    server = FakeProviderServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def stack(fake_api):
    if not _have_tools():
        pytest.skip("fault suite needs PostgreSQL server binaries, redis-server and root (to run initdb as postgres)")
    s = Stack(fake_api)
    try:
        s.setup()
        s.start_web()
        s.start_worker()
        s.start_beat()
        yield s
    finally:
        s.teardown()


def meta_message(mid: str, psid: str, text: str, ts_ms: int) -> dict:
    return {
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": ts_ms, "messaging": [{
            "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": ts_ms,
            "message": {"mid": mid, "text": text},
        }]}],
    }
