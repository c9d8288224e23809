"""Twilio Programmable Messaging: inbound SMS/MMS, status callbacks, outbound sends.

Both webhooks are form-encoded and signed with X-Twilio-Signature over the URL Twilio called
(our PUBLIC_BASE_URL, not whatever host a proxy hands us) plus the POST parameters.

A request that is correctly signed but names another AccountSid is refused as BadPayload (400),
not SignatureInvalid: the signature proves it came from someone holding our token, so it is a
misrouted or malformed request rather than a forgery, and the log should say so.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from customers.services import phone_normalise
from inbox import sms
from inbox.models import Message, MessageStatus
from inbox.providers.base import (
    RECOVER_LOOKUP,
    BadPayload,
    InboundMessage,
    OutgoingFile,
    Provider,
    ProviderError,
    RawEvent,
    SendResult,
    SignatureInvalid,
)

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
MAX_MEDIA = 10  # Twilio's MMS limit
SEND_TIMEOUT = (5, 20)  # connect, read (seconds)
# Looking for a send whose answer was lost (find_sent).
LOOKUP_PAGE_SIZE = 50
LOOKUP_MAX_PAGES = 5
LOOKUP_CLOCK_SKEW = timedelta(minutes=5)

# Twilio handles these itself (it blocks or unblocks the number); we mirror them as consent.
OPT_OUT_KEYWORDS = frozenset({"STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "CANCEL"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# Callback statuses that say nothing our status field does not already hold.
IGNORED_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "canceled", "receiving", "received"})
STATUS_MAP = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
    "undelivered": MessageStatus.FAILED,
}

# Delivery errors agents meet most, in words they can act on.
ERROR_TEXT = {
    "21610": "The recipient opted out (replied STOP); Twilio blocks messages to them until they reply START.",
    "30003": "Unreachable destination handset: the phone is off or out of coverage.",
    "30004": "Message blocked by the recipient or their carrier.",
    "30005": "Unknown destination handset: the number does not exist or is no longer in service.",
    "30006": "Landline or unreachable carrier: this number cannot receive SMS.",
    "30007": "Message filtered by the carrier as spam or unregistered traffic.",
    "30008": "Unknown delivery error reported by the carrier.",
}

# REST errors (https://www.twilio.com/docs/api/errors) -> the inbox's reasons.
PERMANENT_ERRORS = {
    "21610": "opted_out",
    "21211": "invalid_recipient",
    "21614": "invalid_recipient",
    "21217": "invalid_recipient",
    "21408": "rejected",
    "21606": "rejected",
    "21612": "rejected",
}
RATE_LIMITED = "20429"

# Status callbacks for a message we have not committed yet (its send is still in flight) are
# retried by the sweeper this many times before being dropped as someone else's message.
STATUS_LOOKUP_ATTEMPTS = 3


class MessageNotYetKnown(Exception):
    """A status callback raced our own send: leave the event for the sweeper."""


def keyword_of(body: str) -> str:
    word = body.strip().upper()
    return word if word and " " not in word and "\n" not in word else ""


class TwilioProvider(Provider):
    name = "twilio"

    # --- Webhooks -------------------------------------------------------------------------------

    def verify(self, request: HttpRequest) -> None:
        token = settings.TWILIO_AUTH_TOKEN
        if not token or not settings.TWILIO_ACCOUNT_SID:
            raise SignatureInvalid("Twilio is not configured (TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            raise SignatureInvalid("missing X-Twilio-Signature")
        # Twilio signed the public URL it called; behind a proxy request.build_absolute_uri() differs.
        url = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
        # The validator compares in constant time and tries the URL with and without the port.
        if not RequestValidator(token).validate(url, request.POST, signature):
            raise SignatureInvalid(f"X-Twilio-Signature does not match {url}")

    def split(self, request: HttpRequest) -> list[RawEvent]:
        params: dict[str, str] = {key: request.POST.get(key, "") for key in request.POST}
        sid = params.get("MessageSid", "")
        if not SID_RE.match(sid):
            raise BadPayload("MessageSid missing or malformed")
        account = params.get("AccountSid", "")
        if account != settings.TWILIO_ACCOUNT_SID:
            raise BadPayload(f"AccountSid {account!r} is not this account's")
        if self._is_status_callback(request, params):
            status = params.get("MessageStatus", "")
            if not status:
                raise BadPayload("MessageStatus missing")
            return [RawEvent(kind="status", dedupe_key=f"{sid}:{status}", payload=params)]
        if not params.get("To"):
            raise BadPayload("To missing")
        try:
            # The sender becomes an E.164 identity; the receiving number may be a short code.
            phone_normalise(params.get("From", ""))
        except ValidationError as exc:
            raise BadPayload("From is not a phone number") from exc
        try:
            num_media = int(params.get("NumMedia") or 0)
        except ValueError as exc:
            raise BadPayload("NumMedia is not a number") from exc
        if not 0 <= num_media <= MAX_MEDIA:
            raise BadPayload("NumMedia out of range")
        return [RawEvent(kind="sms", dedupe_key=sid, payload=params)]

    @staticmethod
    def _is_status_callback(request: HttpRequest, params: dict[str, str]) -> bool:
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name:
            return match.url_name == "webhook-twilio-status"
        return "MessageStatus" in params

    # --- Sending --------------------------------------------------------------------------------

    def send(self, message: Message, files: list[OutgoingFile]) -> SendResult:
        account, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not account or not token:
            raise ProviderError(reason="rejected", code="not_configured", detail="Twilio is not configured.", transient=False)
        url = f"{settings.TWILIO_API_URL.rstrip('/')}/{API_VERSION}/Accounts/{account}/Messages.json"
        inbox = message.inbox
        media = [f.url for f in files if f.url]  # our uploads: signed URLs
        form: list[tuple[str, str]] = [("To", message.conversation.identity.external_id)]
        service = (inbox.credentials or {}).get("messaging_service_sid")
        form.append(("MessagingServiceSid", service) if service else ("From", inbox.external_id))
        if message.text:
            form.append(("Body", message.text))
        form += [("MediaUrl", u) for u in media]
        form.append(("StatusCallback", settings.PUBLIC_BASE_URL.rstrip("/") + "/webhooks/twilio/status/"))
        try:
            response = requests.post(url, data=form, auth=(account, token), timeout=SEND_TIMEOUT)
        except requests.Timeout as exc:
            raise ProviderError(reason="timeout", code="timeout", detail=str(exc), transient=True) from exc
        except requests.RequestException as exc:
            raise ProviderError(reason="timeout", code="connection", detail=str(exc), transient=True) from exc
        if response.status_code >= 300:
            raise _send_error(response)
        sid = _json(response).get("sid")
        if not isinstance(sid, str) or not sid:
            # Twilio may have queued it: a retry could text the customer twice, so do not retry.
            raise ProviderError(
                reason="server_error", code=str(response.status_code), detail="Twilio answered without a sid.", transient=False
            )
        info = sms.segments(message.text or "")
        # An MMS is one message whatever its text; an SMS costs one message per segment.
        return SendResult(external_id=sid, fields={"segments": 1 if media else info.segments, "encoding": info.encoding})


    # --- Finding a send whose answer we never recorded ---------------------------------------------

    def recovery(self, message: Message) -> str:
        return RECOVER_LOOKUP

    def find_sent(self, message: Message, *, since: datetime) -> list[SendResult]:
        """Our account's messages to this number created since `since`, that are this one (same
        sender, recipient and body), newest first. Twilio takes no idempotency key, so this is how
        a send interrupted after Twilio took it is adopted instead of texting the customer twice.

        Twilio's list API: `GET /2010-04-01/Accounts/{AccountSid}/Messages.json?To=…&From=…&PageSize=…`
        answers a page, newest first:
            {"messages": [{"sid": "SM…", "to": "+1…", "from": "+1…", "body": "…", "status": "queued",
                           "direction": "outbound-api", "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
                           "date_sent": null, "messaging_service_sid": null, "num_media": "0",
                           "num_segments": "1", …}, …],
             "next_page_uri": "/2010-04-01/Accounts/AC…/Messages.json?…&PageToken=PA…" or null,
             "page": 0, "page_size": 50, "uri": "…", "first_page_uri": "…", "previous_page_uri": null,
             "start": 0, "end": 49}
        (a sample page is tests/fixtures/twilio/messages_list.json). We do not filter on
        `DateSent>=`: a message Twilio still holds as queued has no date_sent yet and would be
        missed; pages are read, newest first, until `date_created` is older than `since` (less a
        few minutes for clock skew), at most LOOKUP_MAX_PAGES of them.
        """
        account, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not account or not token:
            raise ProviderError(reason="rejected", code="not_configured", detail="Twilio is not configured.", transient=False)
        base = settings.TWILIO_API_URL.rstrip("/")
        to = message.conversation.identity.external_id
        service = (message.inbox.credentials or {}).get("messaging_service_sid")
        sender = "" if service else message.inbox.external_id
        first: dict[str, str] = {"To": to, "PageSize": str(LOOKUP_PAGE_SIZE)}
        if sender:
            first["From"] = sender
        params: dict[str, str] | None = first
        url = f"{base}/{API_VERSION}/Accounts/{account}/Messages.json"
        oldest = since - LOOKUP_CLOCK_SKEW
        body = message.text or ""
        found: list[SendResult] = []
        for _page in range(LOOKUP_MAX_PAGES):
            page = _list_page(url, params=params, auth=(account, token))
            items = page.get("messages")
            if not isinstance(items, list):
                raise ProviderError(reason="server_error", code="bad_list", detail="Twilio's list had no messages.", transient=True)
            reached_older = False
            for item in items:
                if not isinstance(item, dict):
                    continue
                created = _rfc2822(item.get("date_created"))
                if created is not None and created < oldest:
                    reached_older = True
                    continue
                if _is_this_send(item, to=to, sender=sender, service=service, body=body):
                    found.append(_adopted(item, body))
            next_uri = page.get("next_page_uri")
            # A path on our configured API base, never anything that could name another host.
            if reached_older or not isinstance(next_uri, str) or not next_uri.startswith("/") or next_uri.startswith("//"):
                break
            url, params = base + next_uri, None  # the next page's URI carries the filters
        return found


def _list_page(url: str, *, params: dict[str, str] | None, auth: tuple[str, str]) -> dict[str, Any]:
    try:
        response = requests.get(url, params=params, auth=auth, timeout=SEND_TIMEOUT)
    except requests.Timeout as exc:
        raise ProviderError(reason="timeout", code="timeout", detail="Twilio's list API did not answer.", transient=True) from exc
    except requests.RequestException as exc:
        raise ProviderError(reason="timeout", code="connection", detail="Could not reach Twilio's list API.", transient=True) from exc
    if response.status_code >= 300:
        error = _send_error(response)
        # Whatever Twilio says about a list, the send itself was not refused: look again later.
        raise ProviderError(reason="server_error", code=error.code, detail=error.detail, transient=True)
    return _json(response)


def _rfc2822(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _is_this_send(item: dict[str, Any], *, to: str, sender: str, service: str | None, body: str) -> bool:
    if not str(item.get("direction") or "").startswith("outbound") or not SID_RE.match(str(item.get("sid") or "")):
        return False
    if item.get("to") != to or (item.get("body") or "") != body:
        return False
    if service:
        return item.get("messaging_service_sid") == service
    return item.get("from") == sender


def _adopted(item: dict[str, Any], body: str) -> SendResult:
    info = sms.segments(body)
    try:
        media = int(item.get("num_media") or 0)
    except (TypeError, ValueError):
        media = 0
    return SendResult(
        external_id=str(item.get("sid") or ""),
        fields={"segments": 1 if media else info.segments, "encoding": info.encoding},
    )


def inbound_message(p: dict[str, str], *, inbox_external_id: str) -> InboundMessage:
    """A stored inbound SMS/MMS event as the inbox stores it."""
    body = p.get("Body", "")
    keyword = keyword_of(body)
    known = keyword in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | HELP_KEYWORDS
    try:
        num_segments = int(p.get("NumSegments") or 0) or None
    except ValueError:
        num_segments = None
    return InboundMessage(
        channel="sms",
        inbox_external_id=inbox_external_id,
        customer_external_id=p["From"],
        external_id=p["MessageSid"],
        timestamp=timezone.now(),  # Twilio sends no timestamp with inbound messages
        text=body,
        attachments=media_parse(p),
        payload={"keyword": keyword} if known else {},
        segments=num_segments,
        encoding=sms.segments(body).encoding if body else "",
    )


def status_parse(p: dict[str, str]) -> tuple[str, str, str] | None:
    """A status callback as (our status, error code, error text for agents); None when it says nothing new."""
    twilio_status = p["MessageStatus"]
    status = STATUS_MAP.get(twilio_status)
    if status is None:
        if twilio_status not in IGNORED_STATUSES:
            logger.warning("twilio: unknown status %r for %s ignored", twilio_status, p["MessageSid"])
        return None
    if status != MessageStatus.FAILED:
        return status, "", ""
    code = p.get("ErrorCode", "")
    detail = ERROR_TEXT.get(code) or p.get("ErrorMessage") or f"Twilio reported {twilio_status} ({code or 'no code'})."
    return status, code, detail


def media_parse(p: dict[str, str]) -> list[dict[str, Any]]:
    try:
        count = min(int(p.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        return []
    attachments = []
    for n in range(count):
        url = p.get(f"MediaUrl{n}")
        if url:
            attachments.append({"url": url, "content_type": p.get(f"MediaContentType{n}", "")})
    return attachments


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _send_error(response: requests.Response) -> ProviderError:
    """Twilio's REST error `{code, message, more_info, status}` -> a ProviderError."""
    body = _json(response)
    code = str(body.get("code") or response.status_code)
    detail = str(body.get("message") or response.reason or "")
    if response.status_code == 429 or code == RATE_LIMITED:
        return ProviderError(reason="rate_limited", code=code, detail=detail, transient=True)
    if response.status_code >= 500:
        return ProviderError(reason="server_error", code=code, detail=detail, transient=True)
    reason = PERMANENT_ERRORS.get(code, "rejected")
    return ProviderError(reason=reason, code=code, detail=detail, transient=False)
