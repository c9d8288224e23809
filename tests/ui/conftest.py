"""A real daphne (HTTP + WebSocket) on the test database, and headless Chromium driving it.

pytest-django's live_server is WSGI-only, so the browser tests start daphne in a subprocess on a
free port, pointed at the test database and the same Redis channel-layer prefix. Tests that use
it must be `transaction=True`: daphne reads what the test committed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import META_APP_SECRET, META_VERIFY_TOKEN, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("daphne did not start serving in time")


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, _fake_server, tmp_path_factory):
    """Base URL of a daphne process serving the whole app on the test database."""
    with django_db_blocker.unblock():
        db = connection.settings_dict
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    layer = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    user = db.get("USER") or "postgres"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inbox_project.settings",
        "DATABASE_URL": f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}",
        "CHANNEL_LAYER_PREFIX": layer.get("prefix", "inbox"),
        # Tasks run in the request (as in the test process), static files come from the finders.
        "TESTING": "1",
        "DEBUG": "1",
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "4",
        "PUBLIC_BASE_URL": url,
        "META_APP_SECRET": META_APP_SECRET,
        "META_VERIFY_TOKEN": META_VERIFY_TOKEN,
        "META_GRAPH_URL": _fake_server.url + "/v24.0",
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_API_URL": _fake_server.url,
        "SHOPIFY_ADMIN_URL_TEMPLATE": _fake_server.url + "/{shop}/admin/api/{version}/graphql.json",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
    }
    log = open(tmp_path_factory.mktemp("daphne") / "daphne.log", "w")  # closed at teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "inbox_project.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        with django_db_blocker.unblock():
            _wait_for_sessions_to_end(db["NAME"])


def _wait_for_sessions_to_end(name: str, timeout: float = 10) -> None:
    """The server notices daphne's closed connections a moment later; the test DB drop needs none left."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per module: Playwright's loop must be gone before async tests run."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do (the contexts' default): 5 s was short on a loaded
    # 2-core machine (the Redoc page and the composer's error then failed now and then).
    expect.set_options(timeout=10_000)
    # Playwright's sync API keeps an event loop on this thread; the tests' ORM calls (and the
    # database flush after each test) are still plain synchronous code between browser steps.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_context(chromium, daphne_server):
    """new_context() -> a fresh browser profile pointed at daphne; closed after the test."""
    contexts = []

    def new_context():
        context = chromium.new_context(base_url=daphne_server, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield new_context
    for context in contexts:
        context.close()
    _wait_until_daphne_is_idle(connection.settings_dict["NAME"])


def _wait_until_daphne_is_idle(name: str, timeout: float = 10) -> None:
    """Closing the pages closes their sockets; daphne then records the agents' presence. The
    database flush after the test must not race that work (it would deadlock on the agent rows)."""
    from inbox.models import Agent

    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        busy = Agent.objects.filter(connections__gt=0).exists()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                " AND state NOT IN ('idle')",
                [name],
            )
            busy = busy or cursor.fetchone()[0] > 0
        quiet = 0 if busy else quiet + 1
        time.sleep(0.1)
