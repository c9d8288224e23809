"""A local stand-in for the providers' HTTP APIs (Graph, Twilio): records and answers.

Only the network edge is faked. Tests script answers per path (a status and a JSON or text
body, e.g. Meta's real code-10 error or Twilio's 21610) and read back what was sent.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

# What a responder returns to close the connection without answering (a reply lost on the way).
DROP = object()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Script:
    pattern: re.Pattern
    status: int
    body: bytes
    content_type: str
    times: int | None  # None: forever
    headers: dict = field(default_factory=dict)


@dataclass
class FakeProviderServer:
    requests: list[Recorded] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    default_status: int = 200
    # Called for a request with no script: returns (status, json-able body).
    default_responder: object = None
    # (path pattern, callable) pairs tried after the scripts: a stateful fake of one API (FakeShopify).
    # The callable returns (status, json-able body), or DROP to close the connection unanswered.
    responders: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                answer = fake._answer(recorded)
                if answer[0] is DROP:
                    # A lost answer: the request arrived (and may have been acted on); no reply leaves.
                    self.close_connection = True
                    return
                status, payload, ctype, *extra = answer
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, path_regex: str, *, status: int = 200, json_body=None, text: str = "", times: int | None = 1,
               content_type: str | None = None, body: bytes | None = None, headers: dict | None = None) -> None:
        """Answer requests whose path matches with this (the first `times` of them; None: all).

        `body` answers raw bytes (media downloads); `headers` adds response headers (a redirect's Location).
        """
        if body is None:
            body = json.dumps(json_body).encode() if json_body is not None else text.encode()
        ctype = content_type or ("application/json" if json_body is not None else "text/plain")
        with self.lock:
            self.scripts.append(Script(re.compile(path_regex), status, body, ctype, times, dict(headers or {})))

    def _answer(self, recorded: Recorded) -> tuple:
        with self.lock:
            self.requests.append(recorded)
            for script in self.scripts:
                if script.pattern.search(recorded.path) and (script.times is None or script.times > 0):
                    if script.times is not None:
                        script.times -= 1
                    return script.status, script.body, script.content_type, script.headers
            responder = next((func for pattern, func in self.responders if pattern.search(recorded.path)), None)
        if responder is not None:
            result = responder(recorded)
            if result is DROP:
                return (DROP,)
            return result[0], json.dumps(result[1]).encode(), "application/json"
        if callable(self.default_responder):
            status, body = self.default_responder(recorded)
            return status, json.dumps(body).encode(), "application/json"
        return self.default_status, b"{}", "application/json"

    def respond(self, path_regex: str, func) -> None:
        """Answer requests whose path matches with `func(recorded)` (after any script that matches)."""
        with self.lock:
            self.responders.append((re.compile(path_regex), func))

    def sent(self, path_regex: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if re.search(path_regex, r.path)]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.scripts.clear()
            self.responders.clear()


class TwilioMessages:
    """Twilio's Messages resource as a stateful fake (a FakeProviderServer `default_responder`):
    `POST …/Messages.json` creates a message and answers it (optionally after `delay` seconds, as a
    slow API would), `GET …/Messages.json?To=&From=&PageSize=` lists the account's messages newest
    first in Twilio's page format (tests/fixtures/twilio/messages_list.json), with `next_page_uri`
    and `PageToken` paging. Anything else answers `fallback(recorded)` or 200 {}."""

    def __init__(self, *, delay: float = 0.0, fallback=None):
        import itertools

        self.delay = delay
        self.fallback = fallback
        self.lock = threading.Lock()
        self.created: list[dict] = []
        self.lists: int = 0
        self._sids = itertools.count(1)

    def __call__(self, recorded: Recorded):
        import time
        from email.utils import formatdate

        if not recorded.path.endswith("/Messages.json"):
            return self.fallback(recorded) if self.fallback else (200, {})
        account = recorded.path.split("/Accounts/", 1)[1].split("/", 1)[0]
        if recorded.method == "POST":
            form = recorded.form()
            with self.lock:
                sid = f"SM{next(self._sids):032x}"
                item = {
                    "account_sid": account, "api_version": "2010-04-01", "sid": sid, "body": form.get("Body", ""),
                    "to": form.get("To"), "from": form.get("From"),
                    "messaging_service_sid": form.get("MessagingServiceSid"),
                    "date_created": formatdate(time.time(), usegmt=True).replace("GMT", "+0000"),
                    "date_sent": None, "date_updated": None, "direction": "outbound-api", "status": "queued",
                    "num_media": str(len(parse_qs(recorded.body.decode()).get("MediaUrl", []))),
                    "num_segments": "1", "error_code": None, "error_message": None, "price": None, "price_unit": "USD",
                    "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
                }
                self.created.append(item)
            if self.delay:
                time.sleep(self.delay)
            return 201, item
        query = {k: v[-1] for k, v in recorded.query.items()}
        size = int(query.get("PageSize") or 50)
        start = int(query.get("PageToken") or 0)
        with self.lock:
            self.lists += 1
            matching = [
                m for m in reversed(self.created)
                if (not query.get("To") or m["to"] == query["To"]) and (not query.get("From") or m["from"] == query["From"])
            ]
        page = matching[start:start + size]
        base = f"/2010-04-01/Accounts/{account}/Messages.json"
        filters = "&".join(f"{k}={quote(query[k])}" for k in ("To", "From") if query.get(k))
        more = start + size < len(matching)
        return 200, {
            "messages": page,
            "next_page_uri": f"{base}?{filters}&PageSize={size}&PageToken={start + size}" if more else None,
            "page": start // size, "page_size": size, "start": start, "end": start + max(len(page) - 1, 0),
            "uri": f"{base}?{filters}&PageSize={size}", "first_page_uri": f"{base}?{filters}&PageSize={size}&Page=0",
            "previous_page_uri": None,
        }

    def sent_to(self, number: str) -> list[dict]:
        with self.lock:
            return [m for m in self.created if m["to"] == number]
