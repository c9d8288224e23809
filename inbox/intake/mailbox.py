"""Inbound email: django-anymail's webhooks (storing the ESP's request) and IMAP polling (the raw message).

Anymail's views answer 500 when the signal receiver fails and accept everything when no
WEBHOOK_SECRET is set; the contract wants 503 (so the ESP retries) and a refusal. So the URLs
below are anymail's own patterns and names, each view subclassed with a `post` that runs anymail's
own validators (basic auth, the ESP's signature), stores the request and maps failures to the
project's `{code, detail}` answers. Parsing stays anymail's too, in the worker (`inbound_messages`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import default as default_policy
from functools import wraps
from imaplib import IMAP4, IMAP4_SSL
from typing import TYPE_CHECKING, Any

from anymail.exceptions import AnymailConfigurationError, AnymailError, AnymailWebhookValidationFailure
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern

from inbox.intake.esp_requests import request_to_payload
from inbox.intake.store import events_store
from inbox.models import Inbox
from inbox.providers.base import RawEvent
from inbox.providers.email import MAX_KEY, canonical_message_id, dedupe_key_for, message_id_of, raw_to_payload

logger = logging.getLogger(__name__)

IMAP_TIMEOUT = 30
IMAP_BATCH = 200  # per inbox and poll: a backlog drains over several polls, none runs for ever


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def email_store(*, raw: bytes, esp: str, fallback_key: str, inbox_id: int | None = None) -> list[int]:
    """Store one raw message (IMAP) as an inbound event, once per Message-ID (a replay stores nothing)."""
    payload: dict[str, Any] = {**raw_to_payload(raw), "esp": esp}
    if inbox_id is not None:
        payload["inbox_id"] = inbox_id
    key = dedupe_key_for(message_id_of(_headers_of(payload)), fallback_key)
    return events_store(provider="email", events=[RawEvent(kind="email", dedupe_key=key, payload=payload)])


def _headers_of(payload: dict[str, Any]):
    """The stored message's headers alone: the key needs only its Message-ID (the worker parses
    the whole MIME tree later)."""
    if "raw_b64" in payload:
        return BytesHeaderParser(policy=default_policy).parsebytes(base64.b64decode(payload["raw_b64"]))
    return HeaderParser(policy=default_policy).parsestr(payload.get("raw", ""))


# --- django-anymail ----------------------------------------------------------------------------------
#
# The request checks what anymail checks (basic auth, the ESP's signature) and stores the ESP's
# request itself (inbox/intake/esp_requests.py); the worker rebuilds it and lets anymail parse it.

def _mailgun_message_id(request: HttpRequest) -> str:
    """The checks Mailgun's parse_events would fail on, without building the message; its Message-ID.

    Raises what parse_events raises (AnymailConfigurationError, KeyError, ValueError, TypeError).
    """
    if request.content_type == "application/json":
        raise AnymailConfigurationError("Mailgun tracking webhook posted to the inbound URL")
    fields = request.POST
    if fields.get("event", "inbound") != "inbound" or "attachments" in fields:
        raise AnymailConfigurationError("not a Mailgun forward() inbound post")
    int(fields["timestamp"])
    if "body-mime" in fields:
        return message_id_of(HeaderParser(policy=default_policy).parsestr(fields["body-mime"], headersonly=True))
    if "attachment-count" in fields:
        int(fields["attachment-count"])
        json.loads(fields.get("content-id-map", "{}"))
    headers = [(name, value) for name, value in json.loads(fields["message-headers"])]
    if not all(isinstance(name, str) and isinstance(value, str) for name, value in headers):
        raise TypeError("Mailgun message-headers holds a header that is not text")
    # Anymail's message answers get("Message-ID") with the first of them, whatever its case.
    values = [value for name, value in headers if name.lower() == "message-id"]
    return canonical_message_id(values[0]) if values else ""


# ESPs whose request is checked and keyed without anymail building the message (`_mailgun_message_id`).
# The others are parsed in the request too, for their checks and Message-ID, but not serialised.
CHEAP_MESSAGE_IDS = {"mailgun": _mailgun_message_id}


def webhook_store(request: HttpRequest, *, esp: str, message_ids: list[str], event_id: str | None) -> list[int]:
    """Store an ESP's checked request as one inbound event, once per Message-ID (a redelivery stores nothing)."""
    payload = request_to_payload(request, esp)
    if len(message_ids) == 1 and message_ids[0]:
        key = dedupe_key_for(message_ids[0], "")
    elif len(message_ids) <= 1 and event_id:
        key = f"{esp}:{event_id}"
    else:  # several messages in one post (or no id at all): the stored request itself
        key = "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return events_store(provider="email", events=[RawEvent(kind="email", dedupe_key=key[:MAX_KEY], payload=payload)])


