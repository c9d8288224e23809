"""Frames of an inbound message: the API's shapes, read from the rows as they were committed.

message_receive hands the frames the inbox, customer and (for a new conversation) the labels it
already read; what browsers get must be exactly what the REST API would answer for the same rows.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from customers.models import Customer, Label
from customers.services import identity_resolve
from inbox.api.serializers import ConversationSerializer, MessageSerializer
from inbox.conversations.receive import message_receive
from inbox.conversations.threads import conversation_for_identity
from inbox.models import Conversation, ConversationStatus, Message, ResponseRecord
from inbox.providers.base import InboundMessage
from inbox.realtime import publish as realtime

from ..conftest import PAGE_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def frames(monkeypatch):
    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(realtime, "_send", lambda groups, frame: sent.append((groups, frame)))
    return sent


def _api(data) -> dict:
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _incoming(mid: str, psid: str = "7001", text: str = "hello", at=None, name: str = "") -> InboundMessage:
    return InboundMessage(
        channel="messenger", inbox_external_id=PAGE_ID, customer_external_id=psid, external_id=mid,
        timestamp=at or timezone.now(), text=text, customer_name=name,
    )


def _receive(inbox, incoming) -> tuple[Message, list[str]]:
    """Receive in a transaction; returns the message and the queries run after it committed."""
    with CaptureQueriesContext(connection) as ctx:
        with transaction.atomic():
            message = message_receive(inbox=inbox, incoming=incoming)
            mark = len(ctx.captured_queries)
    after = [q["sql"] for q in ctx.captured_queries[mark:] if "SAVEPOINT" not in q["sql"]]
    return message, after


def test_a_first_message_sends_the_api_shapes_and_reads_nothing_after_commit(commit, frames, messenger_inbox):
    message, after = _receive(messenger_inbox, _incoming("m_frames_1", name="Ada"))

    assert [f["type"] for _, f in frames] == ["conversation.created", "message.created", "conversation.updated"]
    conversation = Conversation.objects.get(pk=message.conversation_id)
    by_type = {f["type"]: f for _, f in frames}
    assert _api(by_type["conversation.updated"]["conversation"]) == _api(ConversationSerializer(conversation).data)
    assert by_type["conversation.updated"]["conversation"]["unread_count"] == 1
    assert by_type["conversation.updated"]["conversation"]["customer"]["name"] == "Ada"
    assert by_type["conversation.updated"]["conversation"]["labels"] == []
    assert _api(by_type["message.created"]["message"]) == _api(MessageSerializer(Message.objects.get(pk=message.pk)).data)
    created = by_type["conversation.created"]["conversation"]
    assert created["id"] == conversation.pk and created["labels"] == [] and created["unread_count"] == 0
    assert created["inbox"] == {"id": messenger_inbox.pk, "kind": "messenger", "name": messenger_inbox.name}
    # Frames and the greeting/bot/assignment hooks (all off on this inbox) asked the database nothing more.
    assert after == []
    # The response record of the first message was opened, as before.
    assert ResponseRecord.objects.filter(customer_message=message).count() == 1


def test_a_message_in_a_labelled_conversation_shows_its_current_labels_and_count(commit, frames, messenger_inbox):
    identity = identity_resolve(channel="messenger", scope=PAGE_ID, external_id="7002").identity
    conversation = conversation_for_identity(inbox=messenger_inbox, identity=identity)
    conversation.labels.set([Label.objects.create(name="vip"), Label.objects.create(name="refund")])
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=4, status=ConversationStatus.RESOLVED)
    Customer.objects.filter(pk=identity.customer_id).update(name="Grace")
    frames.clear()

    message, _ = _receive(messenger_inbox, _incoming("m_frames_2", psid="7002"))

    conversation.refresh_from_db()
    updated = next(f for _, f in frames if f["type"] == "conversation.updated")
    assert _api(updated["conversation"]) == _api(ConversationSerializer(conversation).data)
    assert updated["conversation"]["labels"] == ["refund", "vip"]
    assert updated["conversation"]["unread_count"] == 5 == conversation.unread_count
    assert updated["conversation"]["status"] == "open"
    assert updated["conversation"]["customer"]["name"] == "Grace"
    assert not [f for _, f in frames if f["type"] == "conversation.created"]


def test_unread_count_adds_up_over_messages_and_response_records_follow_the_silence_rule(commit, frames, messenger_inbox):
    start = timezone.now() - timedelta(days=3)
    _receive(messenger_inbox, _incoming("m_frames_3a", psid="7003", at=start))
    _receive(messenger_inbox, _incoming("m_frames_3b", psid="7003", at=start + timedelta(minutes=5)))
    third, _ = _receive(messenger_inbox, _incoming("m_frames_3c", psid="7003", at=start + timedelta(days=2)))

    conversation = Conversation.objects.get(pk=third.conversation_id)
    assert conversation.unread_count == 3
    counted = ResponseRecord.objects.filter(conversation=conversation).values_list("customer_message__external_id", flat=True)
    # The second came within 24 h of the first: it does not count; the third, after 2 days of silence, does.
    assert sorted(counted) == ["m_frames_3a", "m_frames_3c"]
    assert [f["conversation"]["unread_count"] for _, f in frames if f["type"] == "conversation.updated"] == [1, 2, 3]


def test_the_caller_conversation_keeps_reading_its_labels(commit, frames, messenger_inbox):
    """The frame of a new conversation knows it has no labels; the object callers get still asks."""
    identity = identity_resolve(channel="messenger", scope=PAGE_ID, external_id="7004").identity
    conversation = conversation_for_identity(inbox=messenger_inbox, identity=identity)
    Conversation.labels.through.objects.create(conversation=conversation, label=Label.objects.create(name="late"))

    assert [label.name for label in conversation.labels.all()] == ["late"]
