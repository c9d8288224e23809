"""Files we hold or point to, as clients and providers see them: our own download URL for every
attachment (never the provider's or the storage's), its state, and the short-lived signed URLs
providers fetch our uploads from.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

from inbox.models import META_CHANNELS, Direction, Message
from inbox.providers.base import OutgoingFile

PUBLIC_URL_MAX_AGE = 3600
PUBLIC_SALT = "inbox.attachments.public"
# Meta attachment kinds that are not media (a link preview, a template, a map pin).
NOT_MEDIA_KINDS = frozenset({"fallback", "template", "location"})
# Fetch errors that say the URL itself is not one to visit (inbox_project/safe_fetch.py).
REFUSED_URL_ERRORS = frozenset({"address_refused", "bad_url"})


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def needs_twilio_auth(url: str) -> bool:
    """Only Twilio's own API gets our credentials, never whatever host a URL names."""
    return _origin(url) in {_origin(settings.TWILIO_API_URL), ("https", "api.twilio.com")}


def is_remote(attachment: Any) -> bool:
    if not isinstance(attachment, dict) or attachment.get("stored") or attachment.get("error"):
        return False
    if attachment.get("type") in NOT_MEDIA_KINDS:
        return False
    return urlsplit(str(attachment.get("url") or "")).scheme in ("http", "https")


def stored_name(attachment: Any) -> str:
    """The storage name of a file we hold, or "" (email attachments saved before `stored` existed)."""
    if not isinstance(attachment, dict):
        return ""
    if attachment.get("stored"):
        return str(attachment["stored"])
    url = str(attachment.get("url") or "")
    if url.startswith(settings.MEDIA_URL) and "://" not in url:
        return unquote(url[len(settings.MEDIA_URL):])
    return ""


def attachment_state(message: Message, attachment: Any) -> str:
    """ready (we hold it), failed, pending (a fetch is due), external (a URL we never fetch), none."""
    if stored_name(attachment):
        return "ready"
    if not isinstance(attachment, dict):
        return "none"
    if attachment.get("error"):
        return "failed"
    if is_remote(attachment) and (message.direction == Direction.IN or (message.payload or {}).get("echo")):
        return "pending"
    return "external" if urlsplit(str(attachment.get("url") or "")).scheme in ("http", "https") else "none"


def redirect_target(message: Message, attachment: dict) -> str:
    """Where the browser may fetch a file we do not hold itself: never a URL that needs our credentials."""
    url = str(attachment.get("url") or "")
    if urlsplit(url).scheme not in ("http", "https"):
        return ""
    if attachment.get("error") in REFUSED_URL_ERRORS:
        return ""  # a URL our fetcher would not touch (loopback, private) is no place to send an agent
    if message.conversation.channel in META_CHANNELS:
        return url  # Meta's CDN URLs are public (until they expire)
    if message.direction == Direction.OUT and not needs_twilio_auth(url):
        return url  # a public URL an agent attached
    return ""


def attachments_for_api(message: Message) -> list[dict[str, Any]]:
    """What clients see: our own URL for every file, never the provider's or the storage's."""
    out = []
    for index, attachment in enumerate(message.attachments or []):
        if not isinstance(attachment, dict):
            continue
        state = attachment_state(message, attachment)
        item: dict[str, Any] = {
            "url": reverse("attachment-download", args=[message.pk, index]) if state != "none" and message.pk else "",
            "content_type": str(attachment.get("content_type") or ""),
            "state": state,
        }
        for key in ("name", "size", "type"):
            if attachment.get(key) not in (None, ""):
                item[key] = attachment[key]
        out.append(item)
    return out


def public_url(attachment: dict) -> str:
    """A URL Meta or Twilio can fetch without our credentials, valid for PUBLIC_URL_MAX_AGE."""
    token = signing.dumps(
        {"s": attachment["stored"], "t": attachment.get("content_type", ""), "n": attachment.get("name", "")},
        salt=PUBLIC_SALT,
        compress=True,
    )
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("attachment-public", args=[token])


def public_load(token: str) -> dict[str, str] | None:
    max_age = getattr(settings, "ATTACHMENT_PUBLIC_URL_MAX_AGE", PUBLIC_URL_MAX_AGE)
    try:
        data = signing.loads(token, salt=PUBLIC_SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) and data.get("s") else None


def outbound_url(attachment: Any) -> str:
    """For providers at send time: a fresh signed URL for our files (a retried send outlives the first)."""
    if not isinstance(attachment, dict):
        return ""
    if attachment.get("stored"):
        return public_url(attachment)
    return str(attachment.get("url") or "")


def stored_bytes(attachment: Any) -> bytes | None:
    """For email, which carries the file itself."""
    name = stored_name(attachment)
    if not name:
        return None
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def outgoing_files(message: Message) -> list[OutgoingFile]:
    """The message's attachments as a provider sends them: a URL it can fetch (a fresh signed one
    for our files: a retried send outlives the first) and, for email, the bytes themselves."""
    out = []
    for attachment in message.attachments or []:
        if not isinstance(attachment, dict):
            continue
        out.append(
            OutgoingFile(
                url=outbound_url(attachment),
                content_type=str(attachment.get("content_type") or ""),
                name=str(attachment.get("name") or ""),
                read=partial(stored_bytes, attachment),
            )
        )
    return out
