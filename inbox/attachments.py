"""Attachments: providers' media copied into our storage, served only to those who may see them,
and agents' uploads handed to providers as short-lived signed URLs.

Inbound media arrives as provider URLs that expire (Meta's CDN) or need our account's credentials
(Twilio). A task downloads each one once, streamed and bounded, into default_storage under an
unguessable name, and records `{stored, content_type, name, size, sha256, source_url}` on the
attachment dict; a permanent failure records `{error, error_detail}` and never fails the message.
Agents and API clients only ever see `/attachments/<message>/<index>/` (see attachment_views).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import posixpath
import secrets
import tempfile
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils.text import get_valid_filename
from kombu.exceptions import OperationalError as BrokerError

from . import realtime
from .models import META_CHANNELS, Conversation, Direction, Message
from .services import ReplyRefused

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # Messenger's own limit for attachments
SMS_MAX_BYTES = 5 * 1024 * 1024  # Twilio refuses MMS media above 5 MB
FETCH_TIMEOUT = (5, 20)  # connect, read (per chunk)
FETCH_DEADLINE_SECONDS = 120  # a trickling server must not hold a worker for ever
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
UPLOAD_MAX_AGE = 24 * 3600
PUBLIC_URL_MAX_AGE = 3600
UPLOAD_SALT = "inbox.attachments.upload"
PUBLIC_SALT = "inbox.attachments.public"

# Meta attachment kinds that are not media (a link preview, a template, a map pin).
NOT_MEDIA_KINDS = frozenset({"fallback", "template", "location"})

# SVG and HTML are deliberately absent: both can run script when opened from our origin.
ALLOWED_TYPE_PREFIXES = ("image/", "audio/", "video/")
REFUSED_TYPES = frozenset({"image/svg+xml"})
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


class FetchFailed(Exception):
    def __init__(self, code: str, detail: str, *, transient: bool):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.transient = transient


# --- Content types ---------------------------------------------------------------------------------


def clean_type(value: Any) -> str:
    return str(value or "").split(";", 1)[0].strip().lower()


def type_allowed(content_type: str) -> bool:
    content_type = clean_type(content_type)
    if content_type in REFUSED_TYPES:
        return False
    return content_type in ALLOWED_TYPES or content_type.startswith(ALLOWED_TYPE_PREFIXES)


def shown_inline(content_type: str) -> bool:
    content_type = clean_type(content_type)
    return content_type in INLINE_IMAGE_TYPES or content_type.startswith(("audio/", "video/"))


def max_bytes(channel: str | None = None) -> int:
    limit = getattr(settings, "ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES)
    return min(limit, SMS_MAX_BYTES) if channel == "sms" else limit


def _storage_name(content_type: str) -> str:
    ext = mimetypes.guess_extension(content_type) or ""
    return f"attachments/{secrets.token_urlsafe(24)}{ext}"


def _safe_name(name: str, fallback: str) -> str:
    try:
        safe = get_valid_filename(name)[:150] if name else ""
    except SuspiciousFileOperation:
        safe = ""
    return safe or fallback


# --- Fetching inbound media ------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def needs_twilio_auth(url: str) -> bool:
    """Only Twilio's own API gets our credentials, never whatever host a URL names."""
    return _origin(url) in {_origin(settings.TWILIO_API_URL), ("https", "api.twilio.com")}


def _is_remote(attachment: Any) -> bool:
    if not isinstance(attachment, dict) or attachment.get("stored") or attachment.get("error"):
        return False
    if attachment.get("type") in NOT_MEDIA_KINDS:
        return False
    return urlsplit(str(attachment.get("url") or "")).scheme in ("http", "https")


def message_needs_fetch(message: Message) -> bool:
    """An inbound message, or an echo of a reply sent from the provider's tool, holding remote media."""
    if message.direction != Direction.IN and not (message.payload or {}).get("echo"):
        return False
    return any(_is_remote(a) for a in message.attachments or [])


