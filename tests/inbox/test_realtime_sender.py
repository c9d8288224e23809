"""Frames leave from one long-lived sender event loop per process (inbox.realtime.publish).

Against the real Redis channel layer: frames sent from sync code (no running loop, as in a Celery
task) reach the group; the loop is reused, replaced in a forked child, and a dead or silent Redis
costs a warning and a dropped frame, never a hung caller.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

from inbox.realtime import publish as realtime


@pytest.fixture
def layer():
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        pytest.skip("needs the Redis channel layer")
    return layer


def _listen(layer, group: str) -> str:
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _receive(layer, channel: str) -> dict:
    async def receive():
        return await asyncio.wait_for(layer.receive(channel), 10)

    return async_to_sync(receive)()


def _group() -> str:
    return f"h1-sender-{uuid.uuid4().hex[:10]}"


def _sender_thread_count() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "realtime-sender" and t.is_alive())


def test_frames_from_sync_code_reach_the_group_through_one_reused_loop(layer, commit):
    group = _group()
    channel = _listen(layer, group)

    with transaction.atomic():  # frames leave once the transaction commits, in order
        realtime.publish([group, group], {"type": "first", "n": 1})
        realtime.publish([group], {"type": "second", "n": 2})
    sender = realtime._sender

    first = _receive(layer, channel)
    assert first["type"] == "inbox.event"
    assert first["frame"] == {"type": "first", "n": 1}
    # The group was named twice: it gets the frame once.
    assert _receive(layer, channel)["frame"] == {"type": "second", "n": 2}
    assert sender is not None and realtime._sender is sender
    assert sender.thread.is_alive()
    assert _sender_thread_count() == 1


def test_frames_reach_every_group_of_a_frame(layer, commit):
    groups = [_group() for _ in range(3)]
    channels = [_listen(layer, g) for g in groups]

    realtime.publish(groups, {"type": "fanout"})

    for channel in channels:
        assert _receive(layer, channel)["frame"] == {"type": "fanout"}


@pytest.mark.asyncio
async def test_frames_from_a_worker_thread_of_async_code_use_the_sender_loop(layer):
    """As under daphne: a sync view runs in a worker thread while the server's loop runs."""
    group = _group()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)

    await asyncio.get_running_loop().run_in_executor(None, realtime._send, [group], {"type": "from-thread"})

    message = await asyncio.wait_for(layer.receive(channel), 10)
    assert message["frame"] == {"type": "from-thread"}
    assert realtime._sender.loop is not asyncio.get_running_loop()


def test_a_new_pid_gets_a_new_sender_loop(layer):
    group = _group()
    channel = _listen(layer, group)
    realtime._send([group], {"type": "before"})
    old = realtime._sender
    old.pid = -1  # as if this process were a fork of the one that made it
    try:
        realtime._send([group], {"type": "after"})
        assert realtime._sender is not old
        assert realtime._sender.pid == os.getpid()
        assert [_receive(layer, channel)["frame"]["type"] for _ in range(2)] == ["before", "after"]
    finally:
        old.pid = os.getpid()
        old.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_sends_from_its_own_loop_and_the_parent_keeps_its_own(layer):
    group = _group()
    channel = _listen(layer, group)
    realtime._send([group], {"type": "parent-before"})
    parent_sender = realtime._sender
    assert parent_sender is not None

    pid = os.fork()
    if pid == 0:  # the child: no pytest, no database; report through the exit code
        code = 1
        try:
            realtime._send([group], {"type": "child", "pid": os.getpid()})
            sender = realtime._sender
            code = 0 if sender is not None and sender is not parent_sender and sender.pid == os.getpid() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    realtime._send([group], {"type": "parent-after"})
    frames = [_receive(layer, channel)["frame"] for _ in range(3)]
    assert frames == [{"type": "parent-before"}, {"type": "child", "pid": pid}, {"type": "parent-after"}]
    assert realtime._sender is parent_sender


