"""Writes on the inbox: receiving, replying, sending, status updates.

Views, tasks and provider handlers call these; they own the transactions and the rules.
"""

from __future__ import annotations

import json
import logging
import random
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from customers.models import Channel, ConsentPurpose
from customers.selectors import is_opted_out
from customers.services import consent_record, identity_resolve

from . import dispatch, metrics, profiles, realtime, signals
from .models import (
    META_CHANNELS,
    STANDARD_WINDOW,
    STATUS_RANK,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    InboundEvent,
    Inbox,
    Message,
    MessageStatus,
    SenderType,
    WindowState,
)
from .providers.base import InboundMessage, ProviderError, RawEvent

logger = logging.getLogger(__name__)

HUMAN_AGENT = "HUMAN_AGENT"
# Retired by Meta on 2026-04-27 (error 100): never sent.
RETIRED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"})
MAX_LENGTH = {Channel.MESSENGER: 2000, Channel.INSTAGRAM: 1000, Channel.SMS: 1600, Channel.EMAIL: 100_000}
MAX_SEND_ATTEMPTS = 6


class ReplyRefused(Exception):
    """A reply the platform would refuse; the API answers with `status` and `{code, detail}`."""

    def __init__(self, code: str, detail: str, status: int):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


# --- Inbound ---------------------------------------------------------------------------------------


def events_store(*, provider: str, events: list[RawEvent]) -> list[int]:
    """Store raw provider events once each; returns the ids of stored rows still to process.

    Runs in the webhook's request: after it commits, the provider may be acknowledged.
    Processing is dispatched on commit: by a PostgreSQL notification to the worker's listener
    (INBOUND_DISPATCH=notify, inbox/dispatch.py) or by publishing the task from here (direct).
    If either is lost (no listener, broker down), the sweeper picks the rows up later.
    """
    if not events:
        return []
    keys = [e.dedupe_key[:255] for e in events]
    if connection.vendor == "postgresql":
        notify = dispatch.notify_enabled()
        pending = _events_store_pg(provider=provider, events=events, keys=keys, notify=notify)
        if notify:
            return pending
    else:
        with transaction.atomic():
            InboundEvent.objects.bulk_create(
                [InboundEvent(provider=provider, kind=e.kind, dedupe_key=key, payload=e.payload) for e, key in zip(events, keys, strict=True)],
                ignore_conflicts=True,
            )
            # ON CONFLICT DO NOTHING leaves pks unset: read back what still needs processing.
            pending = list(
                InboundEvent.objects.filter(provider=provider, dedupe_key__in=keys, processed_at=None).values_list("id", flat=True)
            )
    if pending:
        transaction.on_commit(lambda: _enqueue_processing(pending))
    return pending


# Every webhook runs this: one INSERT (and, outside a transaction, one commit) instead of BEGIN,
# INSERT, SELECT, COMMIT. Only when some event was already held (a redelivery) does a second
# statement look for earlier copies still unprocessed (ones the broker never got to).
_INSERT_SQL = """
INSERT INTO {table} (provider, dedupe_key, kind, payload, received_at, attempts, error)
SELECT %(provider)s, incoming.dedupe_key, incoming.kind, incoming.payload, now(), 0, ''
FROM unnest(%(keys)s::varchar[], %(kinds)s::varchar[], %(payloads)s::jsonb[]) AS incoming (dedupe_key, kind, payload)
ON CONFLICT (provider, dedupe_key) DO NOTHING
RETURNING id, dedupe_key
"""
# The same INSERT, also notifying the dispatcher's channel with the new ids (delivered at commit).
# The outer query reads `notified` so that PostgreSQL evaluates it.
_INSERT_NOTIFY_SQL = """
WITH stored AS ({insert}),
notified AS (
    SELECT pg_notify(%(channel)s, string_agg(id::text, ',')) FROM (
        SELECT id, (row_number() OVER () - 1) / %(per_notification)s AS part FROM stored
    ) AS numbered GROUP BY part
)
SELECT id, dedupe_key FROM stored, (SELECT count(*) FROM notified) AS sent
"""
_EARLIER_SQL = "SELECT id FROM {table} WHERE provider = %s AND dedupe_key = ANY(%s) AND processed_at IS NULL"
_NOTIFY_SQL = "SELECT pg_notify(%s, %s)"


