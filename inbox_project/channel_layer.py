"""The Redis channel layer, with a bound on how many of its calls one event loop has in flight.

channels_redis takes a connection from redis-py's asyncio pool for every call, and that pool
refuses a connection beyond its size (100, MaxConnectionsError) instead of waiting for one. Daphne
serves every socket from one event loop, so a few hundred browsers reconnecting at once (after a
deploy or a Redis restart) joining their groups, or one frame to a large team's user groups, would
fail whole. Here such calls wait their turn: at most `max_in_flight` per loop, the rest queued.

`receive` is not bounded: channels_redis runs one receive at a time per process already, and it
blocks for as long as nothing arrives.

Receiving is a blocking pop (BZPOPMIN) of `brpop_timeout` seconds (5), while redis-py 8 gives every
connection a 5 s read timeout by default: a process with nothing to deliver raced the two, and when
the read timed out first the consumer holding the receive crashed (its socket closed with 1011).
Connections here get a read timeout `RECEIVE_MARGIN` seconds longer than the pop unless the hosts
configure one, and one no longer than the pop is refused.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from channels_redis.core import RedisChannelLayer

RECEIVE_MARGIN = 5  # seconds a connection waits for a blocking pop's answer beyond the pop itself


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
