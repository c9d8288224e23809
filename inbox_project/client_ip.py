"""The client's address, the one thing login lockout, throttles and the audit log count by.

`REMOTE_ADDR` is the address of whoever opened the connection: behind a reverse proxy, the proxy.
X-Forwarded-For is written by proxies, but its first entries are whatever the client sent, so it is
believed only as far as TRUSTED_PROXY_COUNT says: with N trusted proxies in front of the app, each
appending the address it saw, the client is the N-th entry from the right. With 0 (the default) the
header is ignored. DRF's throttles use the same rule (REST_FRAMEWORK["NUM_PROXIES"]).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address as far as the trusted proxies vouch for it (django-axes calls this)."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return _address(hops[-min(trusted, len(hops))]) or remote
