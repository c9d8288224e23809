"""The app's own origins, and the WebSocket check that a socket was opened by one of its pages.

A browser sends cookies with a WebSocket handshake to any page that asks, so `/ws/inbox/` must
refuse sockets opened from other origins. An origin is scheme, host and port together: a page on
another port of the same host is another origin. The app's origins are PUBLIC_BASE_URL's and
those of CSRF_TRUSTED_ORIGINS (without wildcards); with DEBUG on, also `http://<host>:$PORT` for
each ALLOWED_HOSTS entry, which is what `make run` serves.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import ParseResult, SplitResult, urlsplit

from channels.security.websocket import OriginValidator
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def origin_of(url: str | SplitResult | ParseResult) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, the port filled in; None for anything else."""
    parts = urlsplit(url) if isinstance(url, str) else url
    scheme = (parts.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def app_origins() -> set[Origin]:
    candidates = [settings.PUBLIC_BASE_URL, *getattr(settings, "CSRF_TRUSTED_ORIGINS", [])]
    if settings.DEBUG:
        port = os.environ.get("PORT") or "8000"
        candidates += [f"http://{host}:{port}" for host in settings.ALLOWED_HOSTS if host[:1] not in ("", ".", "*")]
    return {origin for origin in map(origin_of, (c for c in candidates if "*" not in c)) if origin is not None}


class AppOriginValidator(OriginValidator):
    """channels' OriginValidator, comparing scheme, host and port with the app's own origins
    (read from the settings on every handshake)."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=())

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return False
        origin = origin_of(parsed_origin)
        return origin is not None and origin in app_origins()
