"""Report data made through the inbox's own services: counted customer messages, agents' replies
(recorded as the send path records them), resolutions, labels and orders."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from customers.models import Order
from inbox import metrics
from inbox.conversations.receive import message_receive
from inbox.models import Conversation, Direction, Message, MessageStatus, SenderType
from inbox.providers.base import InboundMessage

_seq = itertools.count(1)


def customer_writes(inbox, who: str, at: datetime, text: str = "Where is my order?") -> Message:
    """A customer message at `at`; a conversation it opens is dated then too (as if it came in then)."""
    with transaction.atomic():
        message = message_receive(inbox=inbox, incoming=InboundMessage(
            channel=inbox.kind, inbox_external_id=inbox.external_id, customer_external_id=who,
            external_id=f"m_rep_{next(_seq)}", timestamp=at, text=text))
    Conversation.objects.filter(pk=message.conversation_id, created_at__gt=at).update(created_at=at)
    return message


def agent_replies(message: Message, agent, after: timedelta) -> Message:
    with transaction.atomic():
        return _reply(message, agent, after)


def _reply(message: Message, agent, after: timedelta) -> Message:
    reply = Message.objects.create(
        conversation_id=message.conversation_id, inbox_id=message.inbox_id, direction=Direction.OUT,
        sender_type=SenderType.AGENT, author=agent, text="On its way!", status=MessageStatus.SENT,
        created_at=message.created_at + after,
    )
    metrics.record_reply(reply)
    return reply


def resolve(message: Message, *, after: timedelta) -> Conversation:
    conversation = Conversation.objects.get(pk=message.conversation_id)
    Conversation.objects.filter(pk=conversation.pk).update(status="resolved", resolved_at=conversation.created_at + after)
    return conversation


def order(customer, at: datetime, total: str = "50.00", currency: str = "USD") -> Order:
    n = next(_seq)
    return Order.objects.create(customer=customer, external_id=f"o{n}", number=str(1000 + n), total=Decimal(total),
                                currency=currency, placed_at=at)