def _events_store_pg(*, provider: str, events: list[RawEvent], keys: list[str], notify: bool) -> list[int]:
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    params = {"provider": provider, "keys": keys, "kinds": [e.kind for e in events],
              "payloads": [json.dumps(e.payload) for e in events],
              "channel": dispatch.CHANNEL, "per_notification": dispatch.IDS_PER_NOTIFICATION}
    insert = _INSERT_SQL.format(table=table)
    if notify:
        insert = _INSERT_NOTIFY_SQL.format(insert=insert.strip())
    # A statement is atomic on its own; inside a caller's transaction a savepoint keeps a failure
    # (lock timeout, NUL characters) from aborting the caller's work.
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(insert, params)
        stored = cursor.fetchall()
        ids = {row[0] for row in stored}
        held = sorted(set(keys) - {row[1] for row in stored})
        if held:
            cursor.execute(_EARLIER_SQL.format(table=table), [provider, held])
            earlier = sorted(row[0] for row in cursor.fetchall())
            ids.update(earlier)
            if notify:
                for chunk in dispatch.chunks(earlier, dispatch.IDS_PER_NOTIFICATION):
                    cursor.execute(_NOTIFY_SQL, [dispatch.CHANNEL, ",".join(map(str, chunk))])
    return sorted(ids)


def _enqueue_processing(ids: list[int]) -> None:
    from .tasks import inbound_events_process

    try:
        inbound_events_process.delay(ids)
    except (BrokerError, ConnectionError, OSError):  # broker down: the rows are stored, the sweeper will process them
        logger.warning("broker unavailable; %d inbound events left for the sweeper", len(ids))


def event_process(event_id: int) -> None:
    """Process one stored event exactly once (row lock; processed_at marks it done)."""
    from .providers import provider_by_name

    with transaction.atomic():
        event = InboundEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id, processed_at=None).first()
        if event is None:
            return
        event.attempts += 1
        try:
            with transaction.atomic():
                provider_by_name(event.provider).handle(event)
        except Exception as exc:
            logger.exception("inbound event %s (%s/%s) failed", event.pk, event.provider, event.kind)
            event.error = f"{type(exc).__name__}: {exc}"[:2000]
            event.save(update_fields=["attempts", "error"])
            return
        event.processed_at = timezone.now()
        event.error = ""
        event.save(update_fields=["attempts", "error", "processed_at"])


def inbox_for(*, kind: str | list[str], external_id: str) -> Inbox | None:
    kinds = [kind] if isinstance(kind, str) else kind
    return Inbox.objects.select_related("team").filter(kind__in=kinds, external_id=external_id).first()


def conversation_for_identity(*, inbox: Inbox, identity, subject: str = "", thread_key: str = "") -> Conversation:
    """The chat/SMS thread of this identity in this inbox, created when new (race-safe).

    `thread_key` names another thread with the same person (a post's comments); "" is the DM thread.
    """
    return _conversation_for_identity(inbox=inbox, identity=identity, subject=subject, thread_key=thread_key)[0]


def _conversation_for_identity(*, inbox: Inbox, identity, subject: str = "", thread_key: str = "") -> tuple[Conversation, bool]:
    """(conversation, created): `created` when this transaction made it (so it holds nothing else yet)."""
    conversation = Conversation.objects.filter(inbox=inbox, identity=identity, thread_key=thread_key).first()
    if conversation:
        return conversation, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                inbox=inbox,
                customer=identity.customer,
                identity=identity,
                channel=inbox.kind,
                team=inbox.team,
                subject=subject[:300],
                thread_key=thread_key,
            )
    except IntegrityError:
        return Conversation.objects.get(inbox=inbox, identity=identity, thread_key=thread_key), False
    # Nobody can label a row before it is committed: its frame need not ask for labels.
    realtime.conversation_changed(conversation, "conversation.created", labels=[])
    return conversation, True


