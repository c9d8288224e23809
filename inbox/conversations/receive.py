"""Receiving: a customer's message (or an echo of a business reply) stored once on its thread,
status updates moving forward, delivery/read watermarks, and SMS keywords as consent.

Intake handlers (inbox/intake/) call these with what the provider parsed; they own the
transactions and publish the realtime frames of what they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from customers.services import ResolvedIdentity, consent_withdraw_or_grant, identity_resolve
from inbox import metrics, signals, versions
from inbox.conversations import languages, profiles
from inbox.conversations.threads import conversation_find_or_create, loaded_relations, note_inbound, note_outbound
from inbox.csat import answers as csat_answers
from inbox.models import (
    META_CHANNELS,
    STATUS_RANK,
    Conversation,
    Direction,
    Inbox,
    Message,
    MessageStatus,
    SenderType,
)
from inbox.providers.base import InboundMessage
from inbox.realtime import publish as realtime


@dataclass
class Known:
    """What a batch of events (inbox/intake/batch.py) read at once for a customer message, so that
    message_receive asks none of it again. The batch holds the row locks of the conversations it
    read, and keeps these facts current from one message of a conversation to the next.

    - the message is not held yet (the batch asked for all of its messages at once);
    - `identity`: the sender's, resolved;
    - `conversation`: their thread, locked in this transaction (`conversation_created`: made in it);
    - `survey_possible`: whether `survey_reply_of` could find a survey this message answers;
    - `previous_known`, `previous`: the time of the thread's latest message (None: none), when this
      message is not earlier than it (so none is later); else the metrics ask themselves.
    """

    identity: ResolvedIdentity
    conversation: Conversation
    conversation_created: bool = False
    survey_possible: bool = True
    previous_known: bool = False
    previous: datetime | None = None


def message_receive(
    *, inbox: Inbox, incoming: InboundMessage, conversation: Conversation | None = None, known: Known | None = None
) -> Message | None:
    """Store an inbound customer message (or an echo of a business reply) once; None if already held.

    `known`: what a batch of events already read for it (see Known); a conflict on the message's
    unique id then fails the caller's transaction, which processes its events one by one instead.
    """
    if known is None and Message.objects.filter(inbox=inbox, external_id=incoming.external_id).exists():
        return None
    customer = None
    conversation_created = False
    locked = False
    if conversation is None:
        scope = inbox.external_id if inbox.kind in META_CHANNELS else ""
        resolved = known.identity if known is not None else identity_resolve(
            channel=inbox.kind, scope=scope, external_id=incoming.customer_external_id, display_name=incoming.customer_name
        )
        if known is not None:
            conversation, conversation_created, locked = known.conversation, known.conversation_created, True
        else:
            conversation, conversation_created = conversation_find_or_create(
                inbox=inbox, identity=resolved.identity, subject=incoming.subject
            )
        customer = resolved.identity.customer
        if not incoming.is_echo:  # the person wrote: Meta now lets the page read their name
            profiles.meta_profile_schedule(inbox=inbox, identity=resolved.identity)
    if incoming.is_echo:
        return _echo_receive(inbox=inbox, conversation=conversation, incoming=incoming, customer=customer)
    if incoming.language:  # the provider named the message's language (an email's Content-Language)
        customer = customer if customer is not None else conversation.customer
        languages.customer_language_learn(customer=customer, language=incoming.language)

    # A rating or comment answering the thread's satisfaction survey (a new thread has none).
    survey_reply = None if conversation_created or (known is not None and not known.survey_possible) else (
        csat_answers.survey_reply_of(conversation=conversation, incoming=incoming))
    payload = incoming.payload if survey_reply is None else {**incoming.payload, "csat": survey_reply.as_payload()}
    stored = _message_store(
        conversation=conversation,
        inbox=inbox,
        customer=customer,
        direction=Direction.IN,
        sender_type=SenderType.CUSTOMER,
        text=incoming.text,
        html=incoming.html,
        subject=incoming.subject[:300],
        attachments=incoming.attachments,
        external_id=incoming.external_id,
        status=MessageStatus.RECEIVED,
        payload=payload,
        segments=incoming.segments,
        encoding=incoming.encoding,
        email_message_id=incoming.email_message_id,
        email_in_reply_to=incoming.email_in_reply_to,
        email_references=incoming.email_references,
        created_at=incoming.timestamp,
        language=incoming.language,
        locked=locked,
    )
    if stored is None:
        return None  # the same event, delivered concurrently, got there first
    message, conversation = stored
    answered = survey_reply is not None
    note_inbound(conversation, at=incoming.timestamp, expects_answer=not answered, customer_action=incoming.is_customer_action, message=message)
    # The message was made just now (so has no record yet); in a conversation made just now, it is the only one.
    metrics.record_inbound(message, conversation=conversation, new_message=True, only_message=conversation_created,
                           previous_known=known is not None and known.previous_known,
                           previous=known.previous if known is not None else None)
    # A conversation made in this transaction has no labels yet (nobody could label it).
    _published(message, conversation, labels=[] if conversation_created else None)
    # Auto-replies and bounces (RFC 3834) are kept on the record but set nothing off: answering
    # an out-of-office with a greeting is how mail loops start.
    if survey_reply is not None:
        # An answer to a survey is recorded and sets nothing off either: the conversation stays
        # resolved, no greeting, away message or auto-assignment answers a "5", and it never counts
        # in the responsiveness figures (inbox/metrics.py skips `csat` messages).
        csat_answers.survey_reply_record(survey_reply, at=incoming.timestamp, message=message)
    elif not incoming.payload.get("auto_submitted"):
        # SLA clocks and automation rules (reopening a resolved thread is one), in this transaction.
        with versions.checked_once():  # the receivers' cached rules and policies: one version check
            if conversation_created:
                signals.conversation_changed_send(conversation, "conversation.created", message=message)
            signals.conversation_changed_send(conversation, "message.received", message=message)
        transaction.on_commit(lambda: signals.message_received.send(sender=Message, message=message))
    return message


def _message_store(
    *, conversation: Conversation, inbox: Inbox, customer: Customer | None, language: str = "", locked: bool = False,
    **fields: Any,
) -> tuple[Message, Conversation] | None:
    """Create the message once (None when a concurrent delivery of the same event got there first)
    and lock its conversation, which then holds the inbox and customer this call already read.
    Its search configuration follows its language (`language`, else the customer's: conversations/languages.py).

    `locked`: the caller (a batch) holds the conversation's lock already and takes a conflict as the
    failure of its whole transaction: no savepoint, no second read of the row."""
    fields["search_config"] = languages.message_search_config(
        text=fields.get("text") or "", customer=customer if customer is not None else conversation.customer,
        language=language,
    )
    if locked:
        message = Message.objects.create(conversation=conversation, inbox=inbox, **fields)
        loaded_relations(conversation, inbox=inbox, earlier=conversation, customer=customer)
        return message, conversation
    try:
        with transaction.atomic():
            message = Message.objects.create(conversation=conversation, inbox=inbox, **fields)
    except IntegrityError:
        return None
    locked_conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    loaded_relations(locked_conversation, inbox=inbox, earlier=conversation, customer=customer)
    return message, locked_conversation


def _published(message: Message, conversation: Conversation, *, labels: list | None = None) -> None:
    realtime.message_changed(message, "message.created")
    realtime.conversation_changed(conversation, "conversation.updated", labels=labels)


def _echo_receive(
    *, inbox: Inbox, conversation: Conversation, incoming: InboundMessage, customer: Customer | None = None
) -> Message | None:
    """A reply the business sent from the provider's own tool: an agent message, not a duplicate.

    Our own sends come back as echoes too; they carry our message id in `payload.metadata`
    (set at send time), so the row we already hold gets the provider id instead of a twin.
    """
    ours = _own_message(incoming, conversation)
    if ours is not None:
        _own_echo_settle(ours.pk, incoming)
        return None
    stored = _message_store(
        conversation=conversation,
        inbox=inbox,
        customer=customer,
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
    if stored is None:
        return None
    message, conversation = stored
    note_outbound(conversation, at=incoming.timestamp, human=True, message=message)
    metrics.record_reply(message)
    signals.conversation_changed_send(conversation, "reply.sent", message=message)
    _published(message, conversation)
    return message


def _own_echo_settle(message_id: int, incoming: InboundMessage) -> None:
    """The echo of our own send proves it went out: a row whose send was interrupted before the
    provider's answer was recorded (a worker killed mid-send) is settled as sent with the echo's
    id, so the send path never sends it again (conversations/reply.py waits for this echo).
    An echo of an attachment sent ahead of the text only marks that part delivered."""
    with transaction.atomic():
        # Waits for a send in progress to commit its own answer (it holds the row's lock).
        message = Message.objects.select_for_update(of=("self",)).filter(pk=message_id).first()
        if message is None or message.external_id:
            return
        if incoming.own_message_part is not None:
            parts = dict((message.payload or {}).get("parts_delivered") or {})
            parts[str(incoming.own_message_part)] = incoming.external_id
            message.payload = {**(message.payload or {}), "parts_delivered": parts}
            message.save(update_fields=["payload"])
            return
        message.external_id = incoming.external_id
        fields = ["external_id"]
        settled = message.status in (MessageStatus.QUEUED, MessageStatus.FAILED)
        if settled:
            message.status = MessageStatus.SENT
            message.sent_at = message.sent_at or incoming.timestamp
            message.next_attempt_at = None
            message.send_started_at = None
            message.error_code = ""
            message.error_detail = ""
            fields += ["status", "sent_at", "next_attempt_at", "send_started_at", "error_code", "error_detail"]
        message.save(update_fields=fields)
        if settled:
            metrics.record_reply(message)
            signals.conversation_changed_send(message.conversation, "reply.sent", message=message)
            realtime.message_changed(message, "message.updated")


def _own_message(incoming: InboundMessage, conversation: Conversation) -> Message | None:
    if incoming.own_message_id is None:
        return None
    return Message.objects.filter(pk=incoming.own_message_id, conversation=conversation, direction=Direction.OUT).first()


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


def consent_from_keyword(
    *, conversation: Conversation, granted: bool, keyword: str, message_external_id: str | None
) -> None:
    """SMS STOP/START: Twilio blocks (or unblocks) every message to this number, so both purposes change."""
    consent_withdraw_or_grant(
        customer=conversation.customer,
        channel=conversation.channel,
        granted=granted,
        source="sms_keyword",
        proof={"keyword": keyword, "message": message_external_id, "inbox": conversation.inbox_id},
    )
