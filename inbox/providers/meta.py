"""Meta: Facebook Messenger and Instagram Direct, through one app's webhooks and the Send API.

Webhook bodies batch freely (several `entry`, several `messaging` items each) and Meta retries
until it gets a 200, so every item becomes its own stored event with a key that makes a replay
a no-op. `inbound_message` and `comment_normalise` read a stored event back; the intake side
(inbox/intake/meta.py) dispatches on the event kind with a dict of handlers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from inbox.models import Inbox, Message
from inbox.providers.base import (
    RECOVER_ECHO,
    RECOVER_RESEND,
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

# webhook `object` -> inbox kind
OBJECT_KINDS = {"page": "messenger", "instagram": "instagram"}
PLATFORMS = {"page": "facebook", "instagram": "instagram"}
OWN_METADATA_PREFIX = "inbox-message:"

# Meta attachment type -> a content type the UI can branch on (Meta does not send MIME types).
ATTACHMENT_CONTENT_TYPES = {
    "image": "image/*",
    "video": "video/*",
    "reel": "video/*",
    "ig_reel": "video/*",
    "audio": "audio/*",
    "file": "application/octet-stream",
}

# --- Send API error classification (https://developers.facebook.com/docs/messenger-platform/error-codes)
WINDOW_CODES = frozenset({10})
WINDOW_SUBCODES = frozenset({2018065, 2018278})
BLOCKED_CODES = frozenset({551})
BLOCKED_SUBCODES = frozenset({1545041})
# No matching user / the person cannot receive messages from this page any more.
INVALID_RECIPIENT_SUBCODES = frozenset({2018001})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80006}) | frozenset(range(80000, 80015))
RATE_LIMIT_SUBCODES = frozenset({2018022})
SERVER_CODES = frozenset({1, 2, 1200})
REJECTED_CODES = frozenset({100, 190, 200})


class _Skip(Exception):
    """An item this integration does not store (page likes, feed posts…)."""


# --- Small parsing helpers ------------------------------------------------------------------------


def ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _seconds(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def _id(value: Any, what: str) -> str:
    """Meta ids are strings, but some payloads carry them as numbers."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise BadPayload(f"{what} must be a non-empty id")
    return str(value)


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise BadPayload(f"{what} must be an object")
    return value


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise BadPayload(f"{what} must be an array")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadPayload(f"{what} must be an integer")
    return value


