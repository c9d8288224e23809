"""The Redis channel layer, with a bound on how many of its calls one event loop has in flight.

channels_redis takes a connection from redis-py's asyncio pool for every call, and that pool
refuses a connection beyond its size (100, MaxConnectionsError) instead of waiting for one. Daphne
serves every socket from one event loop, so a few hundred browsers reconnecting at once (after a
deploy or a Redis restart) joining their groups, or one frame to a large team's user groups, would
fail whole. Here such calls wait their turn: at most `max_in_flight` per loop, the rest queued.

`receive` is not bounded: channels_redis runs one receive at a time per process already, and it
blocks for as long as nothing arrives.

`group_send_many` sends many (group, message) pairs as channels_redis' `group_send` would send each,
in two pipelined round trips per Redis host instead of four per pair: the frames of a batch of
events (inbox/realtime/publish.py) leave together, and a message sent to several groups reaches each
of their channels once (one message per daphne process, not one per group). It uses channels_redis' key layout and Lua script
(channels-redis 4.x, pinned in requirements.txt); tests/test_channel_layer.py holds the two
equal.

Receiving is a blocking pop (BZPOPMIN) of `brpop_timeout` seconds (5), while redis-py 8 gives every
connection a 5 s read timeout by default: a process with nothing to deliver raced the two, and when
the read timed out first the consumer holding the receive crashed (its socket closed with 1011).
Connections here get a read timeout `RECEIVE_MARGIN` seconds longer than the pop unless the hosts
configure one, and one no longer than the pop is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from typing import Any

from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

RECEIVE_MARGIN = 5  # seconds a connection waits for a blocking pop's answer beyond the pop itself
DROPPED_WARNING_EVERY = 60.0  # seconds between warnings that messages were dropped on full channel keys

# channels_redis' own group_send script: each message onto its channel key unless that is full.
GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


class BoundedRedisChannelLayer(RedisChannelLayer):
    hosts: list[dict[str, Any]]

    def __init__(self, *args: Any, max_in_flight: int = 50, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        hosts: list[dict[str, Any]] = []
        for host in self.hosts:
            host = {**host}
            timeout = host.setdefault("socket_timeout", self.brpop_timeout + RECEIVE_MARGIN)
            if timeout is not None and timeout <= self.brpop_timeout:
                raise ValueError(f"socket_timeout ({timeout}s) must outlast the blocking receive ({self.brpop_timeout}s)")
            hosts.append(host)
        self.hosts = hosts
        self.max_in_flight = max_in_flight
        self._in_flight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _limit(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        limit = self._in_flight.get(loop)
        if limit is None:
            limit = self._in_flight.setdefault(loop, asyncio.Semaphore(self.max_in_flight))
        return limit

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        async with self._limit():
            return await super().send(channel, message)

    async def group_add(self, group: str, channel: str) -> None:
        async with self._limit():
            return await super().group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        async with self._limit():
            return await super().group_discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        async with self._limit():
            return await super().group_send(group, message)

    def _dropped_note(self, count: int, groups: str) -> None:
        """A message not queued on a full channel key: a process gone (its members stay until the group
        expiry) or one too slow to read. channels_redis says so at INFO, which nobody reads; here a
        warning at most once a minute per process, with how many since the last."""
        self._dropped = getattr(self, "_dropped", 0) + count
        now = time.monotonic()
        if now - getattr(self, "_dropped_said_at", -DROPPED_WARNING_EVERY) >= DROPPED_WARNING_EVERY:
            logger.warning("%d messages dropped on full channel keys (latest to %s): message dropped", self._dropped,
                           groups)
            self._dropped, self._dropped_said_at = 0, now

    async def group_send_many(self, pairs: list[tuple[str, dict[str, Any]]]) -> None:
        """`group_send(group, message)` for every pair, pipelined: first every group's members (expired
        ones dropped), then every message onto its members' channel keys, one pipeline per host each."""
        if not pairs:
            return
        async with self._limit():
            now = time.time()
            groups = list(dict.fromkeys(group for group, _ in pairs))
            for group in groups:
                assert self.require_valid_group_name(group), "Group name not valid"
            by_host: dict[int, list[str]] = defaultdict(list)
            for group in groups:
                by_host[self.consistent_hash(group)].append(group)
            members: dict[str, list[str]] = {}

            async def read(index: int, host_groups: list[str]) -> None:
                pipe = self.connection(index).pipeline(transaction=False)
                for group in host_groups:
                    key = self._group_key(group)
                    pipe.zremrangebyscore(key, min=0, max=int(now) - self.group_expiry)
                    pipe.zrange(key, 0, -1)
                results = await pipe.execute()
                for i, group in enumerate(host_groups):
                    members[group] = [name.decode("utf8") for name in results[2 * i + 1]]

            await asyncio.gather(*(read(index, host_groups) for index, host_groups in by_host.items()))

            # Per host: the expired messages of every channel key dropped, then one script per pair.
            # One message sent to several groups (the same object: a frame to a conversation's inbox,
            # team and assignee) goes once to each channel in any of them: a socket in three of those
            # groups would drop the two copies anyway, and each daphne process's key gets one message
            # per frame instead of one per group (a burst of frames filled keys to their capacity).
            merged: dict[int, tuple[list[str], dict[str, Any], list[str]]] = {}
            for group, message in pairs:
                entry = merged.setdefault(id(message), ([], message, []))
                entry[0].append(group)
                entry[2].extend(members[group])
            # A channel key is a sorted set by time: each message a microsecond after the one before
            # keeps their order, as one group_send after another does.
            writes: dict[int, list[tuple[str, list]]] = defaultdict(list)
            for position, (message_groups, message, channels) in enumerate(merged.values()):
                group = ",".join(message_groups)
                channels = list(dict.fromkeys(channels))
                if not channels:
                    continue
                host_keys, key_messages, key_capacity = self._map_channel_keys_to_connection(channels, message)
                at = now + position * 1e-6
                for index, keys in host_keys.items():
                    args = [key_messages[k] for k in keys] + [key_capacity[k] for k in keys] + [at, self.expiry]
                    writes[index].append((group, [len(keys), *keys, *args]))

            async def write(index: int, scripts: list[tuple[str, list]]) -> None:
                pipe = self.connection(index).pipeline(transaction=False)
                for key in dict.fromkeys(k for _, call in scripts for k in call[1:1 + call[0]]):
                    pipe.zremrangebyscore(key, min=0, max=int(now) - int(self.expiry))
                for _, call in scripts:
                    pipe.eval(GROUP_SEND_LUA, *call)
                results = await pipe.execute()
                for (group, _call), over in zip(scripts, results[len(results) - len(scripts):], strict=True):
                    if over:
                        self._dropped_note(over, group)

            await asyncio.gather(*(write(index, scripts) for index, scripts in writes.items()))
