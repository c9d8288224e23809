"""Email: parsing inbound mail, sending replies through Django's mail backend.

Inbound mail reaches us two ways (`inbox/intake/mailbox.py`): django-anymail's inbound webhooks
(anymail checks basic auth and the ESP's signature) and IMAP polling. A webhook stores the ESP's
request as it came and IMAP the raw RFC 5322 message, each as an `InboundEvent` deduplicated by
Message-ID; in the worker, anymail parses the request (or the helpers here the raw message) and
`inbox/intake/email.py` threads it into a conversation.

Our outbound mail sets a reply+<token>@ Reply-To and threading headers, so replies find their
conversation (inbox/intake/email.py).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import smtplib
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string
from email.message import EmailMessage as MIMEMessage
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parsedate_to_datetime
from html import unescape
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage, get_connection
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.html import strip_tags
from django.utils.text import get_valid_filename
from django.utils.translation import gettext

from customers.models import Channel
from customers.services import email_normalise
from inbox.models import Conversation, Direction, Inbox, Message
from inbox.providers.base import OutgoingFile, Provider, ProviderError, SendResult
from inbox.providers.media_types import served_type

logger = logging.getLogger(__name__)

REPLY_PREFIX = "reply+"
REPLY_ADDRESS_RE = re.compile(r"^reply\+([A-Za-z0-9_-]{8,32})@", re.IGNORECASE)
MESSAGE_ID_RE = re.compile(r"<[^<>\s]+>")
# Headers that name who a message was delivered to; the envelope recipient is added by the caller.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
RE_PREFIX = re.compile(r"^\s*(re|aw|sv)\s*:\s*", re.IGNORECASE)
# RFC 5322 asks to keep References short enough; keep the root and the most recent ids.
MAX_REFERENCES = 20
MAX_KEY = 255


# --- Parsing ----------------------------------------------------------------------------------------


def raw_to_payload(raw: bytes, key: str = "raw") -> dict[str, str]:
    """Bytes as JSON can hold them: text under `key` when it is UTF-8 (and has no NUL, which
    PostgreSQL's jsonb refuses), else base64 under `key`_b64 (8-bit legacy mail, binary)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return {f"{key}_b64": base64.b64encode(raw).decode("ascii")}
    return {key: text}


def parse_message(payload: dict[str, Any]) -> MIMEMessage:
    if "raw_b64" in payload:
        return message_from_bytes(base64.b64decode(payload["raw_b64"]), policy=default_policy)
    return message_from_string(payload.get("raw", ""), policy=default_policy)


def message_id_of(msg) -> str:
    """The Message-ID in its canonical `<left@right>` form, or '' when missing."""
    return canonical_message_id(str(msg.get("Message-ID", "") or ""))


def canonical_message_id(value: str) -> str:
    """A Message-ID header's value in its canonical `<left@right>` form, or ''."""
    value = value.strip()
    found = MESSAGE_ID_RE.search(value)
    if found:
        return found.group(0)
    return f"<{value}>" if value and " " not in value else ""


def dedupe_key_for(message_id: str, fallback: str) -> str:
    """Message-ID when it fits the key column; otherwise (or without one) a stable fallback."""
    if message_id and len(message_id) <= MAX_KEY:
        return message_id
    if message_id:
        return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return fallback[:MAX_KEY]


def referenced_ids(msg) -> list[str]:
    """Ids from In-Reply-To and References, most recent first (In-Reply-To, then References reversed)."""
    in_reply_to = MESSAGE_ID_RE.findall(str(msg.get("In-Reply-To", "") or ""))
    references = MESSAGE_ID_RE.findall(str(msg.get("References", "") or ""))
    seen: list[str] = []
    for mid in [*in_reply_to, *reversed(references)]:
        if mid not in seen:
            seen.append(mid)
    return seen


def addresses_of(msg, headers: tuple[str, ...]) -> list[tuple[str, str]]:
    values = []
    for header in headers:
        values += [str(v) for v in msg.get_all(header, [])]
    return [(name, addr) for name, addr in getaddresses(values) if addr]


def recipient_addresses(msg, extra: Sequence[str] = ()) -> list[str]:
    """Every address the message was delivered to, as written (tokens are case-sensitive)."""
    found = [addr.strip() for _name, addr in addresses_of(msg, RECIPIENT_HEADERS)]
    found += [addr for _name, addr in getaddresses([e for e in extra if e])]
    unique: list[str] = []
    for addr in found:
        if addr and addr not in unique:
            unique.append(addr)
    return unique


def reply_tokens(addresses: list[str]) -> list[str]:
    return [m.group(1) for m in (REPLY_ADDRESS_RE.match(a) for a in addresses) if m]


def _normalised(addresses: list[str]) -> list[str]:
    result = []
    for addr in addresses:
        try:
            result.append(email_normalise(addr))
        except ValidationError:
            continue
    return result


def conversation_for_token(token: str) -> Conversation | None:
    qs = Conversation.objects.select_related("inbox").filter(channel=Channel.EMAIL)
    # Some relays lower-case local parts; tokens are long enough that a case-insensitive match is safe.
    return qs.filter(reply_token=token).first() or qs.filter(reply_token__iexact=token).first()


def _email_inboxes(normalised: list[str]):
    match = Q()
    for addr in normalised:
        match |= Q(external_id__iexact=addr)
    return Inbox.objects.filter(match, kind=Channel.EMAIL)


def inbox_for_addresses(addresses: list[str]) -> Inbox | None:
    normalised = _normalised(addresses)
    if not normalised:
        return None
    inboxes = {i.external_id.lower(): i for i in _email_inboxes(normalised).select_related("team")}
    for addr in normalised:  # header order: Delivered-To first
        if addr in inboxes:
            return inboxes[addr]
    return None


def is_addressed_to_us(msg, extra: Sequence[str] = ()) -> bool:
    """Whether some inbox owns a recipient address (or a reply token): the webhook stores only those."""
    addresses = recipient_addresses(msg, extra)
    normalised = _normalised(addresses)
    # Whether, not which: no inbox row (and its encrypted credentials) is read in the webhook's request.
    if normalised and _email_inboxes(normalised).exists():
        return True
    return any(conversation_for_token(t) for t in reply_tokens(addresses))


def is_automatic(msg) -> bool:
    """Auto-replies, bounces and bulk mail (RFC 3834): stored for the record, never answered."""
    auto_submitted = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if str(msg.get("Precedence", "") or "").strip().lower() in {"bulk", "junk", "list", "auto_reply"}:
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    return msg.get_content_type() == "multipart/report"  # delivery status notifications


def message_timestamp(msg) -> datetime:
    now = timezone.now()
    try:
        when = parsedate_to_datetime(str(msg.get("Date", "") or ""))
    except (TypeError, ValueError, IndexError):
        return now
    if when is None:
        return now
    if timezone.is_naive(when):
        when = when.replace(tzinfo=UTC)
    # A sender's clock in the future would pin the conversation to the top of every list.
    return min(when, now)


def _part_text(part) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, KeyError, AssertionError):
        raw = part.get_payload(decode=True) or b""
        content = raw.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


