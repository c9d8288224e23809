"""Meta's stored events (Messenger and Instagram) handed to the conversation services.

One handler per event kind (Zulip's webhook views dispatch the same way); an unknown kind is
logged and acknowledged. The provider module (inbox/providers/meta.py) verified, split and
keyed the webhook; `inbound_message` and `comment_normalise` there read an event back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from inbox import signals
from inbox.conversations.comments import comment_receive
from inbox.conversations.receive import message_receive, message_status_update, messages_watermark
from inbox.conversations.threads import customer_action_note
from inbox.intake.inboxes import inbox_for
from inbox.models import Conversation, Direction, InboundEvent, Inbox, Message, MessageStatus
from inbox.providers.meta import MetaProvider, comment_normalise, inbound_message, inbox_kind_of, ms
from inbox.realtime import publish as realtime

logger = logging.getLogger(__name__)


def handle(event: InboundEvent) -> None:
    handler = HANDLERS.get(event.kind)
    if handler is None:
        logger.warning("meta event %s of unknown kind %r ignored", event.pk, event.kind)
        return
    payload = event.payload
    kind = inbox_kind_of(payload)
    inbox = inbox_for(kind=kind, external_id=payload.get("entry_id", "")) if kind else None
    if inbox is None:
        logger.warning(
            "meta %s event for %s %s that no inbox owns; ignored", event.kind, payload.get("object"), payload.get("entry_id")
        )
        return
    handler(inbox, payload)


def _message(inbox: Inbox, payload: dict, kind: str = "message") -> None:
    """A customer's message, an echo of the page's own reply, or a postback (a button tapped)."""
    message_receive(
        inbox=inbox, incoming=inbound_message(kind, inbox_kind=inbox.kind, inbox_external_id=inbox.external_id, payload=payload)
    )


def _delivery(inbox: Inbox, payload: dict) -> None:
    item = payload["item"]
    conversation = _conversation_of(inbox, str(item["sender"]["id"]))
    if conversation is None:
        return
    delivery = item["delivery"]
    watermark = ms(delivery["watermark"])
    mids = [str(m) for m in delivery.get("mids") or []]
    if mids:
        # Named messages are delivered whatever their row time says.
        for message in Message.objects.filter(conversation=conversation, direction=Direction.OUT, external_id__in=mids):
            message_status_update(message=message, status=MessageStatus.DELIVERED, at=watermark)
    messages_watermark(conversation=conversation, status=MessageStatus.DELIVERED, watermark=watermark)


def _read(inbox: Inbox, payload: dict) -> None:
    item = payload["item"]
    conversation = _conversation_of(inbox, str(item["sender"]["id"]))
    if conversation is None:
        return
    read = item["read"]
    if "watermark" in read:
        watermark = ms(read["watermark"])
    else:
        seen = Message.objects.filter(inbox=inbox, external_id=str(read.get("mid"))).first()
        if seen is not None and seen.direction == Direction.OUT:
            message_status_update(message=seen, status=MessageStatus.READ, at=ms(item["timestamp"]))
        # Seeing a message means seeing everything before it; unknown mid: everything up to now.
        watermark = seen.created_at if seen is not None else ms(item["timestamp"])
    messages_watermark(conversation=conversation, status=MessageStatus.READ, watermark=watermark)


def _reaction(inbox: Inbox, payload: dict) -> None:
    item = payload["item"]
    reaction = item["reaction"]
    sender = str(item["sender"]["id"])
    at = ms(item["timestamp"])
    if sender == inbox.external_id:
        return  # the business reacting: nothing for the customer's window
    target = Message.objects.select_for_update().filter(inbox=inbox, external_id=str(reaction["mid"])).first()
    if target is not None:
        _reactions_apply(target, sender=sender, reaction=reaction, at=at)
    conversation = target.conversation if target is not None else _conversation_of(inbox, sender)
    if conversation is not None:
        customer_action_note(Conversation.objects.select_for_update().get(pk=conversation.pk), at=at)


def _unsend(inbox: Inbox, payload: dict) -> None:
    item = payload["item"]
    mid = str(item["message"]["mid"])
    message = Message.objects.select_for_update().filter(inbox=inbox, external_id=mid).first()
    if message is None:
        logger.info("meta unsend of %s which this inbox never stored", mid)
        return
    if message.deleted_at is None:
        message.deleted_at = ms(item["timestamp"])
        message.save(update_fields=["deleted_at"])
        realtime.message_changed(message, "message.updated")


def _edit(inbox: Inbox, payload: dict) -> None:
    item = payload["item"]
    edit = item["message_edit"]
    message = Message.objects.select_for_update().filter(inbox=inbox, external_id=str(edit["mid"])).first()
    if message is None or message.direction != Direction.IN:
        logger.info("meta edit of %s which this inbox does not hold as a customer message", edit["mid"])
        return
    edits = list((message.payload or {}).get("edits") or [])
    at = ms(item["timestamp"])
    if edits and edits[-1].get("timestamp", 0) > item["timestamp"]:
        return  # an older edit arriving late: the text already holds a newer one
    # The text the agent saw before is kept: an edit must not rewrite what was answered.
    edits.append({"previous_text": message.text, "at": at.isoformat(), "timestamp": item["timestamp"]})
    message.payload = {**(message.payload or {}), "edits": edits}
    message.text = edit.get("text") or ""
    message.save(update_fields=["payload", "text"])
    realtime.message_changed(message, "message.updated")


def _referral(inbox: Inbox, payload: dict) -> None:
    # An m.me link or ad click in an existing thread opens the window; a thread of its own
    # starts only when the customer writes.
    item = payload["item"]
    conversation = _conversation_of(inbox, str(item["sender"]["id"]))
    if conversation is not None:
        customer_action_note(Conversation.objects.select_for_update().get(pk=conversation.pk), at=ms(item["timestamp"]))


def _comment(inbox: Inbox, payload: dict) -> None:
    comment = comment_normalise(payload, inbox=inbox)
    # The comment thread exists (and holds the comment) before the auto-responder hears of it.
    comment_receive(inbox=inbox, comment=comment)
    transaction.on_commit(lambda: signals.comment_received.send(sender=MetaProvider, inbox=inbox, comment=comment))


HANDLERS: dict[str, Callable[[Inbox, dict], None]] = {
    "message": _message,
    "echo": lambda inbox, payload: _message(inbox, payload, "echo"),
    "postback": lambda inbox, payload: _message(inbox, payload, "postback"),
    "delivery": _delivery,
    "read": _read,
    "reaction": _reaction,
    "unsend": _unsend,
    "edit": _edit,
    "referral": _referral,
    "comment": _comment,
}


def _conversation_of(inbox: Inbox, customer_id: str) -> Conversation | None:
    return Conversation.objects.filter(
        inbox=inbox, identity__channel=inbox.kind, identity__scope=inbox.external_id, identity__external_id=customer_id,
        thread_key="",  # the DM thread, not the person's comment threads
    ).first()


def _reactions_apply(message: Message, *, sender: str, reaction: dict, at: datetime) -> None:
    """One reaction per person per message: a react replaces theirs, an unreact removes it."""
    reactions = [r for r in (message.reactions or []) if isinstance(r, dict)]
    mine = [r for r in reactions if r.get("from") == sender]
    stamp = int(at.timestamp() * 1000)
    if any(isinstance(r.get("timestamp"), int) and r["timestamp"] > stamp for r in mine):
        return  # a later change from the same person already landed
    reactions = [r for r in reactions if r.get("from") != sender]
    if reaction.get("action", "react") == "react":
        reactions.append(
            {"from": sender, "reaction": reaction.get("reaction", ""), "emoji": reaction.get("emoji", ""),
             "at": at.isoformat(), "timestamp": stamp}
        )
    message.reactions = reactions
    message.save(update_fields=["reactions"])
    realtime.message_changed(message, "message.updated")
