"""Inbound email: django-anymail's webhooks and IMAP polling, both storing the raw message once.

Anymail's views answer 500 when the signal receiver fails and accept everything when no
WEBHOOK_SECRET is set; the contract wants 503 (so the ESP retries) and a refusal. So the URLs
below are anymail's own patterns and names, each view subclassed with a `post` that maps failures
to the project's `{code, detail}` answers. Parsing and signature checks stay anymail's.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import default as default_policy
from functools import wraps
from imaplib import IMAP4, IMAP4_SSL
from typing import TYPE_CHECKING, Any

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.signals import inbound
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern

from inbox.intake.store import events_store
from inbox.models import Inbox
from inbox.providers.base import RawEvent
from inbox.providers.email import dedupe_key_for, is_addressed_to_us, message_id_of, raw_to_payload

logger = logging.getLogger(__name__)

IMAP_TIMEOUT = 30
IMAP_BATCH = 200  # per inbox and poll: a backlog drains over several polls, none runs for ever


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def email_store(*, raw: bytes, esp: str, fallback_key: str, stripped_text: str | None = None,
                envelope_recipient: str | None = None, inbox_id: int | None = None,
                message_id: str | None = None) -> list[int]:
    """Store one raw message as an inbound event, once per Message-ID (a replay stores nothing).

    `message_id`: the raw message's Message-ID (`message_id_of`) when the caller holds it parsed
    already (the webhook: anymail's message); otherwise it is read from the raw message's headers.
    """
    payload: dict[str, Any] = {**raw_to_payload(raw), "esp": esp}
    if stripped_text:
        payload["stripped_text"] = stripped_text
    if envelope_recipient:
        payload["envelope_recipient"] = envelope_recipient
    if inbox_id is not None:
        payload["inbox_id"] = inbox_id
    if message_id is None:
        message_id = message_id_of(_headers_of(payload))
    key = dedupe_key_for(message_id, fallback_key)
    return events_store(provider="email", events=[RawEvent(kind="email", dedupe_key=key, payload=payload)])


def _headers_of(payload: dict[str, Any]):
    """The stored message's headers alone: the key needs only its Message-ID, and parsing the whole
    MIME tree for it was ~40 % of an email webhook's CPU (the worker parses it in full later)."""
    if "raw_b64" in payload:
        return BytesHeaderParser(policy=default_policy).parsebytes(base64.b64decode(payload["raw_b64"]))
    return HeaderParser(policy=default_policy).parsestr(payload.get("raw", ""))


# --- django-anymail ----------------------------------------------------------------------------------


@receiver(inbound, dispatch_uid="inbox-email-inbound")
def anymail_inbound_received(sender, event, esp_name: str, **kwargs) -> None:
    message = event.message
    envelope = message.envelope_recipient or ""
    if not is_addressed_to_us(message, [envelope]):
        logger.info("%s inbound email for %s: no inbox owns it; acknowledged", esp_name, message.get("To"))
        return
    raw = _as_bytes(message)
    fallback = f"{esp_name.lower()}:{event.event_id}" if event.event_id else "sha256:" + hashlib.sha256(raw).hexdigest()
    email_store(
        raw=raw,
        esp=esp_name.lower(),
        fallback_key=fallback,
        stripped_text=message.stripped_text,
        envelope_recipient=envelope,
        # The message anymail parsed is the one serialised: its Message-ID, without parsing the bytes again.
        message_id=message_id_of(message),
    )


def _as_bytes(message) -> bytes:
    """Serialise anymail's message without losing attachment bytes.

    Anymail builds attachments from ESP fields with raw bytes payloads and no transfer encoding;
    written out as-is they come back with line endings rewritten. Base64 them first.
    """
    for part in message.walk():
        if part.is_multipart() and part.get_boundary() is None:
            # An unguessable boundary of our own: the generator's would be checked against the whole
            # text with a regular expression compiled anew for every part (a quarter of this function).
            part.set_boundary("=_" + secrets.token_hex(16))
        if part.get_content_maintype() in ("multipart", "message", "text") or part["Content-Transfer-Encoding"]:
            continue
        data = part.get_payload(decode=True) or b""
        part.set_payload(base64.encodebytes(data).decode("ascii"))
        part["Content-Transfer-Encoding"] = "base64"
    # Unfolded: the bytes are read back only by our own parser (inbox/providers/email.py), which needs
    # no line-length limit, and refolding every header was a third of this function's CPU.
    return message.as_bytes(policy=_STORED_POLICY)


_STORED_POLICY = default_policy.clone(max_line_length=None)


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
        try:
            events = self.parse_events(request)
        except (AnymailError, ImproperlyConfigured, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s inbound webhook malformed: %s", self.esp_name, exc)
            return _error(400, "bad_payload", "Malformed inbound email payload.")
        try:
            for event in events:
                self.signal.send(sender=self.__class__, event=event, esp_name=self.esp_name)
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
