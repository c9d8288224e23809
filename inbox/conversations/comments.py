"""Facebook Page and Instagram comments as conversations, and the rules for answering them.

Each person's comments under one post (or Instagram media) form one thread, apart from their
direct-message thread: `Conversation.thread_key == "comments:<post id>"`. Every comment is an
inbound message whose external id is the comment id, so a replayed webhook stores nothing twice.

An agent answers a comment thread publicly (a reply under the comment; no messaging window) or
privately (one Messenger/Instagram message per comment, within 7 days of it). Such a reply is
an ordinary outbound message carrying `payload.comment_reply` (public|private) and
`payload.comment_id`; `reply_send` asks `comment_reply_prepare` instead of the DM window policy,
and the Meta provider sends it (`providers.meta.public_reply` / `private_reply`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from customers.services import identity_resolve
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.receive import message_receive
from inbox.conversations.threads import conversation_for_identity
from inbox.conversations.window import private_reply_open
from inbox.models import COMMENT_THREAD_PREFIX, Conversation, Direction, Inbox, Message, MessageStatus, SenderType
from inbox.providers import meta
from inbox.providers.base import InboundMessage, ProviderError
from inbox.realtime import publish as realtime

logger = logging.getLogger(__name__)

PUBLIC, PRIVATE = "public", "private"
COMMENT_REPLY_MODES = (PUBLIC, PRIVATE)


class _Refused(Exception):
    pass


def comment_thread_key(*, post_id: str) -> str:
    return f"{COMMENT_THREAD_PREFIX}{post_id}"[:200]


def _post_of(comment: dict) -> str:
    return str(comment.get("post_id") or comment.get("media_id") or "")


# --- Inbound -------------------------------------------------------------------------------------


def comment_receive(*, inbox: Inbox, comment: dict) -> Message | None:
    """Store a comment (normalised by `providers.meta.comment_normalise`) in its thread.

    New comments become inbound messages, edits change the text (keeping the old one), removals
    mark the message deleted. The page's own comments (its public replies) are not stored here:
    replies sent from the inbox already are, and without metadata an echo can't be told from them.
    Live comments are also published to the inbox's live view. Returns the new message, if any.
    """
    post_id = _post_of(comment)
    if comment.get("from_self") or not comment.get("from_id") or not post_id or not comment.get("id"):
        return None
    verb = comment.get("verb") or "add"
    if verb == "edited":
        _comment_edit(inbox=inbox, comment=comment)
        return None
    if verb == "remove":
        _comment_remove(inbox=inbox, comment=comment)
        return None
    if verb != "add":
        logger.info("comment %s: verb %r not stored", comment.get("id"), verb)
        return None
    identity = identity_resolve(
        channel=inbox.kind, scope=inbox.external_id, external_id=str(comment["from_id"]),
        display_name=str(comment.get("from_name") or ""),
    ).identity
    conversation = conversation_for_identity(inbox=inbox, identity=identity, thread_key=comment_thread_key(post_id=post_id))
    created = comment.get("created_time")
    at = created if isinstance(created, datetime) else timezone.now()
    message = message_receive(
        inbox=inbox,
        conversation=conversation,
        incoming=InboundMessage(
            channel=inbox.kind,
            inbox_external_id=inbox.external_id,
            customer_external_id=str(comment["from_id"]),
            external_id=str(comment["id"]),
            timestamp=at,
            text=str(comment.get("text") or ""),
            customer_name=str(comment.get("from_name") or ""),
            # A comment does not open the DM window; its own rules are in comment_reply_prepare.
            is_customer_action=False,
            payload=_message_payload(comment),
        ),
    )
    if message is not None and comment.get("live"):
        realtime.publish([f"inbox-{inbox.pk}"], live_frame(inbox=inbox, conversation=conversation, message=message, comment=comment))
    return message


def _message_payload(comment: dict) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "comment_id": str(comment["id"]),
        "parent_id": str(comment.get("parent_id") or ""),
        "platform": comment.get("platform") or "",
    }
    if comment.get("media_id"):
        payload["media_id"] = str(comment["media_id"])
    else:
        payload["post_id"] = str(comment.get("post_id") or "")
    if comment.get("permalink"):
        payload["permalink"] = str(comment["permalink"])
    if comment.get("live"):
        payload["live"] = True
    return payload


def live_frame(*, inbox: Inbox, conversation: Conversation, message: Message, comment: dict) -> dict:
    return {
        "type": "comment.live",
        "inbox": inbox.pk,
        "conversation": conversation.pk,
        "message": message.pk,
        "comment": {
            "id": str(comment["id"]),
            "text": message.text,
            "from": {"id": str(comment.get("from_id") or ""), "name": str(comment.get("from_name") or "")},
            "post_id": _post_of(comment),
            "platform": comment.get("platform") or "",
            "created_at": message.created_at.isoformat(),
        },
    }


def _comment_edit(*, inbox: Inbox, comment: dict) -> None:
    message = (
        Message.objects.select_for_update()
        .filter(inbox=inbox, external_id=str(comment["id"]), direction=Direction.IN)
        .first()
    )
    text = str(comment.get("text") or "")
    if message is None or message.text == text:
        return
    # The text an agent may already have answered stays on record.
    edits = list((message.payload or {}).get("edits") or [])
    edits.append({"previous_text": message.text, "at": timezone.now().isoformat()})
    message.payload = {**(message.payload or {}), "edits": edits}
    message.text = text
    message.save(update_fields=["payload", "text"])
    realtime.message_changed(message, "message.updated")


def _comment_remove(*, inbox: Inbox, comment: dict) -> None:
    message = (
        Message.objects.select_for_update()
        .filter(inbox=inbox, external_id=str(comment["id"]), direction=Direction.IN, deleted_at=None)
        .first()
    )
    if message is not None:
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
        realtime.message_changed(message, "message.updated")


# --- Outbound ------------------------------------------------------------------------------------


def comment_reply_prepare(
    *, conversation: Conversation, payload: dict | None, tag: str | None, attachments, sender_type: str, now: datetime
) -> dict:
    """The payload of a reply in a comment thread, or ReplyRefused.

    Runs inside reply_send under the conversation's row lock, so two agents' private replies to
    the same comment are ordered and the second one is refused.
    """
    payload = dict(payload or {})
    mode = payload.get("comment_reply")
    if not conversation.is_comment_thread:
        raise ReplyRefused("invalid", _("comment_reply is only for comment threads."), 400)
    if not mode:
        if sender_type != SenderType.AGENT:
            # Automation (greetings, away, campaigns) never answers comments by accident.
            raise ReplyRefused("window_closed", _("Automated messages are not sent in comment threads."), 409)
        mode = PUBLIC
    if mode not in COMMENT_REPLY_MODES:
        raise ReplyRefused("invalid", _("comment_reply must be public or private."), 400)
    if tag:
        raise ReplyRefused("invalid_tag", _("Comment replies take no message tag."), 400)
    if attachments:
        raise ReplyRefused("invalid", _("Comment replies are text only."), 400)
    comments = Message.objects.filter(conversation=conversation, direction=Direction.IN, is_private=False)
    if payload.get("comment_id"):
        target = comments.filter(external_id=str(payload["comment_id"])).first()
        if target is None:
            raise ReplyRefused("invalid", _("No such comment in this thread."), 400)
    else:
        target = comments.filter(deleted_at=None).order_by("-created_at", "-id").first()
        if target is None:
            raise ReplyRefused("invalid", _("This thread has no comment to answer."), 400)
    if target.deleted_at is not None:
        raise ReplyRefused("invalid", _("The comment was removed."), 400)
    if mode == PRIVATE:
        if not private_reply_open(comment_at=target.created_at, now=now):
            raise ReplyRefused(
                "window_closed",
                _("A private reply is possible only within 7 days of the comment; reply publicly instead."),
                409,
            )
        if private_reply_exists(inbox_id=conversation.inbox_id, comment_id=target.external_id):
            raise ReplyRefused("already_replied", _("This comment already got its one private reply."), 409)
    return {**payload, "comment_reply": mode, "comment_id": target.external_id}


def private_reply_exists(*, inbox_id: int, comment_id: str | None) -> bool:
    """Meta allows one private reply per comment: whoever sent it (agent or auto-responder)."""
    return (
        Message.objects.filter(
            inbox_id=inbox_id, direction=Direction.OUT, payload__comment_reply=PRIVATE, payload__comment_id=comment_id
        )
        .exclude(status=MessageStatus.FAILED)
        .exists()
    )


def comment_reply_record(*, inbox: Inbox, comment_id: str, mode: str, text: str, external_id: str) -> Message | None:
    """A reply sent outside reply_send (the auto-responder), kept in the comment's thread so
    agents see it and a second private reply is refused."""
    comment = (
        Message.objects.select_related("conversation")
        .filter(inbox=inbox, external_id=comment_id, direction=Direction.IN)
        .first()
    )
    if comment is None or not external_id:
        return None
    if Message.objects.filter(inbox=inbox, external_id=external_id).exists():
        return None
    now = timezone.now()
    message = Message.objects.create(
        conversation=comment.conversation,
        inbox=inbox,
        direction=Direction.OUT,
        sender_type=SenderType.BOT,
        text=text,
        external_id=external_id,
        status=MessageStatus.SENT,
        payload={"comment_reply": mode, "comment_id": comment_id, "automated": True},
        created_at=now,
        sent_at=now,
    )
    realtime.message_changed(message, "message.created")
    return message


def comment_reply_now(*, inbox: Inbox, comment_id: str, mode: str, text: str) -> tuple[str, str]:
    """Answer a comment at once, outside reply_send (the auto-responder): (the reply's id, "") or
    ("", what the provider refused). The caller records it with comment_reply_record."""
    send = meta.private_reply if mode == PRIVATE else meta.public_reply
    try:
        return send(inbox=inbox, comment_id=comment_id, text=text), ""
    except ProviderError as exc:
        return "", f"{mode}: {exc.reason} {exc.code} {exc.detail}"
