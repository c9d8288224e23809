"""Which file types we accept, show and serve: one allowlist for the intake edges (email's parts),
the fetcher of provider media and the views that serve files (inbox/pages/attachments.py).

A type not on the list is never served as itself: it goes out as `application/octet-stream`, as a
download, so a sender's `application/javascript` or `text/html` can never run on our origin.
"""

from __future__ import annotations

import re
from typing import Any

# SVG and HTML are deliberately absent: both can run script when opened from our origin.
ALLOWED_TYPE_PREFIXES = ("image/", "audio/", "video/")
REFUSED_TYPES = frozenset({"image/svg+xml"})
# Documents: always downloaded.
ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/octet-stream",
        "application/msword",
        "application/rtf",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "text/plain",
        "text/csv",
        "text/calendar",
        "text/vcard",
        "text/x-vcard",
    }
)
# Shown in the page (<img>, <audio>, <video>); everything else downloads.
INLINE_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"})
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
FALLBACK_TYPE = "application/octet-stream"
# type/subtype as RFC 6838 writes them: nothing that could smuggle parameters or odd bytes.
TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def clean_type(value: Any) -> str:
    return str(value or "").split(";", 1)[0].strip().lower()


def type_allowed(content_type: str) -> bool:
    content_type = clean_type(content_type)
    if content_type in REFUSED_TYPES:
        return False
    return content_type in ALLOWED_TYPES or content_type.startswith(ALLOWED_TYPE_PREFIXES)


def shown_inline(content_type: str) -> bool:
    content_type = clean_type(content_type)
    if not TYPE_RE.match(content_type):
        return False
    return content_type in INLINE_IMAGE_TYPES or content_type.startswith(("audio/", "video/"))


def served_type(content_type: Any) -> str:
    """The Content-Type a stored file is served (and kept) with: an inline image/audio/video type
    or a document type from the list, else application/octet-stream."""
    content_type = clean_type(content_type)
    if shown_inline(content_type) or content_type in ALLOWED_TYPES:
        return content_type
    return FALLBACK_TYPE
