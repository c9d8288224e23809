"""Greeting and away messages: once, bot-sent, never counted as a response."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from inbox.models import Message, SenderType
from tests.conftest import load_fixture, post_meta

pytestmark = pytest.mark.django_db

# Thursday 2026-01-01 is a holiday below; Friday 2026-01-02 10:00 Paris is open.
HOURS = {"timezone": "Europe/Paris", "hours": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
OPEN_AT = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
CLOSED_AT = datetime(2026, 1, 2, 20, 0, tzinfo=UTC)


@pytest.fixture
def automated_inbox(messenger_inbox):
    messenger_inbox.settings = {
        "greeting": {"enabled": True, "text": "Hello! We usually answer within an hour."},
        "away": {"enabled": True, "text": "We're closed now and back at 9:00."},
        "business_hours": HOURS,
        "holidays": ["2026-01-01"],
    }
    messenger_inbox.save()
    return messenger_inbox


def customer_message(at: datetime, n: int):
    payload = copy.deepcopy(load_fixture("meta/messenger_text.json"))
    item = payload["entry"][0]["messaging"][0]
    item["timestamp"] = int(at.timestamp() * 1000)
    item["message"]["mid"] = f"m_test_{n}"
    return payload


def bot_texts():
    return list(Message.objects.filter(sender_type=SenderType.BOT).order_by("id").values_list("text", flat=True))


def test_the_greeting_goes_once_on_the_first_message_inside_business_hours(client, automated_inbox, fake_provider, commit):
    with time_machine.travel(OPEN_AT, tick=False):
        post_meta(client, customer_message(OPEN_AT, 1))
        post_meta(client, customer_message(OPEN_AT + timedelta(seconds=5), 2))
    assert bot_texts() == ["Hello! We usually answer within an hour."]
    greeting = Message.objects.get(sender_type=SenderType.BOT)
    assert greeting.tag == "" and greeting.status == "sent"
    # The customer still waits for a human: the greeting is not a response.
    assert greeting.conversation.waiting_since is not None
    assert len(fake_provider.sent("/messages$")) == 1


def test_the_away_message_goes_once_per_closed_period(client, automated_inbox, fake_provider, commit):
    with time_machine.travel(CLOSED_AT, tick=False):
        post_meta(client, customer_message(CLOSED_AT, 1))
        post_meta(client, customer_message(CLOSED_AT + timedelta(minutes=30), 2))
    assert bot_texts() == ["We're closed now and back at 9:00."]
    next_evening = CLOSED_AT + timedelta(days=3)  # Monday evening: another closed period
    with time_machine.travel(next_evening, tick=False):
        post_meta(client, customer_message(next_evening, 3))
    assert bot_texts() == ["We're closed now and back at 9:00."] * 2


def test_a_holiday_counts_as_closed(client, automated_inbox, fake_provider, commit):
    holiday_noon = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    with time_machine.travel(holiday_noon, tick=False):
        post_meta(client, customer_message(holiday_noon, 1))
    assert bot_texts() == ["We're closed now and back at 9:00."]


def test_nothing_is_sent_when_greeting_and_away_are_off(client, messenger_inbox, fake_provider, commit):
    with time_machine.travel(OPEN_AT, tick=False):
        post_meta(client, customer_message(OPEN_AT, 1))
    assert bot_texts() == []