class _ContractAnswers:
    """Mixed in before an anymail view: the contract's answers around anymail's own checks."""

    if TYPE_CHECKING:  # what the anymail view it is mixed into provides
        esp_name: str
        signal: Any

        def run_validators(self, request: HttpRequest) -> None: ...
        def parse_events(self, request: HttpRequest) -> list[Any]: ...

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            # Anymail would only warn and accept anyone's mail.
            return _error(403, "not_configured", "Inbound email webhooks are off: ANYMAIL_WEBHOOK_SECRET is not set.")
        try:
            self.run_validators(request)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("%s inbound webhook refused: %s", self.esp_name, exc)
            return _error(400, "bad_signature", "Basic auth or signature missing or invalid.")
        esp = self.esp_name.lower()
        try:
            cheap = CHEAP_MESSAGE_IDS.get(esp)
            if cheap is not None:
                message_ids, event_id = [cheap(request)], request.POST.get("token")
            else:
                events = self.parse_events(request)
                message_ids = [message_id_of(event.message) for event in events if event.message is not None]
                event_id = events[0].event_id if len(events) == 1 else None
        except (AnymailError, ImproperlyConfigured, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s inbound webhook malformed: %s", self.esp_name, exc)
            return _error(400, "bad_payload", "Malformed inbound email payload.")
        try:
            webhook_store(request, esp=esp, message_ids=message_ids, event_id=event_id)
        except DatabaseError:
            logger.exception("%s inbound email could not be stored", self.esp_name)
            return _error(503, "unavailable", "Cannot store the message now; retry later.")
        return HttpResponse()


def _guarded(view):
    """Anymail builds the view per request and raises on a missing signing key: refuse, not 500."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ImproperlyConfigured as exc:
            logger.error("inbound email webhook misconfigured: %s", exc)
            return _error(403, "not_configured", "This inbound email webhook is not configured.")

    return guarded


# ESPs routed without ANYMAIL_INBOUND_ESPS: those whose signing key (a setting in ANYMAIL) is set.
ESP_SIGNING_KEYS = {"mailgun": "MAILGUN_WEBHOOK_SIGNING_KEY"}


def inbound_esps() -> frozenset[str]:
    """The ESPs whose webhooks are routed: ANYMAIL_INBOUND_ESPS, or by default the ESPs whose
    signing key is set. Read per request, so a settings change needs no restart of the URLconf."""
    named = getattr(settings, "ANYMAIL_INBOUND_ESPS", None)
    if named is not None:
        return frozenset(name.lower() for name in named)
    anymail = getattr(settings, "ANYMAIL", None) or {}
    return frozenset(esp for esp, key in ESP_SIGNING_KEYS.items() if anymail.get(key))


def _routed(esp: str, view):
    """404 unless the deployment configures `esp`: an ESP whose only check is basic auth must not
    take mail just because anymail ships a view for it."""

    @wraps(view)
    def routed(request, *args, **kwargs):
        if esp not in inbound_esps():
            return _error(404, "not_found", f"No inbound email webhook for {esp!r} is configured here.")
        return view(request, *args, **kwargs)

    return routed


def _esp_of(pattern: URLPattern) -> str:
    """The ESP a pattern is for: its first path segment (`mailgun/inbound/`, `^mailgun/inbound(_mime)?/$`)."""
    return str(pattern.pattern).lstrip("^").split("/", 1)[0].lower()


def _contract_urlpatterns() -> list[URLPattern]:
    from anymail.urls import urlpatterns

    patterns = []
    for pattern in urlpatterns:
        esp = _esp_of(pattern)
        view_class = pattern.callback.view_class
        wrapped: Any = type(view_class.__name__, (_ContractAnswers, view_class), {})
        callback = _routed(esp, _guarded(wrapped.as_view(**pattern.callback.view_initkwargs)))
        patterns.append(URLPattern(pattern.pattern, callback, pattern.default_args, pattern.name))
    known = {_esp_of(p) for p in patterns}
    unknown = set(getattr(settings, "ANYMAIL_INBOUND_ESPS", None) or ()) - known
    if unknown:
        raise ImproperlyConfigured(
            f"ANYMAIL_INBOUND_ESPS names ESPs anymail has no webhooks for: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )
    return patterns


# include((anymail_urlpatterns, "anymail")): anymail's paths and names, e.g. "anymail:mailgun_inbound_webhook".
anymail_urlpatterns = _contract_urlpatterns()


# --- IMAP -------------------------------------------------------------------------------------------


def _imap_open(config: dict[str, Any]) -> IMAP4:
    host = config["host"]
    ssl = config.get("ssl", True)
    port = int(config.get("port") or (993 if ssl else 143))
    connection = IMAP4_SSL(host, port, timeout=IMAP_TIMEOUT) if ssl else IMAP4(host, port, timeout=IMAP_TIMEOUT)
    connection.login(config["username"], config["password"])
    return connection


def _fetched_bytes(data: list) -> bytes | None:
    for item in data or []:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def imap_inbox_poll(inbox: Inbox) -> int:
    """Store this mailbox's unseen messages, then mark them seen; returns how many were fetched.

    Fetched with BODY.PEEK so a message is flagged \\Seen only after it is stored: a crash in
    between fetches it again next time, and the Message-ID key stores it once.
    """
    config = inbox.credentials["imap"]
    connection = _imap_open(config)
    fetched = 0
    try:
        status, _ = connection.select(config.get("folder") or "INBOX")
        if status != "OK":
            raise IMAP4.error(f"cannot select folder {config.get('folder')!r}")
        status, data = connection.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]  # None: no charset
        if status != "OK":
            raise IMAP4.error("SEARCH UNSEEN failed")
        uids = (data[0] or b"").split()[:IMAP_BATCH]
        for uid in uids:
            uid_text = uid.decode()
            status, data = connection.uid("FETCH", uid_text, "(BODY.PEEK[])")
            raw = _fetched_bytes(data) if status == "OK" else None
            if raw is None:
                logger.warning("imap %s: could not fetch uid %s", inbox.external_id, uid_text)
                continue
            email_store(raw=raw, esp="imap", fallback_key=f"imap:{inbox.pk}:{uid_text}", inbox_id=inbox.pk)
            connection.uid("STORE", uid_text, "+FLAGS", "(\\Seen)")
            fetched += 1
    finally:
        try:
            connection.logout()
        except (IMAP4.error, OSError):
            pass
    return fetched


def imap_poll() -> dict[str, int]:
    """Poll every email inbox that has IMAP credentials; one failing mailbox does not stop the rest."""
    results: dict[str, int] = {}
    for inbox in Inbox.objects.filter(kind="email").order_by("pk"):
        config = (inbox.credentials or {}).get("imap")
        if not isinstance(config, dict) or not config.get("host"):
            continue
        try:
            results[inbox.external_id] = imap_inbox_poll(inbox)
        except (IMAP4.error, OSError, KeyError, ValueError) as exc:
            logger.warning("imap poll of %s failed: %s", inbox.external_id, exc)
            results[inbox.external_id] = -1
    return results