def _leaf_parts(part):
    """Non-multipart parts; an attached message (message/rfc822) is one leaf, not its contents."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaf_parts(sub)
    else:
        yield part


def bodies(msg) -> tuple[str, str, list]:
    """(text, html, attachment parts)."""
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    text = _part_text(text_part) if text_part is not None else ""
    html = _part_text(html_part) if html_part is not None else ""
    if not text and html:
        text = re.sub(r"\n\s*\n+", "\n\n", unescape(strip_tags(re.sub(r"(?i)<br\s*/?>|</p>", "\n", html)))).strip()
    chosen = {id(p) for p in (text_part, html_part) if p is not None}
    attachments = [
        p for p in _leaf_parts(msg)
        if id(p) not in chosen and (p.get_filename() or p.get_content_disposition() == "attachment"
                                    or p.get_content_maintype() not in ("text", "multipart"))
    ]
    return text.replace("\r\n", "\n"), html, attachments


ATTRIBUTION_RES = [
    re.compile(r"^\s*On\b.*\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Am\b.*\bschrieb\b.*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Le\b.*\ba écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{20,}\s*$"),  # Outlook's rule above its "From:/Sent:" block
]
OUTLOOK_HEADER_RE = re.compile(r"^\s*\*?From:\*?\s.+", re.IGNORECASE)
OUTLOOK_NEXT_RE = re.compile(r"^\s*\*?(Sent|Date|To|Subject):\*?\s", re.IGNORECASE)


def reply_strip(text: str) -> str:
    """The new part of a reply: cut at the quote attribution, drop ">" lines.

    email-reply-parser (unmaintained since 2020) does the same on Gmail/Outlook conventions; these
    few rules cover them, including Gmail's attribution wrapped over two lines.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        joined = line + " " + lines[i + 1] if i + 1 < len(lines) else line
        if any(r.match(line) for r in ATTRIBUTION_RES):
            break
        if line.strip().startswith("On ") and not line.rstrip().endswith(":") and ATTRIBUTION_RES[0].match(joined):
            break
        if OUTLOOK_HEADER_RE.match(line) and i + 1 < len(lines) and OUTLOOK_NEXT_RE.match(lines[i + 1]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    stripped = "\n".join(kept).strip()
    return stripped or text.strip()


def attachment_store(part) -> dict[str, Any]:
    if part.get_content_maintype() == "message":
        inner = part.get_content()
        data = inner.as_bytes() if hasattr(inner, "as_bytes") else bytes(str(inner), "utf-8")
    else:
        data = part.get_payload(decode=True) or b""
    name = part.get_filename() or ""
    try:
        safe = get_valid_filename(name) if name else "attachment"
    except SuspiciousFileOperation:
        safe = "attachment"
    # A random folder: names are attacker-chosen and must not collide or be guessable.
    path = default_storage.save(f"email/{secrets.token_urlsafe(16)}/{safe[:100]}", ContentFile(data))
    return {
        "url": default_storage.url(path),
        "stored": path,
        # The sender's claim, cleaned: a type off the allowlist is kept as application/octet-stream.
        "content_type": served_type(part.get_content_type()),
        "name": name or safe,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# --- Sending ----------------------------------------------------------------------------------------


def reply_subject(subject: str) -> str:
    subject = (subject or "").strip()
    return subject if RE_PREFIX.match(subject) else f"Re: {subject}"


def _quote(message: Message, who: str) -> str:
    """The customer's last mail quoted under the reply, introduced in the active language."""
    when = format_datetime(message.created_at.astimezone(UTC))
    quoted = "\n".join(f"> {line}" if line else ">" for line in (message.text or "").splitlines())
    return gettext("On %(when)s, %(who)s wrote:") % {"when": when, "who": who} + f"\n{quoted}"


def _references(previous: Message) -> list[str]:
    ids = MESSAGE_ID_RE.findall(previous.email_references or "")
    if previous.email_message_id and previous.email_message_id not in ids:
        ids.append(previous.email_message_id)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return ids


def _smtp_error(exc: Exception) -> ProviderError:
    """Whether retrying can help: 4xx SMTP replies and dropped connections yes, 5xx no."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
        code = str(codes[0]) if codes else "550"
        if codes and all(400 <= c < 500 for c in codes):  # greylisting, mailbox busy
            return ProviderError(reason="server_error", code=code, detail=detail, transient=True)
        return ProviderError(reason="invalid_recipient", code=code, detail=detail, transient=False)
    if isinstance(exc, AnymailRecipientsRefused):
        return ProviderError(reason="invalid_recipient", code="rejected", detail=str(exc)[:500], transient=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ProviderError(reason="server_error", code="disconnected", detail=str(exc), transient=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        transient = not (500 <= exc.smtp_code < 600)
        return ProviderError(
            reason="server_error" if transient else "rejected", code=str(exc.smtp_code), detail=detail, transient=transient
        )
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        transient = status is None or status >= 500 or status == 429
        return ProviderError(
            reason="server_error" if transient else "rejected", code=str(status or "api_error"),
            detail=str(exc)[:500], transient=transient,
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return ProviderError(reason="timeout", code="timeout", detail=str(exc) or "timed out", transient=True)
    # ConnectionError, other OSErrors, SMTPException without a code: the server may come back.
    return ProviderError(reason="server_error", code=type(exc).__name__[:32], detail=str(exc), transient=True)


class EmailProvider(Provider):
    name = "email"

    def verify(self, request):
        raise NotImplementedError("Inbound email arrives through django-anymail's webhooks, which verify it.")

    def split(self, request):
        raise NotImplementedError("Inbound email arrives through django-anymail's webhooks or IMAP polling.")

    def send_prepare(self, message: Message) -> dict[str, Any]:
        """The Message-ID, stored on the row before the first attempt (a re-send reuses it)."""
        if message.email_message_id:
            return {}
        return {"email_message_id": make_msgid(domain=settings.EMAIL_DOMAIN)}

    def send(self, message: Message, files: list[OutgoingFile]) -> SendResult:
        conversation = message.conversation
        inbox = message.inbox
        previous = (
            Message.objects.filter(conversation=conversation, direction=Direction.IN)
            .exclude(email_message_id="")
            .order_by("-created_at", "-id")
            .first()
        )
        if message.subject:
            subject = message.subject
        else:
            if previous is not None:
                subject = reply_subject(previous.subject or conversation.subject)
            else:
                subject = conversation.subject or inbox.name
            # A subject taken from the customer's mail is theirs to get wrong: one line of it.
            subject = " ".join(subject.split())
        # Ours, made once before the first attempt (send_prepare) and reused by every re-send, so
        # a retry after a lost answer is the same message to the receiving side, which keeps one.
        message_id = message.email_message_id or make_msgid(domain=settings.EMAIL_DOMAIN)
        domain = inbox.external_id.rsplit("@", 1)[-1]
        headers = {"Message-ID": message_id}
        if conversation.customer.language:  # RFC 3282: the language the reply is written in
            headers["Content-Language"] = conversation.customer.language
        in_reply_to, references = "", []
        body = message.text
        if previous is not None:
            in_reply_to = previous.email_message_id
            references = _references(previous)
            headers["In-Reply-To"] = in_reply_to
            headers["References"] = " ".join(references)
            who = conversation.customer.name or conversation.identity.display_name or conversation.identity.external_id
            # In the customer's language (the reply to them is written in it), when known.
            with translation.override(conversation.customer.language or translation.get_language()):
                body = f"{message.text}\n\n{_quote(previous, who)}\n"
        if message.sender_type != "agent":
            # RFC 3834: greetings and away notices must not set off the customer's own auto-replies.
            headers["Auto-Submitted"] = "auto-replied" if previous is not None else "auto-generated"
        # Campaigns add List-Unsubscribe (RFC 8058) and may name the sender; nothing else may be set.
        extra = (message.payload or {}).get("email_headers") or {}
        for name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
            if isinstance(extra.get(name), str):
                headers[name] = extra[name]
        sender_name = (message.payload or {}).get("email_from_name") or inbox.name
        email = EmailMessage(
            subject=subject,
            body=body,
            from_email=formataddr((str(sender_name), inbox.external_id)),
            to=[conversation.identity.external_id],
            reply_to=[f"{REPLY_PREFIX}{conversation.reply_token}@{domain}"],
            headers=headers,
            connection=get_connection(fail_silently=False),
        )
        for file in files:  # email carries the files themselves
            try:
                data = file.read()
            except OSError as exc:
                raise ProviderError(
                    reason="rejected", code="attachment_missing", detail="An attached file is no longer stored.", transient=False
                ) from exc
            if data is not None:
                email.attach(file.name or "attachment", data, file.content_type or None)
        try:
            # Every header is built here, whatever the backend: a line break in the subject or a
            # name raises BadHeaderError (a ValueError). Retrying cannot help, so it fails for good.
            email.message()
        except ValueError as exc:
            logger.warning("email message %s cannot be built: %s", message.pk, exc)
            raise ProviderError(
                reason="rejected", code="bad_header", detail=f"The email cannot be built: {exc}"[:500], transient=False
            ) from exc
        try:
            email.send()
        except (smtplib.SMTPException, OSError, AnymailError) as exc:
            error = _smtp_error(exc)
            logger.warning("email message %s not sent: %s", message.pk, error)
            raise error from exc
        return SendResult(
            external_id=message_id,
            fields={
                "email_message_id": message_id,
                "email_in_reply_to": in_reply_to,
                "email_references": " ".join(references),
                "subject": subject[:300],
            },
        )