def digest(*parts: Any) -> str:
    """A short stable hash for key parts of unbounded length (postback payloads)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


# --- The provider ---------------------------------------------------------------------------------


class MetaProvider(Provider):
    name = "meta"

    # --- verify ---------------------------------------------------------------------------------
    def verify(self, request) -> None:
        secret = settings.META_APP_SECRET
        if not secret:
            raise SignatureInvalid("META_APP_SECRET is not configured")
        header = request.headers.get("X-Hub-Signature-256", "")
        if not header.startswith("sha256="):
            raise SignatureInvalid("X-Hub-Signature-256 missing")
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise SignatureInvalid("X-Hub-Signature-256 mismatch")

    # --- split ----------------------------------------------------------------------------------
    def split(self, request) -> list[RawEvent]:
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadPayload("body is not JSON") from exc
        body = _dict(body, "body")
        obj = body.get("object")
        if obj not in OBJECT_KINDS:
            raise BadPayload(f"unsupported object {obj!r}; expected page or instagram")
        timed: list[tuple[int, RawEvent]] = []
        for entry in _list(body.get("entry"), "entry"):
            entry = _dict(entry, "entry[]")
            entry_id = _id(entry.get("id"), "entry.id")
            # Standby items (another app owns the thread under handover) are still the customer's words.
            for field in ("messaging", "standby"):
                if field in entry:
                    for item in _list(entry[field], f"entry.{field}"):
                        self._collect(timed, self._messaging_event, obj, entry_id, entry, _dict(item, f"{field}[]"))
            if "changes" in entry:
                for change in _list(entry["changes"], "entry.changes"):
                    self._collect(timed, self._change_event, obj, entry_id, entry, _dict(change, "changes[]"))
        # Batches are not guaranteed to be in time order; processing follows Meta's timestamps.
        timed.sort(key=lambda pair: pair[0])
        return [event for _, event in timed]

    @staticmethod
    def _collect(timed, parse: Callable, obj: str, entry_id: str, entry: dict, item: dict) -> None:
        try:
            timed.append(parse(obj, entry_id, entry, item))
        except _Skip as skip:
            logger.info("meta %s item for %s not stored: %s", obj, entry_id, skip)

    def _messaging_event(self, obj: str, entry_id: str, entry: dict, item: dict) -> tuple[int, RawEvent]:
        sender = _id(_dict(item.get("sender"), "sender").get("id"), "sender.id")
        recipient = _id(_dict(item.get("recipient"), "recipient").get("id"), "recipient.id")
        timestamp = _int(item.get("timestamp"), "timestamp")
        payload = {"object": obj, "entry_id": entry_id, "item": item}

        def event(kind: str, key: str) -> tuple[int, RawEvent]:
            return timestamp, RawEvent(kind=kind, dedupe_key=key, payload=payload)

        if "message" in item:
            message = _dict(item["message"], "message")
            mid = _id(message.get("mid"), "message.mid")
            if message.get("is_deleted"):
                return event("unsend", f"unsend:{mid}")
            if not isinstance(message.get("text", ""), str):
                raise BadPayload("message.text must be a string")
            if "attachments" in message:
                for attachment in _list(message["attachments"], "message.attachments"):
                    _dict(attachment, "message.attachments[]")
            return event("echo" if message.get("is_echo") else "message", mid)
        if "message_edit" in item:
            edit = _dict(item["message_edit"], "message_edit")
            mid = _id(edit.get("mid"), "message_edit.mid")
            if not isinstance(edit.get("text", ""), str):
                raise BadPayload("message_edit.text must be a string")
            return event("edit", f"edit:{mid}:{edit.get('num_edit', timestamp)}")
        if "delivery" in item:
            delivery = _dict(item["delivery"], "delivery")
            watermark = _int(delivery.get("watermark"), "delivery.watermark")
            return event("delivery", f"delivery:{recipient}:{sender}:{watermark}")
        if "read" in item:
            read = _dict(item["read"], "read")
            if "watermark" in read:
                watermark = _int(read["watermark"], "read.watermark")
                return event("read", f"read:{recipient}:{sender}:{watermark}")
            # Instagram "seen" names the last message read instead of a watermark.
            return event("read", f"read:{_id(read.get('mid'), 'read.mid')}")
        if "reaction" in item:
            reaction = _dict(item["reaction"], "reaction")
            mid = _id(reaction.get("mid"), "reaction.mid")
            action = reaction.get("action", "react")
            if action not in ("react", "unreact"):
                raise BadPayload("reaction.action must be react or unreact")
            return event("reaction", f"reaction:{mid}:{sender}:{action}:{timestamp}")
        if "postback" in item:
            postback = _dict(item["postback"], "postback")
            if postback.get("mid"):
                return event("postback", f"postback:{_id(postback['mid'], 'postback.mid')}")
            return event("postback", f"postback:{sender}:{timestamp}:{digest(postback.get('payload'))}")
        if "referral" in item:
            _dict(item["referral"], "referral")
            return event("referral", f"referral:{recipient}:{sender}:{timestamp}")
        raise _Skip(f"messaging item with keys {sorted(item)}")

    def _change_event(self, obj: str, entry_id: str, entry: dict, change: dict) -> tuple[int, RawEvent]:
        field = change.get("field")
        value = _dict(change.get("value"), "changes[].value")
        if field == "feed":
            if value.get("item") != "comment":
                raise _Skip(f"feed item {value.get('item')!r}")
            comment_id = _id(value.get("comment_id"), "value.comment_id")
            verb = str(value.get("verb") or "add")
        elif field in ("comments", "live_comments"):
            comment_id = _id(value.get("id"), "value.id")
            verb = "add"
        else:
            raise _Skip(f"change field {field!r}")
        time = entry.get("time")
        seconds = value.get("created_time") if isinstance(value.get("created_time"), int) else time
        seconds = seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else 0
        key = f"comment:{comment_id}:{verb}"
        if verb == "edited":  # a comment may be edited many times; each edit is its own event
            key += f":{time}"
        payload = {"object": obj, "entry_id": entry_id, "entry_time": time, "field": field, "item": value}
        return seconds * 1000, RawEvent(kind="comment", dedupe_key=key, payload=payload)

    # --- send -----------------------------------------------------------------------------------
    def send(self, message: Message, files: list[OutgoingFile]) -> SendResult:
        if (message.payload or {}).get("comment_reply"):
            return self._send_comment_reply(message)
        inbox = message.inbox
        params = graph_auth_params(inbox)
        url = f"{settings.META_GRAPH_URL.rstrip('/')}/{graph_sender_id(inbox)}/messages"

        metadata = f"{OWN_METADATA_PREFIX}{message.pk}"
        # Meta takes text or one attachment per message: attachments go first, the text (with the
        # quick replies) last, and the last part's id is the message's. Each part's metadata names
        # the row, and the parts before the last their index too (`inbox-message:<pk>/<n>`), so
        # an echo of an attachment is never taken for the whole message.
        contents: list[dict[str, Any]] = [{"attachment": a} for a in _outgoing_attachments(files)]
        if message.text or not contents:
            text: dict[str, Any] = {"text": message.text}
            quick_replies = (message.payload or {}).get("quick_replies")
            if isinstance(quick_replies, list) and quick_replies:
                text["quick_replies"] = quick_replies
            contents.append(text)
        # Parts whose echo already came back (an earlier attempt was interrupted) are not sent again.
        delivered = (message.payload or {}).get("parts_delivered") or {}
        ids = []
        for index, content in enumerate(contents):
            last = index == len(contents) - 1
            if not last and isinstance(delivered.get(str(index)), str):
                ids.append(delivered[str(index)])
                continue
            body = self._body(message, {**content, "metadata": metadata if last else f"{metadata}/{index}"})
            ids.append(self._post(url, params, body))
        fields = {"payload": {**(message.payload or {}), "attachment_message_ids": ids[:-1]}} if len(ids) > 1 else {}
        return SendResult(external_id=ids[-1], fields=fields)

    def recovery(self, message: Message) -> str:
        """Send API messages carry our metadata and come back as echoes naming the row
        (inbox/conversations/receive.py settles it): wait for the echo before sending again.
        Comment replies carry none; a private reply is refused by Meta a second time (one per
        comment), a public one would be repeated."""
        if (message.payload or {}).get("comment_reply"):
            return RECOVER_RESEND
        return RECOVER_ECHO

    @staticmethod
    def _send_comment_reply(message: Message) -> SendResult:
        """A reply from a comment thread: under the comment, or one private message to its author."""
        payload = message.payload or {}
        comment_id = str(payload.get("comment_id") or "")
        if not comment_id:
            raise ProviderError(reason="rejected", code="no_comment", detail="The reply names no comment.", transient=False)
        if payload["comment_reply"] == "private":
            external_id = private_reply(inbox=message.inbox, comment_id=comment_id, text=message.text)
        else:
            external_id = public_reply(inbox=message.inbox, comment_id=comment_id, text=message.text)
        return SendResult(external_id=external_id)

    @staticmethod
    def _body(message: Message, content: dict) -> dict:
        body: dict[str, Any] = {
            "recipient": {"id": message.conversation.identity.external_id},
            "messaging_type": message.messaging_type or "RESPONSE",
            "message": content,
        }
        if message.tag:
            body["tag"] = message.tag
        return body

    @staticmethod
    def _post(url: str, params: dict, body: dict) -> str:
        status, data = graph_call("POST", url, params=params, json=body)
        if status < 300 and isinstance(data, dict) and data.get("message_id"):
            return str(data["message_id"])
        raise error_classify(status=status, data=data)


def graph_call(method: str, url: str, *, params: dict, json: dict | None = None) -> tuple[int, Any]:
    """One Graph API request: (status, decoded JSON body or None). Timeouts and unreachable hosts
    are transient ProviderErrors; what the status means is the caller's to judge."""
    timeout = settings.PROVIDER_HTTP_TIMEOUT
    try:
        response = requests.request(method, url, params=params, json=json, timeout=timeout)
    except requests.Timeout:
        # Never put the exception text in the detail: it quotes the URL, token included.
        raise ProviderError(reason="timeout", code="timeout", detail=f"No answer from the Graph API in {timeout}s.", transient=True) from None
    except requests.RequestException as exc:
        raise ProviderError(
            reason="timeout", code="connection", detail=f"Could not reach the Graph API ({type(exc).__name__}).", transient=True
        ) from None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def graph_sender_id(inbox: Inbox) -> str:
    """Whom the Send API posts as. Instagram messaging through a Page token posts to the linked Page
    (Meta's docs); an inbox may name another sender id (e.g. the IG account for Instagram Login apps)."""
    credentials = inbox.credentials or {}
    return credentials.get("send_as_id") or credentials.get("page_id") or inbox.external_id


