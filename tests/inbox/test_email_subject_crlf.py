"""A line break in an email subject: refused at the API and by reply_send (campaigns too); a row that
holds one anyway fails for good at send instead of staying queued for ever."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from campaigns.models import CampaignSend, SendStatus
from campaigns.services import dispatch_due
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import message_deliver, reply_send
from inbox.intake.mailbox import email_store
from inbox.models import Direction, Message, MessageStatus, SenderType
from tests.campaigns.helpers import broadcast, reachable

pytestmark = pytest.mark.django_db

INBOUND = (
    "From: Jane Doe <jane.doe@example.com>\r\n"
    "To: support@shop.example\r\n"
    "Subject: Order #1001\r\n"
    "Message-ID: <first@mail.example>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Where is my lamp?\r\n"
)
NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def thread(email_inbox, commit):
    email_store(raw=INBOUND.encode(), esp="test", fallback_key="first")
    return Message.objects.get(email_message_id="<first@mail.example>").conversation


@pytest.mark.parametrize("subject", ["Your refund\r\nBcc: everyone@example.com", "line\none", "carriage\rreturn"])
def test_the_api_refuses_a_subject_with_a_line_break(api, bob, thread, subject):
    response = api(bob).post(
        f"/api/v1/conversations/{thread.pk}/messages/", {"text": "Done.", "subject": subject}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "subject" in response.json()["detail"]
    assert not Message.objects.filter(direction=Direction.OUT).exists()
    assert mail.outbox == []


def test_the_api_still_sends_a_one_line_subject(api, bob, thread):
    response = api(bob).post(
        f"/api/v1/conversations/{thread.pk}/messages/", {"text": "Done.", "subject": "Your refund"}, format="json"
    )

    assert response.status_code == 201
    assert [m.subject for m in mail.outbox] == ["Your refund"]


def test_reply_send_refuses_a_subject_with_a_line_break(bob, thread):
    with pytest.raises(ReplyRefused) as refused:
        reply_send(conversation=thread, author=bob, text="Done.", subject="Hi\r\nBcc: x@example.com")

    assert (refused.value.code, refused.value.status) == ("invalid", 400)
    assert not Message.objects.filter(direction=Direction.OUT).exists()


def test_a_campaign_whose_subject_renders_a_line_break_fails_that_send_and_queues_nothing(email_inbox, commit):
    with time_machine.travel(NOON, tick=False):
        reachable(email_inbox, "jane@example.com", name="Jane\r\nBcc: everyone@example.com")
        broadcast(email_inbox, subject="News for {{ customer.name }}")
        outcome = dispatch_due()

    assert outcome == {"failed:invalid": 1}
    assert CampaignSend.objects.get().status == SendStatus.FAILED
    assert not Message.objects.filter(direction=Direction.OUT).exists()
    assert mail.outbox == []


def test_a_row_with_a_line_break_in_its_subject_fails_for_good_at_send(thread):
    # A row stored before the checks above (or by code that skips reply_send).
    message = Message.objects.create(
        conversation=thread, inbox=thread.inbox, direction=Direction.OUT, sender_type=SenderType.AGENT,
        text="Done.", subject="Your refund\r\nBcc: everyone@example.com", status=MessageStatus.QUEUED,
        created_at=timezone.now(),
    )

    assert message_deliver(message.pk) is None

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "bad_header"
    assert message.next_attempt_at is None
    assert mail.outbox == []


def test_a_line_break_in_the_customers_own_subject_is_folded_into_one_line_of_our_reply(email_inbox, bob, commit):
    raw = INBOUND.replace("Subject: Order #1001", "Subject: =?utf-8?q?Order_#1001=0A_lamp?=").replace("first@", "enc@")
    email_store(raw=raw.encode(), esp="test", fallback_key="enc")
    thread = Message.objects.get(email_message_id="<enc@mail.example>").conversation

    message = reply_send(conversation=thread, author=bob, text="On its way.")

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert [m.subject for m in mail.outbox] == ["Re: Order #1001 lamp"]
