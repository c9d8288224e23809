"""Who is viewing or typing in a conversation, kept in Redis so every daphne process agrees.

One entry per socket (a channel name), scored by its last heartbeat; entries older than
STALE_AFTER are dropped on the next read, so a browser that vanished without closing its socket
disappears within a minute. Keys expire on their own when a thread goes quiet. Without Redis
(the embedded mode) a process-local dict does the same for a single process.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

STALE_AFTER = 60  # seconds without a heartbeat (browsers send one every 25 s)
KEY_TTL = 120

_local: dict[int, dict[str, tuple[float, dict]]] = {}


def _prefix() -> str:
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    layer = layers.get("default", {}).get("CONFIG", {})
    return f"{layer.get('prefix', 'inbox')}:presence"


def _keys(conversation_id: int) -> tuple[str, str]:
    base = f"{_prefix()}:{conversation_id}"
    return f"{base}:seen", f"{base}:info"


def _viewers(entries: list[dict]) -> list[dict]:
    """One row per person (an agent may have two tabs open), typing if any tab is typing."""
    people: dict[int, dict] = {}
    for entry in entries:
        person = people.setdefault(entry["id"], {"id": entry["id"], "name": entry["name"], "typing": False})
        person["typing"] = person["typing"] or bool(entry.get("typing"))
    return sorted(people.values(), key=lambda p: p["name"].lower())


async def _update(conversation_id: int, channel: str, entry: dict | None) -> list[dict]:
    """Upsert (entry) or remove (None) this socket's row; return the current viewers."""
    now = time.time()
    redis_url = getattr(settings, "REDIS_URL", None)
    if not redis_url:
        rows = _local.setdefault(conversation_id, {})
        if entry is None:
            rows.pop(channel, None)
        else:
            rows[channel] = (now, entry)
        for name, (seen, _) in list(rows.items()):
            if seen < now - STALE_AFTER:
                rows.pop(name)
        return _viewers([e for _, e in rows.values()])

    seen_key, info_key = _keys(conversation_id)
    async with aioredis.from_url(redis_url) as r:
        async with r.pipeline(transaction=True) as pipe:
            if entry is None:
                pipe.zrem(seen_key, channel)
                pipe.hdel(info_key, channel)
            else:
                pipe.zadd(seen_key, {channel: now})
                pipe.hset(info_key, channel, json.dumps(entry))
            pipe.zrangebyscore(seen_key, "-inf", now - STALE_AFTER)
            pipe.zrangebyscore(seen_key, now - STALE_AFTER, "+inf")
            pipe.expire(seen_key, KEY_TTL)
            pipe.expire(info_key, KEY_TTL)
            result = await pipe.execute()
        stale, live = result[-4], result[-3]
        if stale:
            await r.zrem(seen_key, *stale)
            await r.hdel(info_key, *stale)
        if not live:
            return []
        infos = await r.hmget(info_key, live)
    return _viewers([json.loads(i) for i in infos if i])


async def touch(conversation_id: int, user_id: int, name: str, channel: str) -> list[dict]:
    return await _update(conversation_id, channel, {"id": user_id, "name": name, "typing": False})


async def set_typing(conversation_id: int, user_id: int, name: str, channel: str, typing: bool) -> list[dict]:
    return await _update(conversation_id, channel, {"id": user_id, "name": name, "typing": typing})


async def remove(conversation_id: int, channel: str) -> list[dict]:
    return await _update(conversation_id, channel, None)
