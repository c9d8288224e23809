"""What one macro apply costs: its SQL statements and its realtime deliveries are pinned, so a change
that brings back the repeated reads (the caller's teams asked again and again, a frame per step)
fails here; and the frames it sends still say where the conversation ended up."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox.models import Conversation, Macro
from inbox.realtime import publish as realtime
from inbox.team.access import team_ids_of, team_ids_remembered
from tests.api import test_macros_api

pytestmark = pytest.mark.django_db

# The macros API tests' conversation with an order (the apply's `order` step reads it).
open_chat = test_macros_api.open_chat

FOUR_ACTIONS = [
    {"type": "reply", "text": "Hi {{ customer.first_name }}, order #{{ order.number }} is {{ order.status }}."},
    {"type": "labels", "add": ["shipping"], "remove": ["new"]},
    {"type": "assign", "to": "me"},
    {"type": "status", "status": "resolved"},
]
# Measured in this test: 91 statements before the request remembered the caller's teams, batched
# its frames and merged the assignment with the resolve, 75 after (the token, the agent, the macro,
# the conversation, the order, the reply, labels, assignment, resolve, the SLA, rules and campaign
# hooks, the macro's own entry, the frame and the answer). Two of headroom, not sixteen.
MAX_STATEMENTS = 77


@pytest.fixture(autouse=True)
def _not_sent(monkeypatch):
    """The reply stays queued: sending it is the task's cost, not the apply's."""
    monkeypatch.setattr("inbox.conversations.reply.message_dispatch", lambda message_id: None)


@pytest.fixture
def deliveries(monkeypatch):
    """Each delivery the realtime module makes: a list of (groups, frame)."""
    made: list[list[tuple[list[str], dict]]] = []

    def deliver(items) -> None:
        # The fixture's conversation.created may still be waiting for a commit: not the apply's.
        items = [(groups, frame) for groups, frame in items if frame["type"] != "conversation.created"]
        if items:
            made.append(items)

    monkeypatch.setattr(realtime, "_send_many", deliver)
    monkeypatch.setattr(realtime, "_send", lambda groups, frame: deliver([(groups, frame)]))
    return made


def _apply(api, user, macro, conversation):
    return _post(api(user), macro, conversation)


def _post(client, macro, conversation):
    return client.post(f"/api/v1/macros/{macro.pk}/apply/", {"conversation": conversation.pk}, format="json")


def test_a_four_action_apply_stays_within_its_statement_budget(api, alice, bob, team_a, open_chat, commit, deliveries):
    macro = Macro.objects.create(name="Where is my order", team=team_a, actions=FOUR_ACTIONS, created_by=alice)
    client = api(bob)  # its token exists before counting, as a signed-in agent's does

    with CaptureQueriesContext(connection) as queries:
        response = _post(client, macro, open_chat)

    assert response.status_code == 200, response.content
    statements = [q["sql"] for q in queries.captured_queries]
    teams_reads = [sql for sql in statements if 'FROM "inbox_team" INNER JOIN "inbox_agent_teams"' in sql]
    assert len(statements) <= MAX_STATEMENTS, "\n".join(sql[:150] for sql in statements)
    # A token request reads the caller's teams with the token (inbox/api/authentication.py); nothing
    # in the apply may read them again.
    assert teams_reads == [], "the caller's teams are read with the token, never again in the apply"


def test_an_apply_sends_its_frames_in_one_delivery_with_the_conversations_final_state(
    api, alice, bob, team_a, open_chat, commit, deliveries
):
    macro = Macro.objects.create(name="Where is my order", team=team_a, actions=FOUR_ACTIONS, created_by=alice)

    assert _apply(api, bob, macro, open_chat).status_code == 200

    [delivery] = deliveries
    kinds = [frame["type"] for _, frame in delivery]
    assert kinds == ["message.created", "conversation.updated"]
    groups, updated = delivery[1]
    assert updated["conversation"]["status"] == "resolved"
    assert updated["conversation"]["assignee"] == bob.pk
    assert updated["conversation"]["labels"] == ["shipping"]
    # The new assignee hears of it, and so does everyone who saw the conversation before.
    assert f"user-{bob.pk}" in groups and f"conversation-{open_chat.pk}" in groups
    assert Conversation.objects.get(pk=open_chat.pk).label_names == ["shipping"]


def test_a_refused_apply_sends_no_frame(api, alice, bob, team_a, open_chat, commit, deliveries):
    macro = Macro.objects.create(name="Give it to Alice", team=team_a, created_by=alice, actions=[
        {"type": "labels", "add": ["vip"]}, {"type": "assign", "to": "agent", "agent": alice.pk}])

    assert _apply(api, bob, macro, open_chat).status_code == 403
    assert deliveries == []


def test_remembered_teams_are_read_once_and_only_inside_the_scope(bob, team_a, team_b, django_assert_num_queries):
    bob.agent  # noqa: B018 - the profile is loaded, as request.user's is
    with django_assert_num_queries(1), team_ids_remembered():
        assert team_ids_of(bob) == [team_a.pk]
        team_ids_of(bob).append(999)  # a caller's copy: the remembered list is not changed
        assert team_ids_of(bob) == [team_a.pk]
    bob.agent.teams.add(team_b)
    assert sorted(team_ids_of(bob)) == sorted([team_a.pk, team_b.pk])  # outside: read afresh