def _loaded_relations(locked: Conversation, *, inbox: Inbox, earlier: Conversation, customer=None) -> None:
    """Give the freshly locked row the inbox and customer this call already read, so its frames
    ask nothing more after commit."""
    if locked.inbox_id == inbox.pk:
        locked.inbox = inbox
    if customer is None and Conversation.customer.is_cached(earlier):
        customer = earlier.customer
    if customer is not None and customer.pk == locked.customer_id:
        locked.customer = customer


def message_receive(*, inbox: Inbox, incoming: InboundMessage, conversation: Conversation | None = None) -> Message | None:
    """Store an inbound customer message (or an echo of a business reply) once; None if already held."""
    if Message.objects.filter(inbox=inbox, external_id=incoming.external_id).exists():
        return None
    customer = None
    conversation_created = False
    if conversation is None:
        scope = inbox.external_id if inbox.kind in META_CHANNELS else ""
        resolved = identity_resolve(
            channel=inbox.kind, scope=scope, external_id=incoming.customer_external_id, display_name=incoming.customer_name
        )
        conversation, conversation_created = _conversation_for_identity(
            inbox=inbox, identity=resolved.identity, subject=incoming.subject
        )
        customer = resolved.identity.customer
        if not incoming.is_echo:  # the person wrote: Meta now lets the page read their name
            profiles.meta_profile_schedule(inbox=inbox, identity=resolved.identity)
    if incoming.is_echo:
        return _echo_receive(inbox=inbox, conversation=conversation, incoming=incoming, customer=customer)

    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                inbox=inbox,
                direction=Direction.IN,
                sender_type=SenderType.CUSTOMER,
                text=incoming.text,
                html=incoming.html,
                subject=incoming.subject[:300],
                attachments=incoming.attachments,
                external_id=incoming.external_id,
                status=MessageStatus.RECEIVED,
                payload=incoming.payload,
                segments=incoming.segments,
                encoding=incoming.encoding,
                email_message_id=incoming.email_message_id,
                email_in_reply_to=incoming.email_in_reply_to,
                email_references=incoming.email_references,
                created_at=incoming.timestamp,
            )
    except IntegrityError:
        return None  # the same event, delivered concurrently, got there first

    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _loaded_relations(locked, inbox=inbox, earlier=conversation, customer=customer)
    conversation = locked
    _conversation_note_inbound(conversation, at=incoming.timestamp, customer_action=incoming.is_customer_action)
    # The message was made just now (so has no record yet); in a conversation made just now, it is the only one.
    metrics.record_inbound(message, conversation=conversation, new_message=True, only_message=conversation_created)
    realtime.message_changed(message, "message.created")
    # A conversation made in this transaction has no labels yet (nobody could label it).
    realtime.conversation_changed(conversation, "conversation.updated", labels=[] if conversation_created else None)
    # Auto-replies and bounces (RFC 3834) are kept on the record but set nothing off: answering
    # an out-of-office with a greeting is how mail loops start.
    if not incoming.payload.get("auto_submitted"):
        transaction.on_commit(lambda: signals.message_received.send(sender=Message, message=message))
    return message


def _conversation_note_inbound(conversation: Conversation, *, at: datetime, customer_action: bool) -> None:
    fields = ["last_message_at", "last_inbound_at", "waiting_since", "unread_count", "status", "snoozed_until"]
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
    if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
        conversation.last_inbound_at = at
    if conversation.waiting_since is None or at < conversation.waiting_since:
        conversation.waiting_since = at
    if customer_action and conversation.channel in META_CHANNELS:
        customer_action_note(conversation, at=at, save=False)
        fields += ["last_customer_action_at", "window_expires_at"]
    # The row is locked (select_for_update) since it was read: the count read is the count to add to.
    conversation.unread_count += 1
    if conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED):
        conversation.status = ConversationStatus.OPEN
        conversation.snoozed_until = None
    conversation.save(update_fields=fields)


def customer_action_note(conversation: Conversation, *, at: datetime, save: bool = True) -> None:
    """A message, postback, reaction or referral: (re)opens the 24 h window from `at`."""
    if conversation.last_customer_action_at is None or at > conversation.last_customer_action_at:
        conversation.last_customer_action_at = at
        conversation.window_expires_at = at + STANDARD_WINDOW
        if save:
            conversation.save(update_fields=["last_customer_action_at", "window_expires_at"])
            realtime.conversation_changed(conversation, "conversation.updated")


