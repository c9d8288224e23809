"""Open sockets follow access changes: teams, roles, inboxes moved, deactivation (inbox.team.access_events).

Real Redis channel layer and the real ASGI stack, as in test_consumers. Changes are made the ways
an admin makes them: the REST API, Django admin, or the ORM (shell, fixtures).
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import Client
from django.urls import reverse

from inbox.models import Agent, Inbox, Role
from inbox.team import directory as teams
from tests.conftest import api_client_for
from tests.ui.test_consumers import _about, a_conversation, connect, customer_writes, frame_of_type, frames_within

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _types(frames: list[dict]) -> list[str]:
    return [f["type"] for f in frames]


@database_sync_to_async
def api_patch(user, path: str, body: dict) -> int:
    return api_client_for(user).patch(path, body, format="json").status_code


async def test_an_agent_removed_from_a_team_stops_receiving_its_inboxes_and_is_told(
    admin_user, alice, bob, charlie, team_a, messenger_inbox
):
    bob_ws, alice_ws, charlie_ws = await connect(bob), await connect(alice), await connect(charlie)

    assert await api_patch(admin_user, f"/api/v1/agents/{bob.pk}/", {"teams": []}) == 200

    assert await frame_of_type(bob_ws, "access.changed") == {"type": "access.changed"}
    conversation_id, _ = await customer_writes(messenger_inbox, "Where is my order?")
    # Alice, still in the team, gets it; Bob no longer does.
    assert (await frame_of_type(alice_ws, "message.created"))["conversation"] == conversation_id
    assert _about(await frames_within(bob_ws), conversation_id) == []
    # Neither Alice (same team, membership unchanged) nor Charlie (another team) was told anything.
    assert "access.changed" not in _types(await frames_within(alice_ws, 0.3))
    assert "access.changed" not in _types(await frames_within(charlie_ws, 0.3))
    for ws in (bob_ws, alice_ws, charlie_ws):
        await ws.disconnect(timeout=5)


async def test_an_agent_added_to_a_team_starts_receiving_its_inboxes(admin_user, charlie, team_a, team_b, messenger_inbox):
    charlie_ws = await connect(charlie)
    conversation_id, _ = await customer_writes(messenger_inbox, "first")
    assert _about(await frames_within(charlie_ws), conversation_id) == []

    status = await api_patch(admin_user, f"/api/v1/agents/{charlie.pk}/", {"teams": [team_a.pk, team_b.pk]})
    assert status == 200

    await frame_of_type(charlie_ws, "access.changed")
    await customer_writes(messenger_inbox, "second")
    assert (await frame_of_type(charlie_ws, "message.created"))["conversation"] == conversation_id
    # Now allowed, the thread can be opened over the socket too.
    await charlie_ws.send_json_to({"type": "view", "conversation": conversation_id})
    assert (await frame_of_type(charlie_ws, "presence", "error"))["type"] == "presence"
    await charlie_ws.disconnect(timeout=5)


async def test_an_inbox_moved_to_another_team_switches_who_receives_it(admin_user, bob, charlie, team_b, messenger_inbox):
    # Not routed to a team: who sees it follows the inbox (a routed one stays with its team).
    conversation = await a_conversation(messenger_inbox, team=None)
    bob_ws, charlie_ws = await connect(bob), await connect(charlie)
    await bob_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    await frame_of_type(bob_ws, "presence")

    assert await api_patch(admin_user, f"/api/v1/inboxes/{messenger_inbox.pk}/", {"team": team_b.pk}) == 200

    # Bob had the thread open: it is closed for him, and the page is told to refetch.
    removed = await frame_of_type(bob_ws, "conversation.removed")
    assert removed == {"type": "conversation.removed", "conversation": {"id": conversation.pk}}
    await frame_of_type(bob_ws, "access.changed")
    await frame_of_type(charlie_ws, "access.changed")

    await customer_writes(messenger_inbox, "still there?")
    assert (await frame_of_type(charlie_ws, "message.created"))["conversation"] == conversation.pk
    assert _about(await frames_within(bob_ws), conversation.pk) == []
    # Charlie opening the thread is no longer refused; Bob is.
    await charlie_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    viewers = (await frame_of_type(charlie_ws, "presence"))["viewers"]
    assert [v["name"] for v in viewers] == ["charlie"]  # Bob's presence went with his access
    await bob_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    assert (await frame_of_type(bob_ws, "error"))["code"] == "not_found"
    await bob_ws.disconnect(timeout=5)
    await charlie_ws.disconnect(timeout=5)


async def test_an_inbox_moved_in_django_admin_switches_who_receives_it(admin_user, bob, charlie, team_b, messenger_inbox):
    bob_ws, charlie_ws = await connect(bob), await connect(charlie)

    def move_in_admin() -> int:
        client = Client()
        client.force_login(admin_user)
        form = {
            "kind": messenger_inbox.kind, "name": messenger_inbox.name, "external_id": messenger_inbox.external_id,
            "team": team_b.pk, "settings": "{}", "credentials_json": "",
        }
        return client.post(reverse("admin:inbox_inbox_change", args=[messenger_inbox.pk]), form).status_code

    assert await database_sync_to_async(move_in_admin)() == 302

    await frame_of_type(bob_ws, "access.changed")
    await frame_of_type(charlie_ws, "access.changed")
    await database_sync_to_async(messenger_inbox.refresh_from_db)()  # a new conversation goes to its team now
    conversation_id, _ = await customer_writes(messenger_inbox, "hello")
    assert (await frame_of_type(charlie_ws, "message.created"))["conversation"] == conversation_id
    assert _about(await frames_within(bob_ws), conversation_id) == []
    await bob_ws.disconnect(timeout=5)
    await charlie_ws.disconnect(timeout=5)


async def test_a_member_removed_from_the_team_side_is_told_too(alice, bob, team_a, messenger_inbox):
    """team.agents.remove(...) (Django admin's forms and the shell write either side of the relation)."""
    bob_ws, alice_ws = await connect(bob), await connect(alice)

    await database_sync_to_async(lambda: team_a.agents.remove(Agent.objects.get(user=bob)))()

    await frame_of_type(bob_ws, "access.changed")
    conversation_id, _ = await customer_writes(messenger_inbox, "hi")
    assert (await frame_of_type(alice_ws, "message.created"))["conversation"] == conversation_id
    assert _about(await frames_within(bob_ws), conversation_id) == []
    await bob_ws.disconnect(timeout=5)
    await alice_ws.disconnect(timeout=5)


async def test_a_deactivated_agents_socket_is_closed_and_others_stay(admin_user, alice, bob, messenger_inbox):
    bob_ws, alice_ws = await connect(bob), await connect(alice)

    assert await api_patch(admin_user, f"/api/v1/agents/{bob.pk}/", {"is_active": False}) == 200

    closed = await bob_ws.receive_output(timeout=5)
    while closed["type"] != "websocket.close":  # frames queued before it (availability…) may come first
        closed = await bob_ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    conversation_id, _ = await customer_writes(messenger_inbox, "anyone?")
    assert (await frame_of_type(alice_ws, "message.created"))["conversation"] == conversation_id
    assert "access.changed" not in _types(await frames_within(alice_ws, 0.3))
    await alice_ws.disconnect(timeout=5)


async def test_an_admin_demoted_to_agent_stops_receiving_other_teams_inboxes(admin_user, bob, team_b):
    other = await database_sync_to_async(Inbox.objects.create)(kind="messenger", name="B2B", external_id="1048888", team=team_b)
    admin_ws = await connect(admin_user)
    conversation_id, _ = await customer_writes(other, "bulk order", psid="2468001")
    assert (await frame_of_type(admin_ws, "message.created"))["conversation"] == conversation_id

    await database_sync_to_async(teams.agent_update)(agent=await _agent(admin_user), role=Role.AGENT)

    await frame_of_type(admin_ws, "access.changed")
    await customer_writes(other, "any discount?", psid="2468001")
    assert _about(await frames_within(admin_ws), conversation_id) == []
    await admin_ws.disconnect(timeout=5)


@database_sync_to_async
def _agent(user) -> Agent:
    return Agent.objects.get(user=user)


async def test_several_changes_in_one_transaction_tell_the_socket_once(admin_user, bob, team_b):
    bob_ws = await connect(bob)

    await database_sync_to_async(teams.agent_update)(
        agent=await _agent(bob), teams=[team_b], role=Role.LEAD, capacity=3
    )

    frames = await frames_within(bob_ws, 1.0)
    assert _types(frames).count("access.changed") == 1
    await bob_ws.disconnect(timeout=5)


async def test_a_change_rolled_back_tells_no_one_and_keeps_the_groups(bob, messenger_inbox):
    bob_ws = await connect(bob)

    def remove_then_roll_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            Agent.objects.get(user=bob).teams.clear()
            raise RuntimeError("admin changed their mind")

    await database_sync_to_async(remove_then_roll_back)()

    conversation_id, _ = await customer_writes(messenger_inbox, "hello?")
    assert (await frame_of_type(bob_ws, "message.created"))["conversation"] == conversation_id
    assert "access.changed" not in _types(await frames_within(bob_ws, 0.3))
    await bob_ws.disconnect(timeout=5)


async def test_a_frame_queued_for_a_group_the_socket_has_left_is_dropped(bob, charlie, team_a, messenger_inbox):
    """The envelope names the groups it was sent to; a socket in none of them drops it (a frame
    already queued on its channel when it left the group)."""
    bob_ws = await connect(bob)
    layer = get_channel_layer()
    # Delivered through user-<bob>, as if queued, but sent to a group Bob is not in.
    leaked = {"type": "message.created", "conversation": 999_999, "message": {"id": 1, "text": "secret"}}
    await layer.group_send(
        f"user-{bob.pk}", {"type": "inbox.event", "frame": leaked, "groups": [f"inbox-{messenger_inbox.pk + 1000}"]}
    )
    allowed = {"type": "message.created", "conversation": 999_998, "message": {"id": 2, "text": "fine"}}
    await layer.group_send(
        f"user-{bob.pk}", {"type": "inbox.event", "frame": allowed, "groups": [f"inbox-{messenger_inbox.pk}"]}
    )

    frames = await frames_within(bob_ws)
    assert allowed in frames
    assert leaked not in frames
    await bob_ws.disconnect(timeout=5)
