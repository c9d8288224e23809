"""Log plumbing: the request id on every line, secrets masked, JSON lines on demand (LOG_FORMAT=json).

The request id lives in a contextvar so it follows a request into services and, through Celery task
headers, into the worker that processes what the request stored (see `inbox_project.celery`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The request being served, for code far from the view that records who did something (the audit log).
request_var: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("request", default=None)

# A request id from outside is kept only when it is a plain token: it ends up in logs and headers.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def request_id_from(header: str | None) -> str:
    if header and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def current_request() -> HttpRequest | None:
    return request_var.get()


def current_request_id() -> str | None:
    value = request_id_var.get()
    return None if value == "-" else value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs after the middleware has returned, passing the request along.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "id", None) or request_id_var.get()
        return True


# key=value / key: value pairs whose value is a secret, in URLs, form bodies, JSON, dict reprs and
# headers. A bare key needs `=` or `:` right after it, so source lines in tracebacks (`token = ...`) stay.
_SECRET_KEYS = r"(?:access_token|page_access_token|appsecret_proof|client_secret|password|passwd|auth_token|api_key|secret|token)"
_SECRET_PAIRS = re.compile(
    rf"""(?ix)
    (?P<key>["']{_SECRET_KEYS}["']\s*[:=]\s*["']?|\b{_SECRET_KEYS}(?:=|:\s*)["']?)
    (?P<value>[^\s&"',;}}]+)
    """
)
_AUTH_HEADER = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|token|basic)\s+)?[^\s\"',;}]+")
_BEARER = re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}")
MASK = "***"


def mask_secrets(text: str) -> str:
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{MASK}", text)
    text = _SECRET_PAIRS.sub(lambda m: f"{m.group('key')}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


class SecretMaskFilter(logging.Filter):
    """Masks tokens and passwords in the rendered message and traceback, whatever logged them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format is the logger's problem, not ours to hide
            return True
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)