def _echo_receive(*, inbox: Inbox, conversation: Conversation, incoming: InboundMessage, customer=None) -> Message | None:
    """A reply the business sent from the provider's own tool: an agent message, not a duplicate.

    Our own sends come back as echoes too; they carry our message id in `payload.metadata`
    (set at send time), so the row we already hold gets the provider id instead of a twin.
    """
    ours = _own_message_from_metadata(incoming.payload.get("metadata", ""), conversation)
    if ours is not None:
        if not ours.external_id:
            Message.objects.filter(pk=ours.pk, external_id__isnull=True).update(external_id=incoming.external_id)
        return None
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                inbox=inbox,
                direction=Direction.OUT,
                sender_type=SenderType.AGENT,
                text=incoming.text,
                attachments=incoming.attachments,
                external_id=incoming.external_id,
                status=MessageStatus.SENT,
                payload={**incoming.payload, "echo": True},
                created_at=incoming.timestamp,
                sent_at=incoming.timestamp,
            )
    except IntegrityError:
        return None
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _loaded_relations(locked, inbox=inbox, earlier=conversation, customer=customer)
    conversation = locked
    _conversation_note_outbound(conversation, at=incoming.timestamp, human=True)
    metrics.record_reply(message)
    realtime.message_changed(message, "message.created")
    realtime.conversation_changed(conversation, "conversation.updated")
    return message


def _own_message_from_metadata(metadata: str, conversation: Conversation) -> Message | None:
    prefix = "inbox-message:"
    if not isinstance(metadata, str) or not metadata.startswith(prefix):
        return None
    try:
        message_id = int(metadata[len(prefix):])
    except ValueError:
        return None
    return Message.objects.filter(pk=message_id, conversation=conversation, direction=Direction.OUT).first()


def _conversation_note_outbound(conversation: Conversation, *, at: datetime, human: bool) -> None:
    fields = ["last_message_at"]
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
    if human and conversation.waiting_since is not None:
        conversation.waiting_since = None
        conversation.unread_count = 0
        fields += ["waiting_since", "unread_count"]
    conversation.save(update_fields=fields)


def message_status_update(
    *, message: Message, status: str, at: datetime | None = None, error_code: str = "", error_detail: str = ""
) -> bool:
    """Move a message's status forward (never back); returns whether anything changed."""
    at = at or timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status == MessageStatus.FAILED or STATUS_RANK.get(status, -1) <= STATUS_RANK.get(message.status, -1):
            return False
        message.status = status
        fields = ["status"]
        stamp = {MessageStatus.SENT: "sent_at", MessageStatus.DELIVERED: "delivered_at", MessageStatus.READ: "read_at"}
        for reached, attr in stamp.items():
            if STATUS_RANK[reached] <= STATUS_RANK.get(status, -1) and getattr(message, attr) is None and status != MessageStatus.FAILED:
                setattr(message, attr, at)
                fields.append(attr)
        if status == MessageStatus.FAILED:
            message.error_code = str(error_code)[:32]
            message.error_detail = error_detail
            fields += ["error_code", "error_detail"]
        message.save(update_fields=fields)
        realtime.message_changed(message, "message.updated")
    return True


def messages_watermark(*, conversation: Conversation, status: str, watermark: datetime) -> int:
    """Meta delivery/read watermarks: every outbound message sent up to then has reached `status`."""
    candidates = list(
        Message.objects.filter(
            conversation=conversation,
            direction=Direction.OUT,
            is_private=False,
            created_at__lte=watermark,
            status__in=[s for s, r in STATUS_RANK.items() if r < STATUS_RANK[status] and s != MessageStatus.QUEUED],
        )
    )
    changed = 0
    for message in candidates:
        changed += message_status_update(message=message, status=status, at=watermark)
    return changed


