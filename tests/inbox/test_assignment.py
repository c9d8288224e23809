"""Assignment: round-robin under capacity, the unassigned queue, availability, history, concurrency."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from inbox.conversations.receive import message_receive
from inbox.conversations.reply import note_add
from inbox.conversations.triage import conversation_update
from inbox.models import Agent, Conversation, ConversationEvent, Notification, Role
from inbox.providers.base import InboundMessage
from inbox.team import assignment
from inbox.team.assignment import (
    AssignmentRefused,
    agent_availability_set,
    agent_presence_connected,
    agent_presence_disconnected,
    conversation_assign,
    conversation_auto_assign,
    unassigned_queue_drain,
)
from tests.api.conversation_factories import conversation_make
from tests.conftest import PAGE_ID, make_user


def agent(user) -> Agent:
    return Agent.objects.get(user=user)


def set_agent(user, **fields) -> None:
    Agent.objects.filter(user=user).update(**fields)


def waiting(inbox, n: int, *, start_minutes_ago: int = 600) -> list[Conversation]:
    """`n` unassigned conversations, the first waiting longest."""
    now = timezone.now()
    return [
        conversation_make(inbox, waiting_since=now - timedelta(minutes=start_minutes_ago - i)) for i in range(n)
    ]


def assignee_of(conversation) -> int | None:
    return Conversation.objects.values_list("assignee_id", flat=True).get(pk=conversation.pk)


@pytest.fixture
def auto_inbox(messenger_inbox):
    messenger_inbox.settings = {"auto_assign": True}
    messenger_inbox.save()
    return messenger_inbox


@pytest.fixture
def dave(team_a):
    return make_user("dave", Role.AGENT, [team_a])


@pytest.fixture
def erin(team_a):
    return make_user("erin", Role.AGENT, [team_a])


@pytest.fixture
def lead(team_a):
    return make_user("lena", Role.LEAD, [team_a])


def inbound(conversation, text: str = "Hi, where is my order?") -> InboundMessage:
    return InboundMessage(
        channel="messenger",
        inbox_external_id=PAGE_ID,
        customer_external_id=conversation.identity.external_id,
        external_id=f"m_{time.monotonic_ns()}",
        timestamp=timezone.now(),
        text=text,
    )


# --- Round-robin and capacity -----------------------------------------------------------------------


@pytest.mark.django_db
def test_round_robin_gives_every_available_agent_the_same_share_over_many_conversations(auto_inbox, alice, bob, dave, erin):
    conversations = waiting(auto_inbox, 30)
    owners = [conversation_auto_assign(conversation=c).username for c in conversations]

    assert Counter(owners) == {"bob": 10, "dave": 10, "erin": 10}
    # A strict rotation: nobody gets a second conversation before everyone has had one.
    for i in range(0, 30, 3):
        assert sorted(owners[i : i + 3]) == ["bob", "dave", "erin"]
    assert "alice" not in owners  # managers triage; the round-robin never picks them


@pytest.mark.django_db
def test_the_least_loaded_agent_breaks_a_tie_in_the_rotation(auto_inbox, bob, dave):
    busy_with = waiting(auto_inbox, 2)
    Conversation.objects.filter(pk__in=[c.pk for c in busy_with]).update(assignee=bob)  # same turn, more load

    [new] = waiting(auto_inbox, 1)
    assert conversation_auto_assign(conversation=new) == dave


@pytest.mark.django_db
def test_capacity_is_respected_and_the_rest_wait_in_the_queue(auto_inbox, team_a, bob, dave):
    set_agent(bob, capacity=2)  # dave has none of his own: the team default applies
    team_a.default_capacity = 1
    team_a.save()
    conversations = waiting(auto_inbox, 5)

    results = [conversation_auto_assign(conversation=c) for c in conversations]

    assert Counter(u.username for u in results if u) == {"bob": 2, "dave": 1}
    assert Conversation.objects.filter(inbox=auto_inbox, assignee=None).count() == 2


@pytest.mark.django_db
def test_resolved_and_snoozed_conversations_do_not_count_against_capacity(auto_inbox, bob):
    set_agent(bob, capacity=1)
    done = waiting(auto_inbox, 2)
    Conversation.objects.filter(pk=done[0].pk).update(assignee=bob, status="resolved")
    Conversation.objects.filter(pk=done[1].pk).update(assignee=bob, status="snoozed")

    [new] = waiting(auto_inbox, 1)
    assert conversation_auto_assign(conversation=new) == bob


@pytest.mark.django_db
def test_only_online_agents_receive_automatic_assignments(auto_inbox, bob, dave, erin, lead):
    set_agent(bob, availability="busy")
    set_agent(dave, availability="away")
    conversations = waiting(auto_inbox, 4)

    owners = {conversation_auto_assign(conversation=c) for c in conversations}

    assert owners == {erin, lead}


@pytest.mark.django_db
def test_agents_of_another_team_are_never_auto_assigned(auto_inbox, charlie):
    [conversation] = waiting(auto_inbox, 1)
    assert conversation_auto_assign(conversation=conversation) is None
    assert assignee_of(conversation) is None


@pytest.mark.django_db
def test_an_assigned_conversation_is_left_alone_by_auto_assignment(auto_inbox, bob, dave):
    [conversation] = waiting(auto_inbox, 1)
    conversation_assign(conversation=conversation, assignee=dave, by=None)

    assert conversation_auto_assign(conversation=conversation) is None
    assert assignee_of(conversation) == dave.pk


# --- Hooks: new messages, resolve, customer replies ---------------------------------------------------


@pytest.mark.django_db
def test_a_new_customer_message_is_auto_assigned_in_an_auto_assign_inbox(
    auto_inbox, bob, django_capture_on_commit_callbacks
):
    [conversation] = waiting(auto_inbox, 1)
    with django_capture_on_commit_callbacks(execute=True):
        message_receive(inbox=auto_inbox, incoming=inbound(conversation))

    assert assignee_of(conversation) == bob.pk


@pytest.mark.django_db
def test_an_inbox_without_auto_assign_leaves_new_conversations_in_the_queue(
    messenger_inbox, bob, django_capture_on_commit_callbacks
):
    [conversation] = waiting(messenger_inbox, 1)
    with django_capture_on_commit_callbacks(execute=True):
        message_receive(inbox=messenger_inbox, incoming=inbound(conversation))

    assert assignee_of(conversation) is None


@pytest.mark.django_db
def test_a_customer_reply_keeps_the_assignee(auto_inbox, bob, dave, django_capture_on_commit_callbacks):
    [conversation] = waiting(auto_inbox, 1)
    conversation_assign(conversation=conversation, assignee=dave, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        message_receive(inbox=auto_inbox, incoming=inbound(conversation, "Any news?"))

    assert assignee_of(conversation) == dave.pk


@pytest.mark.django_db
def test_an_inbox_that_opts_in_unassigns_on_resolve_and_the_freed_agent_takes_the_oldest_waiting_conversation(
    auto_inbox, bob, django_capture_on_commit_callbacks
):
    auto_inbox.settings["unassign_on_resolve"] = True
    auto_inbox.save()
    set_agent(bob, capacity=1)
    first, older, newer = waiting(auto_inbox, 3)
    Conversation.objects.filter(pk=first.pk).update(waiting_since=None)
    conversation_auto_assign(conversation=first)
    Conversation.objects.filter(pk=newer.pk).update(waiting_since=timezone.now() - timedelta(minutes=1))
    Conversation.objects.filter(pk=older.pk).update(waiting_since=timezone.now() - timedelta(hours=3))
    assert assignee_of(first) == bob.pk

    with django_capture_on_commit_callbacks(execute=True):
        conversation_update(conversation=first, by=bob, status="resolved")

    assert assignee_of(first) is None
    assert assignee_of(older) == bob.pk
    assert assignee_of(newer) is None
    unassigned = ConversationEvent.objects.filter(conversation=first, kind="assigned").last()
    assert unassigned.data == {"from": bob.pk, "to": None, "reason": "resolved"}
    # The inbox's setting unassigned it, not Bob: the history must not say he did.
    assert unassigned.actor is None


@pytest.mark.django_db
def test_resolving_keeps_the_assignee_by_default_and_records_no_unassignment(auto_inbox, bob):
    assert "unassign_on_resolve" not in auto_inbox.settings
    [conversation] = waiting(auto_inbox, 1)
    conversation_assign(conversation=conversation, assignee=bob, by=None)

    conversation_update(conversation=conversation, by=bob, status="resolved")

    assert assignee_of(conversation) == bob.pk
    assert [e.data["to"] for e in ConversationEvent.objects.filter(conversation=conversation, kind="assigned")] == [bob.pk]


# --- Availability and presence -------------------------------------------------------------------------


@pytest.mark.django_db
def test_coming_online_drains_the_queue_oldest_first_up_to_capacity(
    auto_inbox, bob, django_capture_on_commit_callbacks
):
    set_agent(bob, availability="away", capacity=2)
    oldest, middle, newest = waiting(auto_inbox, 3)
    assert all(conversation_auto_assign(conversation=c) is None for c in (oldest, middle, newest))

    with django_capture_on_commit_callbacks(execute=True):
        agent_availability_set(user=bob, availability="online", by=bob)

    assert [assignee_of(c) for c in (oldest, middle, newest)] == [bob.pk, bob.pk, None]


@pytest.mark.django_db
def test_going_away_hands_conversations_to_others_where_the_inbox_says_so(
    auto_inbox, bob, dave, django_capture_on_commit_callbacks
):
    auto_inbox.settings["reassign_on_away"] = True
    auto_inbox.save()
    set_agent(dave, availability="away")
    mine = waiting(auto_inbox, 2)
    for c in mine:
        conversation_assign(conversation=c, assignee=bob, by=None)
    set_agent(dave, availability="online")

    with django_capture_on_commit_callbacks(execute=True):
        agent_availability_set(user=bob, availability="away", by=bob)

    assert [assignee_of(c) for c in mine] == [dave.pk, dave.pk]
    history = [e.data for e in ConversationEvent.objects.filter(conversation=mine[0], kind="assigned")]
    assert history == [
        {"from": None, "to": bob.pk, "reason": "system"},
        {"from": bob.pk, "to": None, "reason": "away"},
        {"from": None, "to": dave.pk, "reason": "auto"},
    ]


@pytest.mark.django_db
def test_going_away_keeps_conversations_where_the_inbox_does_not_reassign(
    auto_inbox, bob, dave, django_capture_on_commit_callbacks
):
    [conversation] = waiting(auto_inbox, 1)
    conversation_assign(conversation=conversation, assignee=bob, by=None)

    with django_capture_on_commit_callbacks(execute=True):
        agent_availability_set(user=bob, availability="away", by=bob)

    assert assignee_of(conversation) == bob.pk


@pytest.mark.django_db
def test_a_busy_agent_keeps_their_work_but_gets_nothing_new(auto_inbox, bob, django_capture_on_commit_callbacks):
    [mine, new] = waiting(auto_inbox, 2)
    conversation_assign(conversation=mine, assignee=bob, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        agent_availability_set(user=bob, availability="busy", by=bob)

    assert conversation_auto_assign(conversation=new) is None
    assert assignee_of(mine) == bob.pk


@pytest.mark.django_db
def test_a_lost_socket_sets_the_agent_away_and_a_reconnect_brings_them_back(
    auto_inbox, bob, django_capture_on_commit_callbacks
):
    agent_presence_connected(user=bob)
    [conversation] = waiting(auto_inbox, 1)
    Agent.objects.filter(user=bob).update(last_seen_at=timezone.now() - timedelta(minutes=5))

    agent_presence_disconnected(user=bob, grace_seconds=0)
    assert (agent(bob).availability, agent(bob).presence_away) == ("away", True)
    assert conversation_auto_assign(conversation=conversation) is None

    with django_capture_on_commit_callbacks(execute=True):
        agent_presence_connected(user=bob)
    assert agent(bob).availability == "online"
    assert assignee_of(conversation) == bob.pk  # the queue drained to him as he came back


@pytest.mark.django_db
def test_a_page_reload_within_the_grace_period_changes_nothing(bob, django_capture_on_commit_callbacks):
    agent_presence_connected(user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        agent_presence_disconnected(user=bob)  # the presence check runs at once in tests (eager Celery)
    assert agent(bob).availability == "online"


@pytest.mark.django_db
def test_a_reconnect_never_overrides_away_chosen_by_the_agent(bob):
    agent_availability_set(user=bob, availability="away", by=bob)
    agent_presence_connected(user=bob)
    assert agent(bob).availability == "away"


@pytest.mark.django_db
def test_an_agent_may_not_set_a_teammates_availability_but_a_lead_may(bob, dave, lead, charlie):
    with pytest.raises(AssignmentRefused) as refused:
        agent_availability_set(user=dave, availability="away", by=bob)
    assert refused.value.status == 403
    with pytest.raises(AssignmentRefused) as hidden:
        agent_availability_set(user=dave, availability="away", by=charlie)
    assert hidden.value.status == 404

    agent_availability_set(user=dave, availability="away", by=lead)
    assert agent(dave).availability == "away"


# --- Manual assignment, permissions and history -------------------------------------------------------


@pytest.mark.django_db
def test_an_agent_takes_from_the_queue_and_releases_their_own(messenger_inbox, bob):
    [conversation] = waiting(messenger_inbox, 1)
    conversation_assign(conversation=conversation, assignee=bob, by=bob)
    assert assignee_of(conversation) == bob.pk
    conversation_assign(conversation=conversation, assignee=None, by=bob)
    assert assignee_of(conversation) is None


@pytest.mark.django_db
def test_an_agent_may_not_hand_work_to_others_nor_take_a_teammates(messenger_inbox, bob, dave):
    [conversation] = waiting(messenger_inbox, 1)
    with pytest.raises(AssignmentRefused) as refused:
        conversation_assign(conversation=conversation, assignee=dave, by=bob)
    assert (refused.value.status, refused.value.code) == (403, "forbidden")

    conversation_assign(conversation=conversation, assignee=dave, by=dave)
    with pytest.raises(AssignmentRefused) as taken:
        conversation_assign(conversation=conversation, assignee=bob, by=bob)
    assert (taken.value.status, taken.value.code) == (409, "already_assigned")
    assert assignee_of(conversation) == dave.pk


@pytest.mark.django_db
def test_a_conversation_of_another_team_is_not_found_for_assignment(messenger_inbox, charlie):
    [conversation] = waiting(messenger_inbox, 1)
    with pytest.raises(AssignmentRefused) as refused:
        conversation_assign(conversation=conversation, assignee=charlie, by=charlie)
    assert refused.value.status == 404


@pytest.mark.django_db
def test_a_lead_assigns_within_the_team_only_and_an_admin_anywhere(messenger_inbox, lead, bob, charlie, admin_user):
    [conversation] = waiting(messenger_inbox, 1)
    conversation_assign(conversation=conversation, assignee=bob, by=lead)
    assert assignee_of(conversation) == bob.pk

    with pytest.raises(AssignmentRefused) as refused:
        conversation_assign(conversation=conversation, assignee=charlie, by=lead)
    assert (refused.value.status, refused.value.code) == (400, "invalid_assignee")

    conversation_assign(conversation=conversation, assignee=charlie, by=admin_user)
    assert assignee_of(conversation) == charlie.pk


@pytest.mark.django_db
def test_every_assignment_change_is_recorded_with_who_from_and_to(messenger_inbox, lead, bob, dave):
    [conversation] = waiting(messenger_inbox, 1)
    conversation_assign(conversation=conversation, assignee=bob, by=lead)
    conversation_assign(conversation=conversation, assignee=bob, by=lead)  # no change, no entry
    conversation_assign(conversation=conversation, assignee=dave, by=lead)
    conversation_assign(conversation=conversation, assignee=None, by=lead)

    events = ConversationEvent.objects.filter(conversation=conversation, kind="assigned")
    assert [(e.actor, e.data["from"], e.data["to"]) for e in events] == [
        (lead, None, bob.pk),
        (lead, bob.pk, dave.pk),
        (lead, dave.pk, None),
    ]
    assert all(e.created_at for e in events)


@pytest.mark.django_db(transaction=True)
def test_an_assignment_is_announced_to_the_new_and_the_previous_assignee(messenger_inbox, lead, bob, dave):
    [conversation] = waiting(messenger_inbox, 1)
    conversation_assign(conversation=conversation, assignee=bob, by=lead)
    layer = get_channel_layer()
    bob_channel = async_to_sync(layer.new_channel)()
    dave_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"user-{bob.pk}", bob_channel)
    async_to_sync(layer.group_add)(f"user-{dave.pk}", dave_channel)

    conversation_assign(conversation=conversation, assignee=dave, by=lead)

    for channel in (bob_channel, dave_channel):
        event = async_to_sync(layer.receive)(channel)
        assert event["frame"]["type"] == "conversation.updated"
        assert event["frame"]["conversation"]["assignee"] == dave.pk


# --- Mentions ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_mention_in_a_note_notifies_the_mentioned_agent(messenger_inbox, alice, bob):
    [conversation] = waiting(messenger_inbox, 1)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"user-{bob.pk}", channel)

    note = note_add(conversation=conversation, author=alice, text="@Bob, can you check the refund? cc alice@shop.example")

    [notification] = Notification.objects.filter(user=bob)
    assert (notification.kind, notification.message_id, notification.actor) == ("mention", note.pk, alice)
    frame = async_to_sync(layer.receive)(channel)["frame"]
    assert frame["type"] == "mention"
    assert (frame["conversation"], frame["message"], frame["by"]["username"]) == (conversation.pk, note.pk, "alice")
    assert not Notification.objects.filter(user=alice).exists()  # an email address is not a mention


@pytest.mark.django_db
def test_a_mention_never_tells_someone_who_may_not_see_the_conversation(
    messenger_inbox, alice, charlie, django_capture_on_commit_callbacks
):
    [conversation] = waiting(messenger_inbox, 1)
    with django_capture_on_commit_callbacks(execute=True):
        note_add(conversation=conversation, author=alice, text="@charlie @nobody @alice see this")
    assert not Notification.objects.exists()


# --- Concurrency: real PostgreSQL connections in threads ---------------------------------------------------


def run_together(*calls):
    """Run the calls in threads (each with its own database connection), released at once."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:  # collected for the test to assert on
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.fixture
def slow_ranking(monkeypatch):
    """Hold each worker between ranking candidates and assigning, so the workers truly overlap."""
    real = assignment.auto_assign_candidates

    def slow(**kwargs):
        candidates = real(**kwargs)
        time.sleep(0.3)
        return candidates

    monkeypatch.setattr(assignment, "auto_assign_candidates", slow)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_auto_assignments_never_give_one_conversation_two_owners(auto_inbox, bob, dave, slow_ranking):
    [conversation] = waiting(auto_inbox, 1)

    results = run_together(
        lambda: conversation_auto_assign(conversation=Conversation.objects.get(pk=conversation.pk)),
        lambda: conversation_auto_assign(conversation=Conversation.objects.get(pk=conversation.pk)),
    )

    assert not any(isinstance(r, Exception) for r in results), results
    assert len([r for r in results if r is not None]) == 1
    events = ConversationEvent.objects.filter(conversation=conversation, kind="assigned")
    assert events.count() == 1
    assert assignee_of(conversation) == events.get().data["to"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_filling_two_conversations_never_push_an_agent_over_capacity(auto_inbox, bob, slow_ranking):
    set_agent(bob, capacity=1)
    first, second = waiting(auto_inbox, 2)

    results = run_together(
        lambda: conversation_auto_assign(conversation=Conversation.objects.get(pk=first.pk)),
        lambda: conversation_auto_assign(conversation=Conversation.objects.get(pk=second.pk)),
    )

    assert not any(isinstance(r, Exception) for r in results), results
    assert Conversation.objects.filter(assignee=bob).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_leads_taking_the_same_conversation_from_the_queue_one_wins_the_other_is_told(
    messenger_inbox, lead, alice, monkeypatch
):
    [conversation] = waiting(messenger_inbox, 1)
    real = assignment._assignment_apply

    def slow_apply(*args, **kwargs):
        real(*args, **kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(assignment, "_assignment_apply", slow_apply)

    def take(user):
        return lambda: conversation_assign(
            conversation=Conversation.objects.get(pk=conversation.pk), assignee=user, by=user, only_if_unassigned=True
        )

    results = run_together(take(lead), take(alice))

    refused = [r for r in results if isinstance(r, AssignmentRefused)]
    assert len(refused) == 1 and refused[0].code == "already_assigned"
    assert ConversationEvent.objects.filter(conversation=conversation, kind="assigned").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_drain_racing_a_new_message_assigns_each_conversation_once(auto_inbox, bob, dave, slow_ranking):
    conversations = waiting(auto_inbox, 4)

    run_together(
        lambda: unassigned_queue_drain(inbox=auto_inbox),
        lambda: unassigned_queue_drain(inbox=auto_inbox),
        lambda: conversation_auto_assign(conversation=Conversation.objects.get(pk=conversations[0].pk)),
    )

    for c in conversations:
        assert ConversationEvent.objects.filter(conversation=c, kind="assigned").count() == 1
        assert assignee_of(c) in (bob.pk, dave.pk)


# --- History for metrics, and the safety-net sweep -----------------------------------------------------


@pytest.mark.django_db
def test_the_assignment_history_counts_what_each_agent_received_and_released(auto_inbox, lead, bob, dave):
    auto_inbox.settings["unassign_on_resolve"] = True
    auto_inbox.save()
    start = timezone.now()
    set_agent(lead, availability="busy")
    set_agent(dave, availability="busy")
    first, second = waiting(auto_inbox, 2)
    assert conversation_auto_assign(conversation=first) == bob
    conversation_assign(conversation=second, assignee=dave, by=lead)
    conversation_assign(conversation=second, assignee=bob, by=lead)
    Conversation.objects.filter(pk=first.pk).update(status="resolved")
    assignment.conversation_resolved(conversation=first, by=bob)

    counts = assignment.assignments_per_agent(since=start)

    assert counts[bob.pk] == {"received": 2, "auto": 1, "released": 1, "resolved": 1, "away": 0}
    assert counts[dave.pk] == {"received": 1, "auto": 0, "released": 1, "resolved": 0, "away": 0}
    assert assignment.assignments_per_agent(since=timezone.now()) == {}


@pytest.mark.django_db
def test_the_sweep_assigns_what_was_left_waiting(auto_inbox, messenger_inbox, bob):
    left = waiting(auto_inbox, 2)
    assert assignment.assignment_sweep() == 2
    assert {assignee_of(c) for c in left} == {bob.pk}


@pytest.mark.django_db
def test_the_sockets_automatic_online_restores_presence_away_but_not_a_chosen_away(bob, dave):
    Agent.objects.filter(user=bob).update(availability="away", presence_away=True)
    agent_availability_set(agent=agent(bob), availability="online", automatic=True)
    assert agent(bob).availability == "online"

    agent_availability_set(user=dave, availability="away", by=dave)
    agent_availability_set(agent=agent(dave), availability="online", automatic=True)
    assert agent(dave).availability == "away"
