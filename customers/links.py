"""URLs that come from a provider or an import (an order's tracking link) and end up as links.

Only an absolute http(s) URL with a host, and without spaces or control characters, is kept:
`javascript:`, `data:` and the like become "", so no page ever renders them as a link. Stored
values are checked on the way in (Shopify, CSV import) and again on the way out (the API), which
covers rows stored before the check existed.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def http_url_or_blank(value: object, *, max_length: int = 500) -> str:
    """`value` when it is an http(s) URL of at most `max_length` characters, else ""."""
    if not isinstance(value, str):
        return ""
    url = value.strip()
    if not url or len(url) > max_length or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return url
