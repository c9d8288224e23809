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
from urllib.parse import parse_qs, urlsplit


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


@dataclass
class FakeProviderServer:
    requests: list[Recorded] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    default_status: int = 200
    # Called for a request with no script: returns (status, json-able body).
    default_responder: object = None
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
                status, payload, ctype = fake._answer(recorded)
                self.send_response(status)
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
               content_type: str | None = None, body: bytes | None = None) -> None:
        """Answer requests whose path matches with this (the first `times` of them; None: all).

        `body` answers raw bytes (media downloads).
        """
        if body is None:
            body = json.dumps(json_body).encode() if json_body is not None else text.encode()
        ctype = content_type or ("application/json" if json_body is not None else "text/plain")
        with self.lock:
            self.scripts.append(Script(re.compile(path_regex), status, body, ctype, times))

    def _answer(self, recorded: Recorded) -> tuple[int, bytes, str]:
        with self.lock:
            self.requests.append(recorded)
            for script in self.scripts:
                if script.pattern.search(recorded.path) and (script.times is None or script.times > 0):
                    if script.times is not None:
                        script.times -= 1
                    return script.status, script.body, script.content_type
        if callable(self.default_responder):
            status, body = self.default_responder(recorded)
            return status, json.dumps(body).encode(), "application/json"
        return self.default_status, b"{}", "application/json"

    def sent(self, path_regex: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if re.search(path_regex, r.path)]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.scripts.clear()
