#!/usr/bin/env python
"""Time to interactive of the agent workspace, in headless Chromium (Debian's /usr/bin/chromium).

Two figures, p50/p95/p99 over repeated loads, as an agent lives them:
- `list_shown_ms`: from the start of navigation to `/` until the conversation list shows its rows
  (the page, its ES modules, the embedded directory data and the first page of
  `GET /api/v1/conversations/`, drawn; the skeleton gone). Target < 500 ms.
- `thread_shown_ms`: from a click on a row of the list until that thread's timeline is drawn and the
  pane is no longer busy (`/conversations/<id>/timeline/`, the header, the composer's rules).
  Target < 200 ms. Each sample opens another row, so no answer comes from a cache.

In `make bench` (bench/run.py, step `workspace`) it runs on the 100k-conversation database as the
heavy agent (agent0001: ~11k open conversations of their own), logged in with the session
bench/run.py made. Alone, against any served copy (e.g. the demo shop):

    .venv/bin/python bench/workspace.py --base-url http://127.0.0.1:8000 --username demo --password demo

The socket (`/ws/`) is not waited for: the list and the thread are usable before it connects (in
bench/run.py daphne serves /ws/ on another port than gunicorn, so it does not connect at all).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LIST_TARGET_MS = 500
THREAD_TARGET_MS = 200

# The list is drawn: its rows (or the sentence saying there are none), the skeleton hidden, nothing loading.
LIST_READY = """() => {
  const list = document.getElementById('conversation-list');
  const skeleton = document.getElementById('list-skeleton');
  const empty = document.getElementById('list-empty');
  return Boolean(list && list.getAttribute('aria-busy') === 'false' && skeleton && skeleton.hidden
    && (list.children.length > 0 || (empty && !empty.hidden)));
}"""
# The thread of conversation `id` is drawn.
THREAD_READY = """(id) => {
  const pane = document.getElementById('thread-pane');
  const thread = document.getElementById('thread');
  const timeline = document.getElementById('timeline');
  return location.pathname === '/conversations/' + id + '/' && thread && !thread.hidden && timeline.children.length > 0
    && !pane.hasAttribute('aria-busy');
}"""


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _ms(values: list[float]) -> dict:
    return {f"p{int(q * 100)}_ms": round(_pct(values, q), 1) if values else None for q in (0.5, 0.95, 0.99)}


def measure(*, base_url: str, session_key: str | None = None, username: str = "", password: str = "",
            loads: int = 30, opens: int = 30, warm_up: int = 3) -> dict:
    """Open the workspace `loads` times and `opens` threads; the figures in milliseconds."""
    from playwright.sync_api import sync_playwright

    list_times: list[float] = []
    thread_times: list[float] = []
    rows_seen = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        if session_key:
            host = base_url.split("://", 1)[1].split("/", 1)[0].split(":")[0]
            context.add_cookies([{"name": "sessionid", "value": session_key, "domain": host, "path": "/"}])
        else:
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base_url}/")
        # The list: a fresh navigation each time (the browser keeps its HTTP cache, as an agent's does).
        for n in range(warm_up + loads):
            page.goto("/", wait_until="commit")
            page.wait_for_function(LIST_READY, polling="raf")
            # performance.now() counts from the navigation's start (the time origin of the new document).
            shown = page.evaluate("() => performance.now()")
            if n >= warm_up:
                list_times.append(shown)
        rows_seen = page.evaluate("() => document.getElementById('conversation-list').children.length")
        # Threads: each sample clicks the next row of the list.
        ids = page.evaluate("() => [...document.querySelectorAll('#conversation-list a[data-id]')].map(a => Number(a.dataset.id))")
        if not ids:  # nothing of their own: the threads are opened from "All"
            page.get_by_role("button", name="All", exact=True).click()
            page.wait_for_function(LIST_READY, polling="raf")
            ids = page.evaluate("() => [...document.querySelectorAll('#conversation-list a[data-id]')].map(a => Number(a.dataset.id))")
        if not ids:
            raise RuntimeError("no conversation to open")
        for n in range(warm_up + opens):
            target = ids[n % len(ids)]
            started = page.evaluate("() => performance.now()")
            page.click(f'#conversation-list a[data-id="{target}"]')
            page.wait_for_function(THREAD_READY, arg=target, polling="raf")
            took = page.evaluate("() => performance.now()") - started
            if n >= warm_up:
                thread_times.append(took)
        context.close()
        browser.close()
    list_p95 = _pct(list_times, 0.95)
    thread_p95 = _pct(thread_times, 0.95)
    return {
        "list_shown": _ms(list_times), "thread_shown": _ms(thread_times), "loads": len(list_times),
        "opens": len(thread_times), "rows_on_first_page": rows_seen,
        "met_list": list_p95 is not None and list_p95 < LIST_TARGET_MS,
        "met_thread": thread_p95 is not None and thread_p95 < THREAD_TARGET_MS,
    }


def bench_workspace_tti(*, base_url: str, session_key: str, loads: int, opens: int) -> list[dict]:
    """bench/run.py's step: the heavy agent's workspace on the bench database."""
    if not Path(CHROMIUM).exists():
        return [{"name": "workspace_tti", "figures": {"note": f"not measured: {CHROMIUM} is absent"},
                 "target": f"list < {LIST_TARGET_MS} ms, thread < {THREAD_TARGET_MS} ms (p95)", "met": None}]
    figures = measure(base_url=base_url, session_key=session_key, loads=loads, opens=opens)
    met = figures.pop("met_list") and figures.pop("met_thread")
    return [{"name": "workspace_tti", "figures": figures,
             "target": f"list shown < {LIST_TARGET_MS} ms after navigation, thread < {THREAD_TARGET_MS} ms after "
                       "the click (p95, headless Chromium, agent0001)", "met": met}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--session", default="", help="a session key to use instead of logging in")
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--opens", type=int, default=30)
    args = parser.parse_args(argv)
    t = time.monotonic()
    figures = measure(base_url=args.base_url.rstrip("/"), session_key=args.session or None, username=args.username,
                      password=args.password, loads=args.loads, opens=args.opens)
    print(json.dumps(figures, indent=2))
    print(f"({time.monotonic() - t:.1f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
