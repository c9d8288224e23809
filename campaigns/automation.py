"""Receivers: greeting and away messages, comment auto-responders, triggered campaigns.

Connected in CampaignsConfig.ready(); each runs after the inbox or customers transaction committed.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers import language
from customers.models import Identity
from customers.services import customer_event_publish
from inbox import signals as inbox_signals
from inbox.conversations import comments as inbox_comments
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.conversations.window import private_reply_open
from inbox.models import Conversation, ConversationStatus, Direction, Inbox, Message, SenderType
from inbox.team.business_hours import Schedule

from .models import AutomatedReply, AutoResponder, CommentReply

if TYPE_CHECKING:
    from customers.models import CustomerEvent

logger = logging.getLogger(__name__)



# --- Greeting and away ------------------------------------------------------------------------------


def on_message_received(sender: object, message: Message, **kwargs: Any) -> None:
    loaded = inbox_signals.inbox_as_loaded(message)
    if loaded is not None and not _greeting_or_away_enabled(loaded.settings or {}):
        return  # neither is on for this inbox: nothing to read
    try:
        automated_reply_for(message=message)
    except Exception:  # automation must never break message intake
        logger.exception("greeting/away for message %s failed", message.pk)


def _greeting_or_away_enabled(settings: dict) -> bool:
    return bool((settings.get("greeting") or {}).get("enabled") or (settings.get("away") or {}).get("enabled"))


def automated_reply_for(*, message: Message) -> Message | None:
    """Greeting on a new conversation's first message inside business hours; away once per closed
    period outside them (or on a holiday). Either is a bot message: no tag, not a response. Each in
    the customer's language where the inbox has it written (`translations`), else the default text."""
    if message.direction != Direction.IN or message.sender_type != SenderType.CUSTOMER:
        return None
    conversation = Conversation.objects.select_related("inbox", "customer").get(pk=message.conversation_id)
    settings = conversation.inbox.settings or {}
    greeting, away = settings.get("greeting") or {}, settings.get("away") or {}
    if not _greeting_or_away_enabled(settings):
        return None
    try:
        schedule = Schedule.from_settings(settings)
    except Exception:
        logger.warning("inbox %s has an unreadable schedule; no greeting/away", conversation.inbox_id)
        return None
    at = message.created_at
    if schedule.is_open(at):
        first = not Message.objects.filter(conversation=conversation, direction=Direction.IN).exclude(pk=message.pk).exists()
        if greeting.get("enabled") and first and (greeting.get("text") or "").strip():
            return _send_once(conversation, AutomatedReply.Kind.GREETING, "", _in_their_language(greeting, conversation))
        return None
    if away.get("enabled") and (away.get("text") or "").strip():
        reopens = schedule.next_open(at)
        period = reopens.isoformat() if reopens else "closed"
        return _send_once(conversation, AutomatedReply.Kind.AWAY, period, _in_their_language(away, conversation))
    return None


def _in_their_language(setting: dict, conversation: Conversation) -> str:
    text, _ = language.message_for(setting, customer=conversation.customer, inbox=conversation.inbox)
    return text


def _send_once(conversation: Conversation, kind: str, period: str, text: str) -> Message | None:
    try:
        with transaction.atomic():
            record = AutomatedReply.objects.create(conversation=conversation, kind=kind, period=period[:64])
            sent = reply_send(conversation=conversation, author=None, text=text, sender_type=SenderType.BOT)
            record.message = sent
            record.save(update_fields=["message"])
            return sent
    except IntegrityError:
        return None  # already sent for this conversation (and period)
    except ReplyRefused as exc:
        logger.info("no %s for conversation %s: %s", kind, conversation.pk, exc.code)
        return None


# --- Comment auto-responders -------------------------------------------------------------------------


def keyword_matches(text: str, keywords: list[str]) -> bool:
    """Case-insensitive whole-word (or whole-phrase) match."""
    for keyword in keywords:
        keyword = str(keyword).strip()
        if keyword and re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", text, flags=re.IGNORECASE):
            return True
    return False


def on_comment_received(sender: object, inbox: Inbox, comment: dict, **kwargs: Any) -> None:
    try:
        comment_autorespond(inbox=inbox, comment=comment)
    except Exception:
        logger.exception("auto-responder for comment %s failed", comment.get("id"))


