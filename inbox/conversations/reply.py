"""Replying: an agent's (or automation's) reply queued as a row under the channel's rules, then
delivered once by a task; private notes.

Every outbound message is a row first (status `queued`); the task that sends it holds the row's
lock across the provider call, so a retried task never sends twice.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from customers.selectors import is_opted_out
from customers.services import consent_withdraw_or_grant
from inbox import jobs, metrics, signals
from inbox.conversations.comments import comment_reply_prepare
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.files import outgoing_files
from inbox.conversations.threads import note_outbound
from inbox.conversations.window import SendPolicy, length_check, reply_policy
from inbox.models import Conversation, ConversationEvent, Direction, Message, MessageStatus, SenderType
from inbox.providers import provider_for_channel
from inbox.providers.base import ProviderError
from inbox.realtime import publish as realtime

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 6


def reply_send(
    *,
    conversation: Conversation,
    author: AbstractBaseUser | None,
    text: str,
    tag: str | None = None,
    attachments: list[dict] | None = None,
    payload: dict | None = None,
    subject: str = "",
    sender_type: str = SenderType.AGENT,
) -> Message:
    """Queue a reply on the conversation's channel, refusing what the platform would refuse."""
    text = text or ""
    if not text.strip() and not attachments:
        raise ReplyRefused("empty", "A reply needs text or an attachment.", 400)
    if "\x00" in text:
        raise ReplyRefused("invalid", "Text may not contain NUL characters.", 400)
    if any(ch in (subject or "") for ch in "\r\n\x00"):
        # Agents' and campaigns' subjects alike: a header is one line (else BadHeaderError at send).
        raise ReplyRefused("invalid", "A subject is one line: no carriage return, line feed or NUL.", 400)
    length_check(channel=conversation.channel, text=text, display=conversation.get_channel_display())
    with transaction.atomic():
        # Decide on the row as it is now (a webhook may have just moved the window), locked so a
        # concurrent reply or inbound message is ordered before or after this one, not across it.
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("inbox", "customer", "identity")
            .get(pk=conversation.pk)
        )
        now = timezone.now()
        if conversation.is_comment_thread or (payload or {}).get("comment_reply"):
            # Public/private replies to comments follow the comment rules, not the DM window.
            payload = comment_reply_prepare(
                conversation=conversation, payload=payload, tag=tag, attachments=attachments, sender_type=sender_type, now=now
            )
            policy = SendPolicy("", "")
        else:
            policy = reply_policy(conversation=conversation, tag=tag, sender_type=sender_type, now=now)
        if is_opted_out(customer=conversation.customer, channel=conversation.channel):
            raise ReplyRefused("opted_out", "The customer withdrew consent on this channel.", 409)
        message = Message.objects.create(
            conversation=conversation,
            inbox=conversation.inbox,
            direction=Direction.OUT,
            sender_type=sender_type,
            author=author,
            text=text,
            subject=subject[:300],
            attachments=attachments or [],
            status=MessageStatus.QUEUED,
            tag=policy.tag,
            messaging_type=policy.messaging_type,
            payload=payload or {},
            created_at=now,
        )
        note_outbound(conversation, at=now, human=sender_type == SenderType.AGENT, message=message)
        realtime.message_changed(message, "message.created")
        realtime.conversation_changed(conversation, "conversation.updated")
        transaction.on_commit(lambda: message_dispatch(message.pk))
    return message


def note_add(*, conversation: Conversation, author: AbstractBaseUser, text: str) -> Message:
    """A private note: visible to agents in the timeline, never sent to the customer."""
    if not (text or "").strip():
        raise ReplyRefused("empty", "A note needs text.", 400)
    if "\x00" in text:
        raise ReplyRefused("invalid", "Text may not contain NUL characters.", 400)
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            inbox=conversation.inbox,
            direction=Direction.OUT,
            sender_type=SenderType.AGENT,
            author=author,
            is_private=True,
            text=text,
            status=MessageStatus.SENT,
            created_at=timezone.now(),
        )
        realtime.message_changed(message, "message.created")
        transaction.on_commit(lambda: signals.note_added.send(sender=Message, message=message))
    return message


