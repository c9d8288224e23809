"""Conversations in a known state for the API tests, made through the core's own services."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from customers.services import identity_resolve
from inbox.conversations.threads import conversation_for_identity
from inbox.models import META_CHANNELS, Conversation, Direction, Inbox, Message, MessageStatus, SenderType

_seq = itertools.count(1)


def conversation_make(inbox: Inbox, *, name: str = "", customer_wrote_ago: timedelta | None = None, **fields) -> Conversation:
    """A thread in `inbox` with a new customer; `customer_wrote_ago` sets the Meta window's start."""
    n = next(_seq)
    external_id = {
        "sms": f"+1415555{n:04d}",
        "email": f"customer{n}@mail.example",
    }.get(inbox.kind, f"24670010{n:08d}")
    scope = inbox.external_id if inbox.kind in META_CHANNELS else ""
    identity = identity_resolve(channel=inbox.kind, scope=scope, external_id=external_id, display_name=name).identity
    conversation = conversation_for_identity(inbox=inbox, identity=identity)
    if customer_wrote_ago is not None:
        at = timezone.now() - customer_wrote_ago
        fields.setdefault("last_customer_action_at", at)
        if inbox.kind in META_CHANNELS:
            fields.setdefault("window_expires_at", at + timedelta(hours=24))
        fields.setdefault("last_message_at", at)
    labels = fields.pop("labels", None)
    for attr, value in fields.items():
        setattr(conversation, attr, value)
    conversation.save()
    if labels:
        from customers.services import labels_for

        conversation.labels.set(labels_for(labels))
    return conversation


def customer_says(conversation: Conversation, text: str, *, at: datetime | None = None) -> Message:
    return Message.objects.create(
        conversation=conversation,
        inbox=conversation.inbox,
        direction=Direction.IN,
        sender_type=SenderType.CUSTOMER,
        text=text,
        status=MessageStatus.RECEIVED,
        external_id=f"m_in_{next(_seq):08d}",
        created_at=at or timezone.now(),
    )
