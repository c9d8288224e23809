"""Replying: an agent's (or automation's) reply queued as a row under the channel's rules, then
delivered once by a task; private notes.

Every outbound message is a row first (status `queued`); the task that sends it commits an
"attempt started" stamp, then calls the provider holding the row's lock, so a retried task never
sends twice, and an attempt cut short by a kill is looked for (or waited for) before a re-send
(message_deliver).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.selectors import is_opted_out
from customers.services import consent_withdraw_or_grant
from inbox import jobs, metrics, signals
from inbox.conversations import languages
from inbox.conversations.comments import comment_reply_prepare
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.files import outgoing_files
from inbox.conversations.threads import note_outbound
from inbox.conversations.window import SendPolicy, length_check, reply_policy
from inbox.models import Conversation, ConversationEvent, Direction, Message, MessageStatus, SenderType
from inbox.providers import provider_for_channel
from inbox.providers.base import RECOVER_ECHO, RECOVER_LOOKUP, Provider, ProviderError, SendResult
from inbox.realtime import publish as realtime

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 6


def reply_send(
    *,
    conversation: Conversation,
    author: User | None,
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
        raise ReplyRefused("empty", _("A reply needs text or an attachment."), 400)
    if "\x00" in text:
        raise ReplyRefused("invalid", _("Text may not contain NUL characters."), 400)
    if any(ch in (subject or "") for ch in "\r\n\x00"):
        # Agents' and campaigns' subjects alike: a header is one line (else BadHeaderError at send).
        raise ReplyRefused("invalid", _("A subject is one line: no carriage return, line feed or NUL."), 400)
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
            raise ReplyRefused("opted_out", _("The customer withdrew consent on this channel."), 409)
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
            # Written to the customer, so in their language (search stems it so).
            search_config=languages.message_search_config(text=text, customer=conversation.customer),
        )
        note_outbound(conversation, at=now, human=sender_type == SenderType.AGENT, message=message)
        realtime.message_changed(message, "message.created")
        realtime.conversation_changed(conversation, "conversation.updated")
        transaction.on_commit(lambda: message_dispatch(message.pk))
    return message


def note_add(*, conversation: Conversation, author: User | None, text: str, sender_type: str = SenderType.AGENT) -> Message:
    """A private note: visible to agents in the timeline, never sent to the customer (`bot`: an automation rule's)."""
    if not (text or "").strip():
        raise ReplyRefused("empty", _("A note needs text."), 400)
    if "\x00" in text:
        raise ReplyRefused("invalid", _("Text may not contain NUL characters."), 400)
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            inbox=conversation.inbox,
            direction=Direction.OUT,
            sender_type=sender_type,
            author=author,
            is_private=True,
            text=text,
            status=MessageStatus.SENT,
            created_at=timezone.now(),
            # Written by an agent for agents: in the author's language when they picked one.
            search_config=languages.message_search_config(text=text, language=languages.user_language(author)),
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


def _locked(message_id: int, *, wait: bool = False) -> Message | None:
    """The row, locked, if it is still to be sent. A row another worker holds is skipped, unless
    `wait` (this worker stamped the attempt, and the other can only be a short check of it)."""
    message = (
        Message.objects.select_for_update(skip_locked=not wait, of=("self",))
        .select_related("conversation", "inbox", "conversation__identity", "conversation__customer")
        .filter(pk=message_id)
        .first()
    )
    if message is None or message.status != MessageStatus.QUEUED or message.external_id:
        return None
    return message


def _attempt_start(message: Message, provider: Provider) -> datetime:
    """Stamp an attempt on the locked row (saved by the caller's commit, before the provider hears of it)."""
    for attr, value in provider.send_prepare(message).items():
        setattr(message, attr, value)
    message.send_attempts += 1
    started = timezone.now()
    message.send_started_at = started
    message.save()
    return started


def message_deliver(message_id: int) -> float | None:
    """Send a queued message once, even across a worker killed mid-send. Returns seconds until a
    retry is due, or None when done.

    1. Under the row's lock, an attempt is stamped (`send_started_at`, email's Message-ID) and
       COMMITTED before the provider can hear of it.
    2. The provider is called holding the row's lock again (a duplicate task skips the row; an
       echo webhook waits for the answer); its answer is committed with the provider id, and the
       stamp cleared.
    A stamp found on a queued row is an attempt whose outcome was never recorded (killed between
    1 and the commit of 2, or a read timeout): it may have reached the provider. Before sending
    again, the provider module's recovery (providers/base.py RECOVER_*) settles it: Twilio is
    asked for the message and a match is adopted; on Meta the echo naming our row settles it, so
    a re-send waits META_ECHO_GRACE_SECONDS after that attempt; email re-sends the same Message-ID.
    """
    with transaction.atomic():
        message = _locked(message_id)
        if message is None:
            return None
        provider = provider_for_channel(message.conversation.channel)
        interrupted = message.send_started_at
        plan = provider.recovery(message) if interrupted is not None else None
        if plan == RECOVER_ECHO and interrupted is not None:
            due = interrupted + timedelta(seconds=settings.META_ECHO_GRACE_SECONDS)
            now = timezone.now()
            if now < due:
                message.next_attempt_at = due
                message.save(update_fields=["next_attempt_at"])
                logger.info("message %s: an attempt may have gone out; waiting for its echo until %s", message.pk, due)
                return max(0.5, (due - now).total_seconds())
        if plan == RECOVER_LOOKUP:
            stamp = None  # look first; the new attempt is stamped only if nothing is found
        else:
            stamp = _attempt_start(message, provider)
    if stamp is None and interrupted is not None:
        found = _look_first(message, provider, since=interrupted)
        if not isinstance(found, datetime):
            return found
        stamp = found
    if stamp is None:
        return None
    return _attempt(message_id, provider, stamp)


def _look_first(message: Message, provider: Provider, *, since: datetime) -> datetime | float | None:
    """Ask the provider whether the interrupted attempt went out; adopt it, or stamp a new attempt.
    Returns the new attempt's stamp, or what message_deliver returns when there is nothing to send."""
    try:
        candidates = provider.find_sent(message, since=since)
    except ProviderError as exc:
        with transaction.atomic():
            locked = _locked(message.pk, wait=True)
            if locked is None or locked.send_started_at != since:
                return None
            locked.send_attempts += 1
            return _send_failed(locked, exc, outcome_known=False)
    with transaction.atomic():
        locked = _locked(message.pk, wait=True)
        if locked is None or locked.send_started_at != since:
            return None  # another worker settled it or moved on meanwhile
        ids = [c.external_id for c in candidates if c.external_id]
        taken = set(Message.objects.filter(inbox=locked.inbox, external_id__in=ids).values_list("external_id", flat=True))
        match = next((c for c in candidates if c.external_id and c.external_id not in taken), None)
        if match is not None:
            logger.info("message %s: the interrupted attempt reached the provider as %s; adopted", locked.pk, match.external_id)
            _send_succeeded(locked, match)
            return None
        return _attempt_start(locked, provider)


def _attempt(message_id: int, provider: Provider, stamp: datetime) -> float | None:
    with transaction.atomic():
        message = _locked(message_id, wait=True)
        if message is None or message.send_started_at != stamp:
            return None  # another worker's attempt took over
        # The row lock is held across the call: a duplicate task skips the row, an echo waits.
        try:
            result = provider.send(message, files=outgoing_files(message))
        except ProviderError as exc:
            # A timeout may have reached the provider (keep the stamp: the next attempt looks
            # first); any other error is the provider's answer, and nothing went out.
            return _send_failed(message, exc, outcome_known=exc.reason != "timeout")
        _send_succeeded(message, result)
    return None


def _send_succeeded(message: Message, result: SendResult) -> None:
    message.external_id = result.external_id
    message.status = MessageStatus.SENT
    message.sent_at = timezone.now()
    message.next_attempt_at = None
    message.send_started_at = None
    for attr, value in result.fields.items():
        setattr(message, attr, value)
    message.save()
    # A reply answers the customer once the provider took it, not when it was queued.
    metrics.record_reply(message)
    signals.conversation_changed_send(message.conversation, "reply.sent", message=message)
    realtime.message_changed(message, "message.updated")


def _send_failed(message: Message, exc: ProviderError, *, outcome_known: bool = True) -> float | None:
    if outcome_known:
        message.send_started_at = None
    if exc.transient and message.send_attempts < MAX_SEND_ATTEMPTS:
        delay = retry_delay(message.send_attempts)
        message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        message.error_code = exc.code[:32]
        message.error_detail = exc.detail
        message.save(update_fields=["send_attempts", "next_attempt_at", "error_code", "error_detail", "send_started_at"])
        logger.info("message %s: transient %s, retry in %.1fs", message.pk, exc.reason, delay)
        return delay
    message.status = MessageStatus.FAILED
    message.error_code = exc.code[:32]
    message.error_detail = exc.detail or exc.reason
    message.next_attempt_at = None
    message.send_started_at = None
    message.save(
        update_fields=["status", "send_attempts", "error_code", "error_detail", "next_attempt_at", "send_started_at"]
    )
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
        )
    realtime.message_changed(message, "message.updated")
    return None


def message_retry(*, conversation: Conversation, message_id: int, by: User | None) -> Message:
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
            raise ReplyRefused("not_found", _("No such message in this conversation."), 404)
        message.conversation = conversation
        if message.direction != Direction.OUT or message.is_private or message.payload.get("echo"):
            raise ReplyRefused("not_retryable", _("Only replies sent from this inbox can be sent again."), 409)
        if message.status != MessageStatus.FAILED:
            raise ReplyRefused(
                "not_failed", _("Only a failed message can be sent again; this one is %(status)s.") % {"status": message.status}, 409
            )
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
            raise ReplyRefused("opted_out", _("The customer withdrew consent on this channel."), 409)
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
