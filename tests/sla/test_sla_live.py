"""A conversation's live SLA state: which policy applies, its clocks as messages come and go, the
`sla` object in the API and in frames (equal), and the list's `sla` filter and `sla_due_at` order."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from inbox.api.serializers import ConversationSerializer
from inbox.conversations.reply import message_deliver, reply_send
from inbox.conversations.triage import conversation_update
from inbox.models import ConversationStatus, SlaClock
from inbox.realtime import frames

from .helpers import T0, as_json, customer_writes, fresh, make_policy, page_replies

pytestmark = pytest.mark.django_db


def targets(conversation) -> dict:
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        data = ConversationSerializer(fresh(conversation)).data["sla"]
    return {t["target"]: t for t in data["targets"]} if data else {}


def test_a_customer_message_starts_first_response_and_resolution_clocks_shown_on_the_conversation(messenger_inbox):
    policy = make_policy()
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-1", T0)
    conversation = fresh(message.conversation_id)
    assert conversation.sla_policy == policy and conversation.sla_policy_source == "match"
    assert conversation.sla_next_due_at == T0 + timedelta(minutes=15)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        sla = as_json(ConversationSerializer(conversation).data)["sla"]
    assert sla["policy"] == {"id": policy.pk, "name": "Standard"}
    first, resolution = sla["targets"]
    assert (first["target"], first["status"], first["breached"], first["seconds_left"]) == ("first_response", "running", False, 300)
    assert resolution["target"] == "resolution" and resolution["due_at"].startswith("2026-11-17T09:00:00")


def test_the_frame_of_a_conversation_carries_the_same_sla_as_the_api_even_when_breached(messenger_inbox):
    make_policy()
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-2", T0)
    conversation = fresh(message.conversation_id)
    with time_machine.travel(T0 + timedelta(minutes=40), tick=False):
        frame, api = as_json(frames.conversation_data(conversation)), as_json(ConversationSerializer(conversation).data)
    assert frame == api
    first = frame["sla"]["targets"][0]
    assert first["breached"] is True and first["breached_by_seconds"] == 25 * 60 and frame["sla"]["breached"] is True


def test_a_human_reply_meets_the_first_response_and_the_next_customer_message_starts_the_next(messenger_inbox, commit):
    make_policy()
    message = customer_writes(messenger_inbox, "psid-3", T0)
    page_replies(messenger_inbox, "psid-3", T0 + timedelta(minutes=5))
    got = targets(message.conversation)
    assert got["first_response"]["status"] == "met" and got["first_response"]["breached"] is False
    assert "next_response" not in got
    customer_writes(messenger_inbox, "psid-3", T0 + timedelta(minutes=20))
    customer_writes(messenger_inbox, "psid-3", T0 + timedelta(minutes=25))  # the same wait
    conversation = fresh(message.conversation_id)
    assert conversation.sla_next_due_at == T0 + timedelta(minutes=50)
    assert SlaClock.objects.filter(conversation=conversation, target="next_response").count() == 1


def test_a_bot_reply_answers_no_target(messenger_inbox, fake_provider, commit):
    make_policy()
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-4", T0)
        bot = reply_send(conversation=message.conversation, author=None, text="We answer within the hour.", sender_type="bot")
        message_deliver(bot.pk)
    assert fresh(message.conversation_id).sla_next_due_at == T0 + timedelta(minutes=15)
    assert targets(message.conversation)["first_response"]["status"] == "running"


def test_an_agents_reply_counts_once_the_provider_took_it(messenger_inbox, bob, fake_provider, commit):
    make_policy()
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-5", T0)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        reply_send(conversation=message.conversation, author=bob, text="On it!")
    clock = SlaClock.objects.get(conversation_id=message.conversation_id, target="first_response")
    assert (clock.met_at, clock.met_by) == (T0 + timedelta(minutes=3), bob)


def test_the_most_specific_policy_wins_a_label_over_a_customer_tag_over_an_inbox_over_a_channel(messenger_inbox, bob):
    make_policy("Messenger", channels=["messenger"], first_response_seconds=3600)
    make_policy("This page", inboxes=[messenger_inbox.pk], first_response_seconds=1800)
    make_policy("VIP customers", customer_tags=["vip"], first_response_seconds=600)
    make_policy("Urgent label", labels=["urgent"], first_response_seconds=120)
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-6", T0)
    conversation = fresh(message.conversation_id)
    assert conversation.sla_state["policy"]["name"] == "This page"
    from customers.services import labels_for

    conversation.customer.labels.set(labels_for(["vip"]))
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        customer_writes(messenger_inbox, "psid-6", T0 + timedelta(minutes=1))
    assert fresh(conversation).sla_state["policy"]["name"] == "VIP customers"
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        conversation_update(conversation=conversation, by=bob, labels=["urgent"])
    conversation = fresh(conversation)
    assert conversation.sla_state["policy"]["name"] == "Urgent label"
    # The clock started with the first message, whatever policy applies now.
    assert conversation.sla_next_due_at == T0 + timedelta(minutes=2)


def test_resolving_ends_the_clocks_and_the_customer_writing_again_starts_new_ones(messenger_inbox, bob):
    make_policy()
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-7", T0)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        conversation_update(conversation=message.conversation, by=bob, status=ConversationStatus.RESOLVED)
    conversation = fresh(message.conversation_id)
    assert conversation.sla_next_due_at is None
    first = SlaClock.objects.get(conversation=conversation, target="first_response")
    assert first.stopped_at == T0 + timedelta(minutes=30) and first.met_at is None
    assert SlaClock.objects.get(conversation=conversation, target="resolution").met_by == bob
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        customer_writes(messenger_inbox, "psid-7", T0 + timedelta(hours=2))
    conversation = fresh(conversation)
    assert conversation.status == ConversationStatus.OPEN  # the default rule reopened it
    assert conversation.sla_next_due_at == T0 + timedelta(hours=2, minutes=30)  # next response, 30 min
    assert SlaClock.objects.filter(conversation=conversation, target="resolution").count() == 2


def test_no_policy_means_no_sla_and_no_clocks(messenger_inbox):
    message = customer_writes(messenger_inbox, "psid-8", T0)
    conversation = fresh(message.conversation_id)
    assert ConversationSerializer(conversation).data["sla"] is None
    assert not SlaClock.objects.exists()


def test_the_list_filters_due_within_an_hour_and_breached_and_sorts_by_the_due_time(api, bob, messenger_inbox):
    make_policy(first_response_seconds=3600)
    with time_machine.travel(T0, tick=False):
        late = customer_writes(messenger_inbox, "psid-a", T0 - timedelta(hours=2)).conversation_id  # due T0-1h
        soon = customer_writes(messenger_inbox, "psid-b", T0 - timedelta(minutes=30)).conversation_id  # due T0+30m
        later = customer_writes(messenger_inbox, "psid-c", T0 + timedelta(minutes=30)).conversation_id  # due T0+1h30
        customer_writes(messenger_inbox, "psid-d", T0)  # due T0+1h: not within the hour
        quiet = customer_writes(messenger_inbox, "psid-e", T0).conversation_id
        conversation_update(conversation=fresh(quiet), by=bob, status=ConversationStatus.RESOLVED)
        client = api(bob)

        def ids(**params) -> list[int]:
            response = client.get("/api/v1/conversations/", {"status": "", **params})
            assert response.status_code == 200, response.content
            return [c["id"] for c in response.json()["results"]]

        assert ids(sla="breached") == [late]
        assert ids(sla="due_1h") == [soon]
        ordered = ids(ordering="sla_due_at")
        assert ordered[:2] == [late, soon] and ordered.index(later) == 3 and ordered[-1] == quiet
        page = client.get("/api/v1/conversations/", {"status": "", "ordering": "sla_due_at", "page_size": 2}).json()
        rest = client.get(page["next"]).json()
        assert [c["id"] for c in page["results"] + rest["results"]] == ordered[:4]
        assert client.get("/api/v1/conversations/", {"sla": "soon"}).status_code == 400
