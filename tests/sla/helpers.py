"""Scripted histories through the real services: a customer writes, the page answers (an echo of a
reply typed in Meta's inbox: a human response), policies with known targets."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

from rest_framework.utils.encoders import JSONEncoder

from inbox.conversations.receive import message_receive
from inbox.models import Conversation, Message, SlaPolicy
from inbox.providers.base import InboundMessage

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
_seq = itertools.count(1)


def customer_writes(inbox, psid: str, at: datetime, text: str = "Hi, where is my order?") -> Message:
    message = message_receive(inbox=inbox, incoming=InboundMessage(
        channel=inbox.kind, inbox_external_id=inbox.external_id, customer_external_id=psid,
        external_id=f"m_in_{next(_seq)}", timestamp=at, text=text))
    assert message is not None
    return message


def page_replies(inbox, psid: str, at: datetime, text: str = "It ships today.") -> None:
    message_receive(inbox=inbox, incoming=InboundMessage(
        channel=inbox.kind, inbox_external_id=inbox.external_id, customer_external_id=psid,
        external_id=f"m_echo_{next(_seq)}", timestamp=at, text=text, is_echo=True, is_customer_action=False))


def make_policy(name: str = "Standard", **fields) -> SlaPolicy:
    fields.setdefault("first_response_seconds", 900)
    fields.setdefault("next_response_seconds", 1800)
    fields.setdefault("resolution_seconds", 86400)
    fields.setdefault("warn_before_seconds", 300)
    return SlaPolicy.objects.create(name=name, **fields)


def fresh(conversation_or_id) -> Conversation:
    pk = getattr(conversation_or_id, "pk", conversation_or_id)
    return Conversation.objects.select_related("inbox", "customer").get(pk=pk)


def as_json(data) -> dict:
    return json.loads(json.dumps(data, cls=JSONEncoder))