def message_dispatch(message_id: int) -> None:
    # Broker down: the queued row is the intent; the sweeper re-dispatches it.
    if not jobs.enqueue("inbox.tasks.message_send", message_id):
        logger.warning("broker unavailable; message %s left for the sweeper", message_id)


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at 10 minutes."""
    return random.uniform(0, min(600, 5 * 2**attempt))


def message_deliver(message_id: int) -> float | None:
    """Send a queued message once. Returns seconds until a retry is due, or None when done.

    The row lock is held across the provider call so a duplicate task waits and then sees the
    provider id; the id is committed the moment the provider answers. Only a process killed
    between the provider's answer and the commit can cause a second send.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("conversation", "inbox", "conversation__identity", "conversation__customer")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.status != MessageStatus.QUEUED or message.external_id:
            return None
        message.send_attempts += 1
        try:
            result = provider_for_channel(message.conversation.channel).send(message, files=outgoing_files(message))
        except ProviderError as exc:
            return _send_failed(message, exc)
        message.external_id = result.external_id
        message.status = MessageStatus.SENT
        message.sent_at = timezone.now()
        message.next_attempt_at = None
        for attr, value in result.fields.items():
            setattr(message, attr, value)
        message.save()
        # A reply answers the customer once the provider took it, not when it was queued.
        metrics.record_reply(message)
        realtime.message_changed(message, "message.updated")
    return None


def _send_failed(message: Message, exc: ProviderError) -> float | None:
    if exc.transient and message.send_attempts < MAX_SEND_ATTEMPTS:
        delay = retry_delay(message.send_attempts)
        message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        message.error_code = exc.code[:32]
        message.error_detail = exc.detail
        message.save(update_fields=["send_attempts", "next_attempt_at", "error_code", "error_detail"])
        logger.info("message %s: transient %s, retry in %.1fs", message.pk, exc.reason, delay)
        return delay
    message.status = MessageStatus.FAILED
    message.error_code = exc.code[:32]
    message.error_detail = exc.detail or exc.reason
    message.next_attempt_at = None
    message.save(update_fields=["status", "send_attempts", "error_code", "error_detail", "next_attempt_at"])
    conversation = message.conversation
    if exc.reason == "window_closed":
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(window_closed_at=now)
        conversation.window_closed_at = now
        ConversationEvent.objects.create(
            conversation=conversation, kind=ConversationEvent.Kind.WINDOW, data={"code": exc.code, "detail": exc.detail}
        )
        realtime.conversation_changed(conversation, "conversation.updated")
    elif exc.reason == "opted_out":
        consent_withdraw_or_grant(
            customer=conversation.customer,
            channel=conversation.channel,
            granted=False,
            source="provider_error",
            proof={"code": exc.code, "message": message.pk},


def message_retry(*, conversation: Conversation, message_id: int, by: AbstractBaseUser | None) -> Message:
    """Send a failed reply again: the same row goes back to `queued` and is dispatched once more.

    The channel's rules are checked again as for a new reply (the window may have closed since, the
    customer may have opted out): a refusal leaves the row failed. The provider's id and error are
    cleared and the attempts start over; the row stays the idempotency key of the send.
    """
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("inbox", "customer", "identity")
            .get(pk=conversation.pk)
        )
        message = Message.objects.select_for_update().filter(pk=message_id, conversation=conversation).first()
        if message is None:
            raise ReplyRefused("not_found", "No such message in this conversation.", 404)
        message.conversation = conversation
        if message.direction != Direction.OUT or message.is_private or message.payload.get("echo"):
            raise ReplyRefused("not_retryable", "Only replies sent from this inbox can be sent again.", 409)
        if message.status != MessageStatus.FAILED:
            raise ReplyRefused("not_failed", f"Only a failed message can be sent again; this one is {message.status}.", 409)
        now = timezone.now()
        if conversation.is_comment_thread or message.payload.get("comment_reply"):
            comment_reply_prepare(
                conversation=conversation, payload=message.payload, tag=message.tag or None,
                attachments=message.attachments, sender_type=message.sender_type, now=now,
            )
            policy = SendPolicy(message.messaging_type, message.tag)
        else:
            policy = reply_policy(conversation=conversation, tag=message.tag or None, sender_type=message.sender_type, now=now)
        if is_opted_out(customer=conversation.customer, channel=conversation.channel):
            raise ReplyRefused("opted_out", "The customer withdrew consent on this channel.", 409)
        message.status = MessageStatus.QUEUED
        message.external_id = None
        message.error_code = ""
        message.error_detail = ""
        message.send_attempts = 0
        message.next_attempt_at = None
        message.tag = policy.tag
        message.messaging_type = policy.messaging_type
        message.save(update_fields=[
            "status", "external_id", "error_code", "error_detail", "send_attempts", "next_attempt_at", "tag", "messaging_type",
        ])
        logger.info("message %s re-queued by user %s", message.pk, by.pk if by is not None else None)
        realtime.message_changed(message, "message.updated")
        transaction.on_commit(lambda: message_dispatch(message.pk))
    return message
        )
    realtime.message_changed(message, "message.updated")
    return None