def consent_from_keyword(*, conversation: Conversation, granted: bool, keyword: str, message_external_id: str) -> None:
    """SMS STOP/START: Twilio blocks (or unblocks) every message to this number, so both purposes change."""
    for purpose in (ConsentPurpose.TRANSACTIONAL, ConsentPurpose.MARKETING):
        consent_record(
            customer=conversation.customer,
            channel=conversation.channel,
            purpose=purpose,
            granted=granted,
            source="sms_keyword",
            proof={"keyword": keyword, "message": message_external_id, "inbox": conversation.inbox_id},
        )


# --- Outbound --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendPolicy:
    messaging_type: str
    tag: str


def reply_policy(*, conversation: Conversation, tag: str | None, sender_type: str, now: datetime) -> SendPolicy:
    """What Meta would accept for this reply now, or ReplyRefused (409 window_closed, 400 invalid_tag)."""
    if conversation.channel not in META_CHANNELS:
        if tag:
            raise ReplyRefused("invalid_tag", "Message tags exist only on Messenger and Instagram.", 400)
        return SendPolicy("", "")
    if tag and tag in RETIRED_TAGS:
        raise ReplyRefused("invalid_tag", f"Meta retired the {tag} tag on 2026-04-27; it can no longer be sent.", 400)
    if tag and tag != HUMAN_AGENT:
        raise ReplyRefused("invalid_tag", f"Unknown message tag {tag!r}; only HUMAN_AGENT is allowed.", 400)
    if tag == HUMAN_AGENT and sender_type != SenderType.AGENT:
        raise ReplyRefused("invalid_tag", "HUMAN_AGENT is for replies written by a person, never automation.", 400)
    state = conversation.window_state(now)
    if state == WindowState.OPEN:
        return SendPolicy("RESPONSE", "")
    if state == WindowState.HUMAN_AGENT and tag == HUMAN_AGENT:
        return SendPolicy("MESSAGE_TAG", HUMAN_AGENT)
    if state == WindowState.HUMAN_AGENT:
        raise ReplyRefused(
            "window_closed",
            "The 24-hour messaging window has closed; a human agent may still reply with the HUMAN_AGENT tag "
            "until 7 days after the customer's last message.",
            409,
        )
    raise ReplyRefused("window_closed", "The messaging window has closed: the customer must write first.", 409)


def reply_send(
    *,
    conversation: Conversation,
    author,
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
    limit = MAX_LENGTH.get(conversation.channel)
    if limit and len(text) > limit:
        raise ReplyRefused("too_long", f"{conversation.get_channel_display()} allows at most {limit} characters.", 400)
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
            from .comments import comment_reply_prepare

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
        _conversation_note_outbound(conversation, at=now, human=sender_type == SenderType.AGENT)
        realtime.message_changed(message, "message.created")
        realtime.conversation_changed(conversation, "conversation.updated")
        transaction.on_commit(lambda: message_dispatch(message.pk))
    return message


def note_add(*, conversation: Conversation, author, text: str) -> Message:
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
    from .tasks import message_send

    try:
        message_send.delay(message_id)
    except (BrokerError, ConnectionError, OSError):  # broker down: the queued row is the intent; the sweeper re-dispatches it
        logger.warning("broker unavailable; message %s left for the sweeper", message_id)


def _retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, capped at 10 minutes."""
    return random.uniform(0, min(600, 5 * 2**attempt))


def message_deliver(message_id: int) -> float | None:
    """Send a queued message once. Returns seconds until a retry is due, or None when done.

    The row lock is held across the provider call so a duplicate task waits and then sees the
    provider id; the id is committed the moment the provider answers. Only a process killed
    between the provider's answer and the commit can cause a second send.
    """
    from .providers import provider_for_channel

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
            result = provider_for_channel(message.conversation.channel).send(message)
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
        delay = _retry_delay(message.send_attempts)
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
        for purpose in (ConsentPurpose.TRANSACTIONAL, ConsentPurpose.MARKETING):
            consent_record(
                customer=conversation.customer,
                channel=conversation.channel,
                purpose=purpose,
                granted=False,
                source="provider_error",
                proof={"code": exc.code, "message": message.pk},
            )
    realtime.message_changed(message, "message.updated")
    return None
