"""Realtime frames are built from the rows in inbox/realtime/frames.py, without the REST layer,
and a browser treats a frame like a refetched row: for every state, the two must be equal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from customers.services import labels_for
from inbox.api.serializers import ConversationSerializer, MessageSerializer
from inbox.models import Conversation, ConversationStatus, Direction, Message, MessageStatus, SenderType
from inbox.realtime import frames

from ..api.conversation_factories import conversation_make, customer_says

pytestmark = pytest.mark.django_db


def _json(data) -> dict:
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_related("inbox", "customer").get(pk=conversation.pk)


@pytest.mark.parametrize("wrote_ago", [timedelta(hours=1), timedelta(days=3), timedelta(days=9), None])
def test_a_messenger_conversation_frame_equals_the_api_object_in_every_window_state(messenger_inbox, bob, wrote_ago):
    conversation = conversation_make(messenger_inbox, name="Ada", customer_wrote_ago=wrote_ago, assignee=bob,
                                     labels=["refund", "vip"], unread_count=2)
    fresh = _fresh(conversation)
    assert _json(frames.conversation_data(fresh)) == _json(ConversationSerializer(fresh).data)


def test_a_snoozed_email_thread_with_a_subject_frames_like_the_api(email_inbox):
    conversation = conversation_make(email_inbox, subject="Where is my parcel?", status=ConversationStatus.SNOOZED,
                                     snoozed_until=timezone.now() + timedelta(hours=3))
    customer_says(conversation, "hello")
    fresh = _fresh(conversation)
    data = _json(frames.conversation_data(fresh))
    assert data == _json(ConversationSerializer(fresh).data)
    assert data["window"] is None and data["subject"] == "Where is my parcel?"


def test_labels_given_by_the_caller_replace_the_rows_labels_in_the_frame(messenger_inbox):
    conversation = conversation_make(messenger_inbox, labels=["refund"])
    data = frames.conversation_data(_fresh(conversation), labels=list(labels_for(["shipping"])))
    assert data["labels"] == ["shipping"]


def test_message_frames_equal_the_api_object_for_customer_agent_and_failed_messages(messenger_inbox, bob):
    conversation = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(minutes=5))
    inbound = customer_says(conversation, "Can I change the size?")
    failed = Message.objects.create(
        conversation=conversation, inbox=messenger_inbox, direction=Direction.OUT, sender_type=SenderType.AGENT,
        author=bob, text="Sure", status=MessageStatus.FAILED, error_code="10",
        error_detail="Outside the allowed window", created_at=timezone.now(), tag="HUMAN_AGENT",
        attachments=[{"url": "https://cdn.example/a.png", "content_type": "image/png", "name": "a.png"}],
    )
    for message in (inbound, failed):
        fresh = Message.objects.select_related("conversation").get(pk=message.pk)
        assert _json(frames.message_data(fresh)) == _json(MessageSerializer(fresh).data)
    assert _json(frames.message_data(failed))["error"] == {"code": "10", "detail": "Outside the allowed window"}


def test_frames_go_to_the_conversation_its_inbox_its_team_and_its_assignee(messenger_inbox, bob):
    conversation = conversation_make(messenger_inbox, assignee=bob)
    assert frames.conversation_groups(conversation) == [
        f"conversation-{conversation.pk}", f"inbox-{messenger_inbox.pk}", f"team-{conversation.team_id}", f"user-{bob.pk}",
    ]
