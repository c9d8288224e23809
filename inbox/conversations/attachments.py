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
from django.utils.translation import gettext as _

from inbox import jobs
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.files import is_remote, needs_twilio_auth, public_url
from inbox.models import Conversation, Direction, Message
from inbox.providers.media_types import (  # noqa: F401 - part of this module's interface
    ALLOWED_TYPE_PREFIXES,
    ALLOWED_TYPES,
    GENERIC_TYPES,
    INLINE_IMAGE_TYPES,
    REFUSED_TYPES,
    clean_type,
    served_type,
    shown_inline,
    type_allowed,
)
from inbox.realtime import publish as realtime
from inbox_project import safe_fetch

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # Messenger's own limit for attachments
SMS_MAX_BYTES = 5 * 1024 * 1024  # Twilio refuses MMS media above 5 MB
FETCH_TIMEOUT = (5, 20)  # connect, read (per chunk)
FETCH_DEADLINE_SECONDS = 120  # a trickling server must not hold a worker for ever
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
UPLOAD_MAX_AGE = 24 * 3600
UPLOAD_SALT = "inbox.attachments.upload"


class FetchFailed(Exception):
    def __init__(self, code: str, detail: str, *, transient: bool):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.transient = transient


# --- Limits and names (the type allowlist is inbox/providers/media_types.py) ----------------------


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


def message_needs_fetch(message: Message) -> bool:
    """An inbound message, or an echo of a reply sent from the provider's tool, holding remote media."""
    if message.direction != Direction.IN and not (message.payload or {}).get("echo"):
        return False
    return any(is_remote(a) for a in message.attachments or [])


def _twilio_auth(url: str) -> tuple[str, str] | None:
    """Our Twilio credentials for Twilio's own API only, hop by hop (never for its CDN or anyone else)."""
    return (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) if needs_twilio_auth(url) else None


def _download(url: str, *, declared_type: str, limit: int) -> dict[str, Any]:
    """Fetch one provider URL into storage through the safe fetcher (inbox_project/safe_fetch.py):
    public addresses only, every redirect hop checked, the checked address pinned, size and time capped."""
    try:
        with safe_fetch.fetch(
            url, auth=_twilio_auth, timeout=FETCH_TIMEOUT, max_redirects=MAX_REDIRECTS, deadline=FETCH_DEADLINE_SECONDS
        ) as (response, deadline):
            status = response.status_code
            if status == 429 or status >= 500:
                raise FetchFailed("unavailable", f"The provider answered HTTP {status}.", transient=True)
            if status >= 300:
                # Meta's CDN answers 403/404 once a URL expired; Twilio 401/404 for deleted media.
                raise FetchFailed("gone", f"The provider answered HTTP {status}.", transient=False)
            content_type = clean_type(response.headers.get("Content-Type"))
            declared = clean_type(declared_type)
            if content_type in GENERIC_TYPES and declared and "*" not in declared:
                content_type = declared
            content_type = content_type or "application/octet-stream"
            if not type_allowed(content_type):
                raise FetchFailed("type_not_allowed", f"{content_type} attachments are not accepted.", transient=False)
            digest = hashlib.sha256()
            size = 0
            with tempfile.TemporaryFile() as buffer:
                for chunk in safe_fetch.read_capped(response, limit=limit, deadline=deadline, chunk=CHUNK):
                    size += len(chunk)
                    digest.update(chunk)
                    buffer.write(chunk)
                buffer.seek(0)
                stored = default_storage.save(_storage_name(content_type), File(buffer))
    except safe_fetch.FetchRefused as exc:
        # A name that does not resolve may be DNS having a bad minute; an address or scheme never changes.
        raise FetchFailed(exc.code, exc.detail, transient=exc.code == "unresolvable") from None
    except safe_fetch.FetchTooLarge as exc:
        raise FetchFailed("too_large", str(exc), transient=False) from None
    except safe_fetch.FetchTimedOut:
        raise FetchFailed("timeout", "The download took too long.", transient=True) from None
    except requests.Timeout:
        raise FetchFailed("timeout", "The provider did not answer in time.", transient=True) from None
    except requests.RequestException as exc:
        # Never the exception text: it quotes the URL, which may carry tokens.
        raise FetchFailed("unreachable", f"Could not reach the provider ({type(exc).__name__}).", transient=True) from None
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
        if not is_remote(attachment):
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
            if not isinstance(current, dict) or current.get("url") != result["url"] or not is_remote(current):
                orphans.append(result.get("stored"))  # another task got there first
                continue
            attachments[index] = {**current, **{k: v for k, v in result.items() if k != "url"}}
        message.attachments = attachments
        message.save(update_fields=["attachments"])
        realtime.message_changed(message, "message.updated")
    for name in filter(None, orphans):
        default_storage.delete(name)


def fetch_enqueue(message_id: int) -> None:
    if not jobs.enqueue("inbox.tasks.attachments_fetch", message_id):
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


# --- Outbound: uploads and the URLs providers fetch them from --------------------------------------


def upload_size_check(*, content_length: Any, channel: str) -> None:
    """A multipart body well over the limit is refused from its Content-Length alone."""
    try:
        length = int(content_length or 0)
    except (TypeError, ValueError):
        return
    limit = max_bytes(channel)
    if length > limit + 64 * 1024:  # room for the multipart envelope
        raise ReplyRefused("too_large", _("Files on this channel may be at most %(limit)s bytes.") % {"limit": limit}, 413)


def upload_store(*, conversation: Conversation, user, upload) -> dict[str, Any]:
    """Keep an agent's file for a later reply; returns its description and the token naming it."""
    content_type = clean_type(getattr(upload, "content_type", "")) or "application/octet-stream"
    limit = max_bytes(conversation.channel)
    if not type_allowed(content_type):
        raise ReplyRefused("type_not_allowed", _("%(type)s files cannot be sent.") % {"type": content_type}, 400)
    if upload.size > limit:
        raise ReplyRefused("too_large", _("Files on this channel may be at most %(limit)s bytes.") % {"limit": limit}, 413)
    if upload.size == 0:
        raise ReplyRefused("empty", _("The file is empty."), 400)
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
            raise ReplyRefused("invalid_attachment", _("An attachment token is unknown, expired or not yours."), 400)
        description = {k: data[k] for k in ("stored", "content_type", "name", "size", "sha256")}
        out.append({**description, "url": public_url(description)})
    return out or None