def graph_auth_params(inbox: Inbox) -> dict[str, str]:
    """The query parameters that authenticate a Graph call as the inbox's page: its token (from the
    encrypted credentials) and, when the app secret is known, the appsecret_proof Meta may require."""
    token = (inbox.credentials or {}).get("page_access_token")
    if not token:
        raise ProviderError(reason="rejected", code="no_token", detail="The inbox has no page access token.", transient=False)
    params = {"access_token": token}
    if settings.META_APP_SECRET:
        params["appsecret_proof"] = hmac.new(settings.META_APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()
    return params


def error_classify(*, status: int, data: Any) -> ProviderError:
    """Turn a Graph API error answer into a ProviderError that says whether to retry."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        if status < 300:
            # Accepted without an id: retrying could send twice, so it is not retried.
            return ProviderError(reason="rejected", code=str(status), detail="The Graph API answered without a message_id.", transient=False)
        if status == 429:
            return ProviderError(reason="rate_limited", code="429", detail="Too many requests.", transient=True)
        if status >= 500:
            return ProviderError(reason="server_error", code=str(status), detail=f"Graph API HTTP {status}.", transient=True)
        return ProviderError(reason="rejected", code=str(status), detail=f"Graph API HTTP {status}.", transient=False)
    code = error.get("code")
    subcode = error.get("error_subcode")
    code = code if isinstance(code, int) else -1
    subcode = subcode if isinstance(subcode, int) else None
    detail = str(error.get("message") or "")
    if subcode is not None:
        detail += f" (subcode {subcode})"

    def failed(reason: str, transient: bool) -> ProviderError:
        return ProviderError(reason=reason, code=str(code if code != -1 else status), detail=detail, transient=transient)

    if code in WINDOW_CODES or subcode in WINDOW_SUBCODES:
        return failed("window_closed", False)
    if code in BLOCKED_CODES or subcode in BLOCKED_SUBCODES:
        return failed("blocked", False)
    if subcode in INVALID_RECIPIENT_SUBCODES:
        return failed("invalid_recipient", False)
    if code in RATE_LIMIT_CODES or subcode in RATE_LIMIT_SUBCODES:
        return failed("rate_limited", True)
    if code in SERVER_CODES or status >= 500 or error.get("is_transient") is True:
        return failed("server_error", True)
    if code in REJECTED_CODES:
        return failed("rejected", False)
    return failed("rejected", False)


# --- Comments: a public reply under a comment, a private reply to its author -----------------------
# Same error classification as the Send API; answers are `{"id"}` for a public reply and
# `{"recipient_id", "message_id"}` for a private one.


def _comment_post(url: str, params: dict, body: dict, id_key: str) -> str:
    status, data = graph_call("POST", url, params=params, json=body)
    if status < 300 and isinstance(data, dict) and data.get(id_key):
        return str(data[id_key])
    raise error_classify(status=status, data=data)


def public_reply(*, inbox: Inbox, comment_id: str, text: str) -> str:
    """Reply under the comment: /{comment_id}/comments on Facebook, /{comment_id}/replies on Instagram."""
    graph = settings.META_GRAPH_URL.rstrip("/")
    edge = "replies" if inbox.kind == "instagram" else "comments"
    return _comment_post(f"{graph}/{comment_id}/{edge}", graph_auth_params(inbox), {"message": text}, "id")


def private_reply(*, inbox: Inbox, comment_id: str, text: str) -> str:
    """One message to the commenter, addressed by the comment (Meta allows one, within 7 days)."""
    graph = settings.META_GRAPH_URL.rstrip("/")
    body = {"recipient": {"comment_id": comment_id}, "message": {"text": text}}
    return _comment_post(f"{graph}/{graph_sender_id(inbox)}/messages", graph_auth_params(inbox), body, "message_id")


# --- Reading stored events back -------------------------------------------------------------------


def _own_metadata(metadata: Any) -> tuple[int, int | None] | None:
    """(row id, part index or None for the last part) from `inbox-message:<pk>[/<n>]`."""
    if not isinstance(metadata, str) or not metadata.startswith(OWN_METADATA_PREFIX):
        return None
    pk, _, part = metadata[len(OWN_METADATA_PREFIX):].partition("/")
    if not pk.isdigit() or (part and not part.isdigit()):
        return None
    return int(pk), (int(part) if part else None)


def own_message_id(metadata: Any) -> int | None:
    """The id of our own row a Send API message carries as `metadata` (its echo names it)."""
    own = _own_metadata(metadata)
    return own[0] if own else None


def own_message_part(metadata: Any) -> int | None:
    """Which attachment sent ahead of the text an echo is (None: the message's last part)."""
    own = _own_metadata(metadata)
    return own[1] if own else None


def inbound_message(kind: str, *, inbox_kind: str, inbox_external_id: str, payload: dict) -> InboundMessage:
    """A stored `message`, `echo` or `postback` event as the inbox stores it."""
    item = payload["item"]
    sender = str(item["sender"]["id"])
    common: dict[str, Any] = {
        "channel": inbox_kind,
        "inbox_external_id": inbox_external_id,
        "timestamp": ms(item["timestamp"]),
    }
    if kind == "postback":
        postback = item["postback"]
        extra: dict[str, Any] = {"postback": {"title": postback.get("title", ""), "payload": postback.get("payload")}}
        if postback.get("referral"):
            extra["referral"] = postback["referral"]
        external_id = str(postback.get("mid") or f"postback:{sender}:{item['timestamp']}:{digest(postback.get('payload'))}")
        return InboundMessage(
            **common, customer_external_id=sender, external_id=external_id, text=str(postback.get("title") or ""), payload=extra
        )
    message = item["message"]
    common.update(
        external_id=str(message["mid"]),
        text=message.get("text") or "",
        attachments=attachments_parse(message.get("attachments") or []),
    )
    if kind == "echo":
        # An echo goes from the business to the customer: the customer is the recipient.
        return InboundMessage(
            **common,
            customer_external_id=str(item["recipient"]["id"]),
            is_echo=True,
            is_customer_action=False,
            payload={"metadata": message.get("metadata", ""), "app_id": message.get("app_id")},
            own_message_id=own_message_id(message.get("metadata")),
            own_message_part=own_message_part(message.get("metadata")),
        )
    extra = {k: v for k, v in message.items() if k not in ("mid", "text", "attachments", "is_echo")}
    if "referral" in item:  # the ad or link the conversation started from
        extra["referral"] = item["referral"]
    return InboundMessage(**common, customer_external_id=sender, payload=extra)


def inbox_kind_of(payload: dict) -> str | None:
    """The inbox kind (messenger/instagram) of a stored event's webhook `object`."""
    return OBJECT_KINDS.get(payload.get("object") or "")



def attachments_parse(raw: list) -> list[dict[str, Any]]:
    attachments = []
    for attachment in raw:
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type") or "")
        body = attachment["payload"] if isinstance(attachment.get("payload"), dict) else {}
        stored: dict[str, Any] = {
            "url": str(body.get("url") or ""),
            "content_type": ATTACHMENT_CONTENT_TYPES.get(kind, ""),
            "type": kind,
        }
        if attachment.get("title"):
            stored["name"] = str(attachment["title"])
        if body.get("sticker_id"):
            stored["sticker_id"] = body["sticker_id"]
        if isinstance(body.get("coordinates"), dict):
            stored["coordinates"] = body["coordinates"]
        attachments.append(stored)
    return attachments


def _outgoing_attachments(files: list[OutgoingFile]) -> list[dict[str, Any]]:
    out = []
    for file in files:
        if not file.url:
            continue
        kind = next((k for k in ("image", "video", "audio") if file.content_type.startswith(k)), "file")
        out.append({"type": kind, "payload": {"url": file.url, "is_reusable": True}})
    return out


def comment_normalise(payload: dict, *, inbox: Inbox) -> dict[str, Any]:
    """A Facebook feed comment or an Instagram comment, in one shape for the campaigns app."""
    value = payload["item"]
    sender = value.get("from") if isinstance(value.get("from"), dict) else {}
    from_id = str(sender.get("id") or "")
    if payload.get("field") == "feed":
        created = value.get("created_time") if isinstance(value.get("created_time"), int) else payload.get("entry_time")
        comment: dict[str, Any] = {
            "id": str(value.get("comment_id")),
            "post_id": str(value.get("post_id") or ""),
            "media_id": "",
            "from_name": str(sender.get("name") or ""),
            "text": str(value.get("message") or ""),
            "verb": str(value.get("verb") or "add"),
        }
        post = value.get("post") if isinstance(value.get("post"), dict) else {}
        if post.get("permalink_url"):
            comment["permalink"] = str(post["permalink_url"])
    else:
        created = payload.get("entry_time")
        media = value.get("media") if isinstance(value.get("media"), dict) else {}
        comment = {
            "id": str(value.get("id")),
            "post_id": "",
            "media_id": str(media.get("id") or ""),
            "media_product_type": str(media.get("media_product_type") or ""),
            "from_name": str(sender.get("username") or ""),
            "text": str(value.get("text") or ""),
            "verb": "add",
        }
    parent = value.get("parent_id")
    comment.update(
        {
            "from_id": from_id,
            "created_time": _seconds(created) if isinstance(created, int) else timezone.now(),
            # Facebook sets parent_id to the post for top-level comments; only a comment parent is a reply.
            "parent_id": str(parent) if parent and parent != value.get("post_id") else "",
            "platform": PLATFORMS[payload["object"]],
            "field": payload.get("field"),
            "live": payload.get("field") == "live_comments",
            # The page's own comments (its replies) must never trigger automation.
            "from_self": from_id in {inbox.external_id, str((inbox.credentials or {}).get("page_id") or "")},
        }
    )
    return comment