def _download(url: str, *, declared_type: str, limit: int) -> dict[str, Any]:
    auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) if needs_twilio_auth(url) else None
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    started = time.monotonic()
    try:
        # requests drops the Authorization header when a redirect leaves the host (Twilio -> its CDN).
        with session.get(url, auth=auth, stream=True, timeout=FETCH_TIMEOUT) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise FetchFailed("unavailable", f"The provider answered HTTP {status}.", transient=True)
            if status >= 400:
                # Meta's CDN answers 403/404 once a URL expired; Twilio 401/404 for deleted media.
                raise FetchFailed("gone", f"The provider answered HTTP {status}.", transient=False)
            content_type = clean_type(response.headers.get("Content-Type"))
            declared = clean_type(declared_type)
            if content_type in GENERIC_TYPES and declared and "*" not in declared:
                content_type = declared
            content_type = content_type or "application/octet-stream"
            if not type_allowed(content_type):
                raise FetchFailed("type_not_allowed", f"{content_type} attachments are not accepted.", transient=False)
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise FetchFailed("too_large", f"The file is {int(length)} bytes; the limit is {limit}.", transient=False)
            digest = hashlib.sha256()
            size = 0
            with tempfile.TemporaryFile() as buffer:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise FetchFailed("too_large", f"The file is over the {limit}-byte limit.", transient=False)
                    if time.monotonic() - started > FETCH_DEADLINE_SECONDS:
                        raise FetchFailed("timeout", "The download took too long.", transient=True)
                    digest.update(chunk)
                    buffer.write(chunk)
                buffer.seek(0)
                stored = default_storage.save(_storage_name(content_type), File(buffer))
    except requests.Timeout:
        raise FetchFailed("timeout", "The provider did not answer in time.", transient=True) from None
    except requests.TooManyRedirects:
        raise FetchFailed("gone", "Too many redirects.", transient=False) from None
    except requests.RequestException as exc:
        # Never the exception text: it quotes the URL, which may carry tokens.
        raise FetchFailed("unreachable", f"Could not reach the provider ({type(exc).__name__}).", transient=True) from None
    finally:
        session.close()
    return {"stored": stored, "content_type": content_type, "size": size, "sha256": digest.hexdigest()}


def _display_name(attachment: dict, url: str, content_type: str, index: int) -> str:
    if attachment.get("name"):
        return str(attachment["name"])
    base = posixpath.basename(unquote(urlsplit(url).path))
    if "." in base:
        return _safe_name(base, "")[:150] or f"attachment-{index + 1}"
    return f"attachment-{index + 1}{mimetypes.guess_extension(content_type) or ''}"


def message_attachments_fetch(*, message_id: int, final: bool = True) -> bool:
    """Download a message's remote media once. Returns whether a transient failure is worth a retry.

    Downloads run outside any transaction (they are slow); results are merged under a row lock
    so a duplicate task or a concurrent edit of the message loses nothing.
    """
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None:
        return False
    limit = max_bytes()
    results: dict[int, dict[str, Any]] = {}
    retry = False
    for index, attachment in enumerate(message.attachments or []):
        if not _is_remote(attachment):
            continue
        url = str(attachment["url"])
        try:
            fetched = _download(url, declared_type=str(attachment.get("content_type") or ""), limit=limit)
        except FetchFailed as exc:
            logger.info("message %s attachment %s: %s (transient=%s)", message_id, index, exc.code, exc.transient)
            if exc.transient and not final:
                retry = True
                continue
            results[index] = {"url": url, "error": exc.code, "error_detail": exc.detail}
            continue
        fetched["name"] = _display_name(attachment, url, fetched["content_type"], index)
        results[index] = {"url": url, "source_url": url, **fetched}
    if results:
        _results_merge(message_id, results)
    return retry


def _results_merge(message_id: int, results: dict[int, dict[str, Any]]) -> None:
    orphans = []
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",)).select_related("conversation").get(pk=message_id)
        attachments = list(message.attachments or [])
        for index, result in results.items():
            current = attachments[index] if index < len(attachments) else None
            if not isinstance(current, dict) or current.get("url") != result["url"] or not _is_remote(current):
                orphans.append(result.get("stored"))  # another task got there first
                continue
            attachments[index] = {**current, **{k: v for k, v in result.items() if k != "url"}}
        message.attachments = attachments
        message.save(update_fields=["attachments"])
        realtime.message_changed(message, "message.updated")
    for name in filter(None, orphans):
        default_storage.delete(name)


