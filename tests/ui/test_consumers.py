"""The workspace socket (/ws/inbox/) against the real Redis channel layer and the real ASGI stack.

Every test connects through `inbox_project.asgi.application` (origin check, session auth), with a
session cookie made by logging the user in, as a browser would.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from django.utils import timezone

from customers.services import identity_resolve
from inbox.conversations.receive import message_receive
from inbox.conversations.reply import note_add
from inbox.conversations.threads import conversation_for_identity
from inbox.conversations.triage import conversation_update
from inbox.models import Conversation, Inbox
from inbox.providers.base import InboundMessage
from inbox_project.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://testserver")  # PUBLIC_BASE_URL in the tests (tests/conftest.py)
_mids = iter(range(1, 10_000))


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(user=None, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin] if origin else []
    if user is not None:
        cookie = await database_sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator


async def frame_of_type(communicator, *types: str, timeout: float = 3) -> dict:
    """The next frame of one of `types`, skipping others (availability, presence…)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no {types} frame within {timeout}s"
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame["type"] in types:
            return frame


async def frames_within(communicator, seconds: float = 0.7) -> list[dict]:
    """Every frame arriving within `seconds` (receive_nothing never cancels the application)."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        if not await communicator.receive_nothing(timeout=min(0.1, remaining)):
            frames.append(await communicator.receive_json_from())
    return frames


def _about(frames: list[dict], conversation_id: int) -> list[dict]:
    def concerns(frame):
        conv = frame.get("conversation")
        return conv == conversation_id or (isinstance(conv, dict) and conv.get("id") == conversation_id)

    return [f for f in frames if concerns(f)]


@database_sync_to_async
def customer_writes(inbox: Inbox, text: str, psid: str = "2467001") -> tuple[int, int]:
    with transaction.atomic():  # as the event processor calls it
        message = _receive(inbox, text, psid)
    return message.conversation_id, message.pk


def _receive(inbox: Inbox, text: str, psid: str):
    return message_receive(
        inbox=inbox,
        incoming=InboundMessage(
            channel=inbox.kind,
            inbox_external_id=inbox.external_id,
            customer_external_id=psid,
            external_id=f"m_ui_{next(_mids)}",
            timestamp=timezone.now(),
            text=text,
        ),
    )


@database_sync_to_async
def a_conversation(inbox: Inbox, psid: str = "2467001", **changes) -> Conversation:
    identity = identity_resolve(channel=inbox.kind, scope=inbox.external_id, external_id=psid).identity
    conversation = conversation_for_identity(inbox=inbox, identity=identity)
    if changes:
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        conversation.refresh_from_db()
    return conversation


async def test_an_anonymous_socket_is_closed_with_4401():
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_a_socket_from_a_foreign_origin_is_refused(bob):
    cookie = await database_sync_to_async(_session_cookie)(bob)
    communicator = WebsocketCommunicator(
        application, "/ws/inbox/", headers=[(b"origin", b"https://evil.example"), (b"cookie", f"sessionid={cookie}".encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_a_new_message_reaches_the_team_within_the_second_and_never_another_team(bob, charlie, messenger_inbox):
    bob_ws, charlie_ws = await connect(bob), await connect(charlie)

    conversation_id, message_id = await customer_writes(messenger_inbox, "Where is my order #1042?")

    created = await frame_of_type(bob_ws, "message.created", timeout=1)
    assert created["conversation"] == conversation_id
    assert created["message"]["id"] == message_id
    assert created["message"]["text"] == "Where is my order #1042?"
    updated = await frame_of_type(bob_ws, "conversation.updated", timeout=1)
    assert updated["conversation"]["id"] == conversation_id
    assert updated["conversation"]["unread_count"] == 1
    assert _about(await frames_within(charlie_ws), conversation_id) == []
    await bob_ws.disconnect(timeout=5)
    await charlie_ws.disconnect(timeout=5)


async def test_viewing_a_conversation_of_another_team_is_refused_and_subscribes_to_nothing(charlie, messenger_inbox):
    conversation = await a_conversation(messenger_inbox)
    charlie_ws = await connect(charlie)

    await charlie_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    refused = await frame_of_type(charlie_ws, "error", "presence")
    assert refused == {"type": "error", "code": "not_found", "conversation": conversation.pk}

    await customer_writes(messenger_inbox, "hello?")
    await database_sync_to_async(note_add)(conversation=conversation, author=None, text="internal: VIP")
    assert _about(await frames_within(charlie_ws), conversation.pk) == []
    await charlie_ws.disconnect(timeout=5)


async def test_an_agent_assigned_a_conversation_outside_his_teams_receives_its_events(charlie, messenger_inbox):
    conversation = await a_conversation(messenger_inbox)
    await database_sync_to_async(Conversation.objects.filter(pk=conversation.pk).update)(assignee=charlie)
    charlie_ws = await connect(charlie)

    await customer_writes(messenger_inbox, "are you there?")

    created = await frame_of_type(charlie_ws, "message.created")
    assert created["conversation"] == conversation.pk
    await charlie_ws.disconnect(timeout=5)


async def test_two_agents_on_the_same_thread_see_each_other_and_who_is_typing(alice, bob, messenger_inbox):
    conversation = await a_conversation(messenger_inbox)
    bob_ws = await connect(bob)
    await bob_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    alone = await frame_of_type(bob_ws, "presence")
    assert [v["name"] for v in alone["viewers"]] == ["bob"]

    alice_ws = await connect(alice)
    await alice_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    # The newcomer learns who is already there…
    told = await frame_of_type(alice_ws, "presence")
    assert {v["name"] for v in told["viewers"]} == {"alice", "bob"}
    # …and the one already there learns about the newcomer.
    seen = await frame_of_type(bob_ws, "presence")
    assert {v["name"] for v in seen["viewers"]} == {"alice", "bob"}

    await alice_ws.send_json_to({"type": "typing", "conversation": conversation.pk, "typing": True})
    typing = await frame_of_type(bob_ws, "presence")
    assert {v["name"]: v["typing"] for v in typing["viewers"]} == {"alice": True, "bob": False}

    await alice_ws.disconnect(timeout=5)
    left = await frame_of_type(bob_ws, "presence")
    assert [v["name"] for v in left["viewers"]] == ["bob"]
    await bob_ws.disconnect(timeout=5)


async def test_typing_in_a_thread_not_opened_is_not_broadcast(bob, charlie, messenger_inbox):
    conversation = await a_conversation(messenger_inbox)
    bob_ws, charlie_ws = await connect(bob), await connect(charlie)
    await bob_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    await frame_of_type(bob_ws, "presence")

    await charlie_ws.send_json_to({"type": "typing", "conversation": conversation.pk, "typing": True})

    assert _about(await frames_within(bob_ws), conversation.pk) == []
    await bob_ws.disconnect(timeout=5)
    await charlie_ws.disconnect(timeout=5)


async def test_a_conversation_moved_to_another_team_stops_reaching_the_old_one(
    admin_user, bob, charlie, team_a, team_b
):
    # An inbox no team owns: who sees a conversation depends only on the team it is routed to.
    shared = await database_sync_to_async(Inbox.objects.create)(kind="messenger", name="Brand page", external_id="1049999")
    conversation = await a_conversation(shared, team=team_a)
    bob_ws, charlie_ws = await connect(bob), await connect(charlie)
    await bob_ws.send_json_to({"type": "view", "conversation": conversation.pk})
    await frame_of_type(bob_ws, "presence")

    await database_sync_to_async(conversation_update)(conversation=conversation, by=admin_user, team=team_b)

    # The old team is told only that it is gone, not the conversation's new state.
    gone = await frame_of_type(bob_ws, "conversation.removed", "conversation.updated")
    assert gone == {"type": "conversation.removed", "conversation": {"id": conversation.pk}}
    arrived = await frame_of_type(charlie_ws, "conversation.updated")
    assert arrived["conversation"]["team"] == team_b.pk

    await customer_writes(shared, "any news?")
    assert _about(await frames_within(bob_ws), conversation.pk) == []
    assert (await frame_of_type(charlie_ws, "message.created"))["conversation"] == conversation.pk
    await bob_ws.disconnect(timeout=5)
    await charlie_ws.disconnect(timeout=5)


async def test_connecting_marks_the_agent_seen(bob):
    before = timezone.now() - timedelta(seconds=1)
    ws = await connect(bob)
    agent = await database_sync_to_async(lambda: type(bob).objects.get(pk=bob.pk).agent)()
    assert agent.last_seen_at is not None and agent.last_seen_at >= before
    await ws.disconnect(timeout=5)


async def test_unknown_frames_get_a_clear_error(bob):
    ws = await connect(bob)
    await ws.send_json_to({"type": "subscribe_everything"})
    error = await frame_of_type(ws, "error")
    assert error["code"] == "unknown_type"
    await ws.send_json_to({"type": "view", "conversation": "abc"})
    assert (await frame_of_type(ws, "error"))["code"] == "not_found"
    await ws.disconnect(timeout=5)


async def test_a_socket_open_longer_than_the_group_expiry_keeps_getting_events(settings, bob):
    """channels_redis drops a group member whose join is older than `group_expiry` at the next send.
    A tab left open for longer (a support desk's screen) must keep receiving: the socket renews its
    groups well within the expiry. Here the expiry is 2 s and the socket is 3.5 s old."""
    import uuid

    from asgiref.sync import sync_to_async

    from inbox.realtime import publish as realtime

    layer = settings.CHANNEL_LAYERS["default"]
    if "hosts" not in layer.get("CONFIG", {}):
        pytest.skip("needs the Redis channel layer")
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {
        **layer["CONFIG"], "group_expiry": 2, "prefix": f"{layer['CONFIG']['prefix']}-exp{uuid.uuid4().hex[:6]}"}}}
    ws = await connect(bob)
    try:
        await asyncio.sleep(3.5)
        await sync_to_async(realtime._send)([f"user-{bob.pk}"], {"type": "conversation.note", "n": 1})
        frame = await frame_of_type(ws, "conversation.note", timeout=3)
        assert frame == {"type": "conversation.note", "n": 1}
    finally:
        await ws.disconnect()


def _renewers() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "").endswith("_renew_groups")}


async def test_a_socket_stops_renewing_its_groups_when_it_closes_or_its_consumer_fails(bob, monkeypatch):
    """Renewing a dead socket's groups would keep its members alive past the expiry, forever."""
    from inbox.realtime.consumers import InboxConsumer

    before = _renewers()
    ws = await connect(bob)
    renewer = _renewers() - before
    assert len(renewer) == 1
    await ws.disconnect(timeout=5)
    await asyncio.sleep(0.05)
    assert all(t.done() for t in renewer)

    async def broken(self, content, **kwargs):
        raise RuntimeError("a handler failed")

    monkeypatch.setattr(InboxConsumer, "receive_json", broken)
    before = _renewers()
    ws = await connect(bob)
    renewer = _renewers() - before
    assert len(renewer) == 1
    await ws.send_json_to({"type": "ping"})
    with pytest.raises(RuntimeError, match="a handler failed"):
        await ws.wait(timeout=5)
    await asyncio.sleep(0.05)
    assert all(t.done() for t in renewer)
