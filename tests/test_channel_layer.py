"""The channel layer bounds its Redis calls per event loop (inbox_project/channel_layer.py).

Against real Redis: redis-py's asyncio pool refuses a 101st concurrent connection, which is what
one daphne loop asks for when hundreds of sockets join their groups at once.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from inbox_project.channel_layer import BoundedRedisChannelLayer


def _redis_url() -> str:
    if not getattr(settings, "REDIS_URL", ""):
        pytest.skip("needs Redis")
    return settings.REDIS_URL


async def _burst(layer, sockets: int) -> tuple[list, int]:
    """`sockets` channels join one of 10 groups all at once; then one frame per group."""
    prefix = uuid.uuid4().hex[:8]
    channels = [await layer.new_channel() for _ in range(sockets)]
    joined = await asyncio.gather(*(layer.group_add(f"{prefix}-{i % 10}", c) for i, c in enumerate(channels)),
                                  return_exceptions=True)
    errors = [r for r in joined if isinstance(r, BaseException)]
    received = 0
    if not errors:
        for g in range(10):
            await layer.group_send(f"{prefix}-{g}", {"type": "burst"})
        for channel in channels:
            message = await asyncio.wait_for(layer.receive(channel), 10)
            received += message == {"type": "burst"}
    await layer.flush()
    return errors, received


@pytest.mark.asyncio
async def test_hundreds_of_concurrent_calls_on_one_loop_wait_their_turn():
    layer = BoundedRedisChannelLayer(hosts=[_redis_url()], prefix=f"t-bound-{uuid.uuid4().hex[:6]}")

    errors, received = await _burst(layer, 300)

    assert errors == []
    assert received == 300


@pytest.mark.asyncio
async def test_channels_redis_alone_refuses_them():
    """Why the bound exists: without it the same burst fails (if redis-py ever waits instead, drop the subclass)."""
    layer = RedisChannelLayer(hosts=[_redis_url()], prefix=f"t-unbound-{uuid.uuid4().hex[:6]}")

    errors, _ = await _burst(layer, 300)

    assert errors and {type(e).__name__ for e in errors} == {"MaxConnectionsError"}


def test_the_configured_layer_is_the_bounded_one():
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        pytest.skip("needs the Redis channel layer")
    assert isinstance(layer, BoundedRedisChannelLayer)
    assert 1 <= layer.max_in_flight < 100


def test_a_bound_below_one_is_refused():
    with pytest.raises(ValueError, match="max_in_flight"):
        BoundedRedisChannelLayer(hosts=["redis://127.0.0.1:6379/0"], max_in_flight=0)


class _LongPopLayer(BoundedRedisChannelLayer):
    """Blocking pops a second longer than redis-py's default 5 s read timeout: without a longer
    socket timeout every empty pop fails, instead of one now and then at 5 s against 5 s."""

    brpop_timeout = 6


@pytest.mark.asyncio
async def test_an_idle_socket_outlives_its_blocking_pops():
    """redis-py 8 reads with a 5 s socket timeout by default and channels_redis blocks 5 s on
    BZPOPMIN: the receive of a daphne process with nothing to deliver raced the two and, losing,
    crashed a consumer (seen in the realtime benchmark's daphne log). The layer gives its
    connections a socket timeout longer than its blocking pop."""
    layer = _LongPopLayer(hosts=[_redis_url()], prefix=f"t-idle-{uuid.uuid4().hex[:6]}")
    channel = await layer.new_channel()

    async def later():
        await asyncio.sleep(6.5)  # after the first pop came back empty
        await layer.send(channel, {"type": "late"})

    sender = asyncio.create_task(later())
    try:
        message = await asyncio.wait_for(layer.receive(channel), 20)
    finally:
        await sender
        await layer.flush()

    assert message == {"type": "late"}


def test_the_configured_layers_socket_timeout_outlasts_its_blocking_pop():
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        pytest.skip("needs the Redis channel layer")
    timeout = layer.create_pool(0).connection_kwargs["socket_timeout"]
    assert timeout is None or timeout > layer.brpop_timeout


def test_a_socket_timeout_within_the_blocking_pop_is_refused():
    with pytest.raises(ValueError, match="socket_timeout"):
        BoundedRedisChannelLayer(hosts=[{"address": "redis://127.0.0.1:6379/0", "socket_timeout": 5}])


async def _received(layer, channels: list[str]) -> dict[str, list[dict]]:
    """Everything queued for each channel (a short wait past the last message)."""
    out: dict[str, list[dict]] = {c: [] for c in channels}
    for channel in channels:
        while True:
            try:
                out[channel].append(await asyncio.wait_for(layer.receive(channel), 0.3))
            except TimeoutError:
                break
    return out


@pytest.mark.asyncio
async def test_sending_many_pairs_at_once_delivers_what_one_group_send_per_pair_delivers():
    """group_send_many: each (group, message) reaches every member once, in order, like group_send;
    a group nobody is in is skipped, and a process-local channel (daphne's sockets) gets its own copy."""
    prefix = f"t-many-{uuid.uuid4().hex[:6]}"
    results = []
    for method in ("one_by_one", "many"):
        layer = BoundedRedisChannelLayer(hosts=[_redis_url()], prefix=f"{prefix}-{method}")
        channels = [await layer.new_channel() for _ in range(4)]
        remote = "specific.remote!" + uuid.uuid4().hex[:6]  # another process's socket
        await layer.group_add("inbox-1", channels[0])
        await layer.group_add("inbox-1", channels[1])
        await layer.group_add("team-2", channels[1])
        await layer.group_add("team-2", channels[2])
        await layer.group_add("user-3", remote)
        pairs = [("inbox-1", {"type": "inbox.event", "n": 1}), ("team-2", {"type": "inbox.event", "n": 1}),
                 ("user-3", {"type": "inbox.event", "n": 1}), ("nobody", {"type": "inbox.event", "n": 1}),
                 ("inbox-1", {"type": "inbox.event", "n": 2})]
        if method == "many":
            await layer.group_send_many(pairs)
        else:
            for group, message in pairs:
                await layer.group_send(group, message)
        got = await _received(layer, channels)
        queued_remote = await layer.connection(0).zcard(layer.prefix + "specific.remote!")
        results.append(([got[c] for c in channels], queued_remote))
        await layer.flush()

    one_by_one, many = results
    assert many == one_by_one
    assert many[0] == [[{"type": "inbox.event", "n": 1}, {"type": "inbox.event", "n": 2}],
                       [{"type": "inbox.event", "n": 1}, {"type": "inbox.event", "n": 1}, {"type": "inbox.event", "n": 2}],
                       [{"type": "inbox.event", "n": 1}], []]
    assert many[1] == 1


@pytest.mark.asyncio
async def test_sending_many_pairs_drops_members_past_the_group_expiry():
    layer = BoundedRedisChannelLayer(hosts=[_redis_url()], prefix=f"t-many-exp-{uuid.uuid4().hex[:6]}", group_expiry=60)
    fresh, stale = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("inbox-9", fresh)
    await layer.connection(0).zadd(layer._group_key("inbox-9"), {stale: 1})  # joined in 1970

    await layer.group_send_many([("inbox-9", {"type": "inbox.event"})])

    got = await _received(layer, [fresh, stale])
    assert got == {fresh: [{"type": "inbox.event"}], stale: []}
    assert await layer.connection(0).zcard(layer._group_key("inbox-9")) == 1
    await layer.flush()


@pytest.mark.asyncio
async def test_one_message_to_several_groups_reaches_each_of_their_channels_once():
    """A frame to a conversation's inbox, team and assignee groups: a socket in all three gets one copy
    (it would drop the others), and a process's key holds one message for the frame, not three."""
    layer = BoundedRedisChannelLayer(hosts=[_redis_url()], prefix=f"t-merge-{uuid.uuid4().hex[:6]}")
    everywhere, inbox_only = await layer.new_channel(), await layer.new_channel()
    for group in ("inbox-1", "team-2", "user-3"):
        await layer.group_add(group, everywhere)
    await layer.group_add("inbox-1", inbox_only)
    remote = "specific.remote!" + uuid.uuid4().hex[:6]
    await layer.group_add("inbox-1", remote)
    await layer.group_add("team-2", remote)
    frame = {"type": "inbox.event", "frame": {"type": "message.created"}, "groups": ["inbox-1", "team-2", "user-3"]}

    await layer.group_send_many([("inbox-1", frame), ("team-2", frame), ("user-3", frame)])

    got = await _received(layer, [everywhere, inbox_only])
    assert got == {everywhere: [frame], inbox_only: [frame]}
    assert await layer.connection(0).zcard(layer.prefix + "specific.remote!") == 1
    await layer.flush()


@pytest.mark.asyncio
async def test_messages_dropped_on_a_full_channel_key_are_said_once_a_minute(caplog):
    """A process gone leaves its members in the groups until the expiry, and its key fills up: each frame
    then drops there. That is worth a warning, not one per frame."""
    layer = BoundedRedisChannelLayer(hosts=[_redis_url()], prefix=f"t-full-{uuid.uuid4().hex[:6]}", capacity=2)
    gone = "specific.gone!" + uuid.uuid4().hex[:6]
    await layer.group_add("inbox-7", gone)
    caplog.set_level("WARNING", logger="inbox_project.channel_layer")

    for n in range(6):
        await layer.group_send_many([("inbox-7", {"type": "inbox.event", "n": n})])

    warnings = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert warnings == ["1 messages dropped on full channel keys (latest to inbox-7): message dropped"]
    assert await layer.connection(0).zcard(layer.prefix + "specific.gone!") == 2
    await layer.flush()