def comment_autorespond(*, inbox: Inbox, comment: dict, now: datetime | None = None) -> CommentReply | None:
    now = now or timezone.now()
    if comment.get("from_self") or comment.get("verb", "add") != "add" or not comment.get("from_id"):
        return None
    text = comment.get("text") or ""
    responder = next(
        (r for r in AutoResponder.objects.filter(inbox=inbox, active=True) if keyword_matches(text, r.keywords or [])),
        None,
    )
    if responder is None:
        return None
    public_text, private_text = _replies_in_their_language(responder, inbox=inbox, from_id=str(comment["from_id"]))
    post_id = comment.get("post_id") or comment.get("media_id") or ""
    try:
        # Committed before any Graph call: a replayed webhook or a second comment by the same
        # person on the same post finds the row and sends nothing.
        with transaction.atomic():
            record = CommentReply.objects.create(
                inbox=inbox, autoresponder=responder, post_id=post_id, from_id=comment["from_id"], comment_id=comment["id"],
            )
    except IntegrityError:
        return None
    errors = []
    if public_text.strip():
        record.public_reply_id, error = inbox_comments.comment_reply_now(
            inbox=inbox, comment_id=comment["id"], mode=inbox_comments.PUBLIC, text=public_text
        )
        errors.append(error)
    created = comment.get("created_time")
    fresh = created is None or private_reply_open(comment_at=created, now=now)
    # Meta takes one private reply per comment: an agent may have sent it already.
    if private_text.strip() and fresh and not inbox_comments.private_reply_exists(
        inbox_id=inbox.pk, comment_id=comment["id"]
    ):
        record.private_reply_id, error = inbox_comments.comment_reply_now(
            inbox=inbox, comment_id=comment["id"], mode=inbox_comments.PRIVATE, text=private_text
        )
        errors.append(error)
    record.error = "; ".join(e for e in errors if e)
    with transaction.atomic():
        record.save(update_fields=["public_reply_id", "private_reply_id", "error"])
        # In the comment's thread too, so agents see what was answered and don't answer twice.
        for mode, reply_id, text in (
            (inbox_comments.PUBLIC, record.public_reply_id, public_text),
            (inbox_comments.PRIVATE, record.private_reply_id, private_text),
        ):
            if reply_id:
                inbox_comments.comment_reply_record(
                    inbox=inbox, comment_id=comment["id"], mode=mode, text=text, external_id=reply_id
                )
    return record


def _replies_in_their_language(responder: AutoResponder, *, inbox: Inbox, from_id: str) -> tuple[str, str]:
    """(public, private) reply for the commenter: their language's where the responder has it (their
    customer's language, once known), else its own replies."""
    identity = (
        Identity.objects.select_related("customer")
        .filter(channel=inbox.kind, scope=inbox.external_id, external_id=from_id).first()
    )
    code = language.customer_language(identity.customer if identity else None, inbox)
    written = (responder.translations or {}).get(code) or {}
    return written.get("public_reply") or responder.public_reply, written.get("private_reply") or responder.private_reply


# --- Triggered campaigns ---------------------------------------------------------------------------


def on_customer_event(sender: object, event: CustomerEvent, **kwargs: Any) -> None:
    from .services import on_customer_event as plan

    try:
        plan(event=event)
    except Exception:
        logger.exception("triggered campaigns for event %s failed", event.pk)


def on_conversation_saved(
    sender: object, instance: Conversation, update_fields: frozenset[str] | None = None, created: bool = False,
    **kwargs: Any,
) -> None:
    """A resolved conversation becomes a customer event (the satisfaction survey triggers on it)."""
    if created or instance.status != ConversationStatus.RESOLVED or instance.resolved_at is None:
        return
    if update_fields is not None and "status" not in update_fields:
        return
    conversation_id, customer_id, stamp = instance.pk, instance.customer_id, instance.resolved_at.isoformat()
    inbox_id, channel = instance.inbox_id, instance.channel

    def publish() -> None:
        from customers.models import Customer

        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is not None:
            customer_event_publish(
                customer=customer, name="conversation.resolved",
                properties={"conversation_id": conversation_id, "inbox_id": inbox_id, "channel": channel},
                dedupe_key=f"conversation.resolved:{conversation_id}:{stamp}",
            )

    transaction.on_commit(publish)