def test_a_connection_lost_between_frames_does_not_break_later_frames(layer):
    """Redis dropped the sender's pooled connection (a restart does that to all of them)."""
    group = _group()
    channel = _listen(layer, group)
    realtime._send([group], {"type": "one"})
    assert _receive(layer, channel)["frame"] == {"type": "one"}

    async def client_ids():
        loop_layer = layer._layers[asyncio.get_running_loop()]
        return [await conn.client_id() for conn in loop_layer._connections.values()]

    ids = asyncio.run_coroutine_threadsafe(client_ids(), realtime._sender_loop()).result(10)
    assert ids
    killer = redis.Redis.from_url(layer.hosts[0]["address"])
    try:
        for client_id in ids:
            killer.client_kill_filter(_id=client_id)
    finally:
        killer.close()

    realtime._send([group], {"type": "two"})
    assert _receive(layer, channel)["frame"] == {"type": "two"}


def _layer_at(address: str) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [address], "prefix": "h1-unreachable"},
        }
    }


def _send_in_thread(groups, frame) -> threading.Thread:
    thread = threading.Thread(target=realtime._send, args=(groups, frame), daemon=True)
    thread.start()
    thread.join(timeout=60)
    return thread


def test_redis_refusing_connections_costs_a_warning_not_an_error(settings, caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CHANNEL_LAYERS = _layer_at(f"redis://127.0.0.1:{port}/0")
    caplog.set_level(logging.WARNING, logger="inbox.realtime.publish")

    thread = _send_in_thread(["h1-nowhere"], {"type": "message.created"})

    assert not thread.is_alive(), "the send did not return"
    assert any("channel layer unavailable; dropped message.created" in r.getMessage() for r in caplog.records)


def test_a_silent_redis_cannot_hang_the_caller_and_the_sender_recovers(settings, caplog, layer):
    # Accepts connections (the kernel does, from the backlog) and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    real_layers = settings.CHANNEL_LAYERS
    try:
        settings.CHANNEL_LAYERS = _layer_at(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        settings.REALTIME_SEND_TIMEOUT = 0.5
        caplog.set_level(logging.WARNING, logger="inbox.realtime.publish")

        thread = _send_in_thread(["h1-silent"], {"type": "conversation.updated"})

        assert not thread.is_alive(), "the send did not return"
        assert any("dropped conversation.updated" in r.getMessage() for r in caplog.records)
    finally:
        silent.close()
        settings.CHANNEL_LAYERS = real_layers

    # The sender loop is not wedged by the abandoned send.
    layer = get_channel_layer()
    group = _group()
    channel = _listen(layer, group)
    realtime._send([group], {"type": "alive"})
    assert _receive(layer, channel)["frame"] == {"type": "alive"}


def test_an_in_memory_layer_keeps_asgirefs_routing(settings, monkeypatch):
    """Without Redis (embedded mode) the in-memory layer's queues belong to the server's loop: no sender loop."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    group = _group()
    channel = _listen(layer, group)

    def no_sender_loop():
        raise AssertionError("the in-memory layer must not be used from the sender loop")

    monkeypatch.setattr(realtime, "_sender_loop", no_sender_loop)

    realtime._send([group, _group()], {"type": "embedded"})

    assert _receive(layer, channel)["frame"] == {"type": "embedded"}


def test_a_control_message_to_more_users_than_a_connection_pool_holds_reaches_them_all(layer, caplog):
    """redis-py's asyncio pool holds 100 connections: a frame's groups go out a bounded number at a
    time, so telling a large team (say 250 agents) to re-read their access does not fail whole."""
    caplog.set_level(logging.WARNING, logger="inbox.realtime.publish")
    user_ids = range(10_000_000, 10_000_250)
    channels = {pk: _listen(layer, f"user-{pk}") for pk in user_ids}

    realtime.access_recompute_send(user_ids)

    assert not [r for r in caplog.records if "channel layer unavailable" in r.getMessage()]
    for channel in channels.values():
        assert _receive(layer, channel) == {"type": "access.recompute"}