def fetch_enqueue(message_id: int) -> None:
    from .attachment_tasks import attachments_fetch

    try:
        attachments_fetch.delay(message_id)
    except (BrokerError, ConnectionError, OSError):
        # Meta's URLs still work for a while and the view redirects to them meanwhile.
        logger.warning("broker unavailable; attachments of message %s not fetched", message_id)


def on_message_saved(sender, instance: Message, created: bool, **kwargs) -> None:
    """post_save: queue the download once the message is committed (inbound and echoes)."""
    if not created or kwargs.get("raw") or not getattr(settings, "ATTACHMENTS_FETCH", True):
        return
    if message_needs_fetch(instance):
        message_id = instance.pk
        transaction.on_commit(lambda: fetch_enqueue(message_id))


# --- Serving ---------------------------------------------------------------------------------------


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
    if _is_remote(attachment) and (message.direction == Direction.IN or (message.payload or {}).get("echo")):
        return "pending"
    return "external" if urlsplit(str(attachment.get("url") or "")).scheme in ("http", "https") else "none"


def redirect_target(message: Message, attachment: dict) -> str:
    """Where the browser may fetch a file we do not hold itself: never a URL that needs our credentials."""
    url = str(attachment.get("url") or "")
    if urlsplit(url).scheme not in ("http", "https"):
        return ""
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


# --- Outbound: uploads and the URLs providers fetch them from --------------------------------------


def upload_size_check(*, content_length: Any, channel: str) -> None:
    """A multipart body well over the limit is refused from its Content-Length alone."""
    try:
        length = int(content_length or 0)
    except (TypeError, ValueError):
        return
    limit = max_bytes(channel)
    if length > limit + 64 * 1024:  # room for the multipart envelope
        raise ReplyRefused("too_large", f"Files on this channel may be at most {limit} bytes.", 413)


def upload_store(*, conversation: Conversation, user, upload) -> dict[str, Any]:
    """Keep an agent's file for a later reply; returns its description and the token naming it."""
    content_type = clean_type(getattr(upload, "content_type", "")) or "application/octet-stream"
    limit = max_bytes(conversation.channel)
    if not type_allowed(content_type):
        raise ReplyRefused("type_not_allowed", f"{content_type} files cannot be sent.", 400)
    if upload.size > limit:
        raise ReplyRefused("too_large", f"Files on this channel may be at most {limit} bytes.", 413)
    if upload.size == 0:
        raise ReplyRefused("empty", "The file is empty.", 400)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    name = _safe_name(getattr(upload, "name", ""), "attachment")
    stored = default_storage.save(_storage_name(content_type), upload)
    description = {"stored": stored, "content_type": content_type, "name": name, "size": upload.size, "sha256": digest.hexdigest()}
    token = signing.dumps({"u": user.pk, "c": conversation.pk, **description}, salt=UPLOAD_SALT, compress=True)
    return {"token": token, "url": reverse("attachment-upload", args=[token]), **description}


def upload_load(token: str, *, user, conversation: Conversation | None = None) -> dict[str, Any] | None:
    """The upload a token names, if this user made it (for this conversation) within a day."""
    try:
        data = signing.loads(token, salt=UPLOAD_SALT, max_age=UPLOAD_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("u") != getattr(user, "pk", None):
        return None
    if conversation is not None and data.get("c") != conversation.pk:
        return None
    return data


def reply_attachments(*, conversation: Conversation, user, refs: list) -> list[dict[str, Any]] | None:
    """Reply attachments from upload tokens (and, as before, `{url, content_type}` objects)."""
    out = []
    for ref in refs or []:
        if not isinstance(ref, str):
            out.append(dict(ref))
            continue
        data = upload_load(ref, user=user, conversation=conversation)
        if data is None:
            raise ReplyRefused("invalid_attachment", "An attachment token is unknown, expired or not yours.", 400)
        description = {k: data[k] for k in ("stored", "content_type", "name", "size", "sha256")}
        out.append({**description, "url": public_url(description)})
    return out or None


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
