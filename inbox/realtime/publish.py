"""The one place realtime events leave from.

Events are sent after the transaction commits, to groups named for who may see them:
`conversation-<id>` (whoever has it open), `inbox-<id>` (everyone who may see that inbox's
conversations), `team-<id>` (the team it is routed to), `user-<id>` (the assignee). The consumer decides which groups a socket joins,
so an agent never receives events for conversations they may not see. The channel layer does
not replay: a reconnecting browser refetches over REST.

Sending is best effort and bounded: all groups of a frame go out together, from one long-lived
event loop per process (so one pool of Redis connections, not a new connection per group), and a
frame that cannot leave within REALTIME_SEND_TIMEOUT seconds is dropped with a warning.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from rest_framework.utils.encoders import JSONEncoder

from inbox.models import Conversation, Message
from inbox.realtime import frames
from inbox.realtime.frames import conversation_groups
from inbox_project.logs import current_request_id

logger = logging.getLogger(__name__)

class _SenderLoop:
    """One event loop per process, on a daemon thread, that every frame of the process leaves from.

    channels_redis keeps its Redis connections per event loop. Code without a running loop (Celery
    tasks, management commands, sync views under daphne) would otherwise make a fresh loop, and so
    a fresh Redis connection, for every async_to_sync call. Made lazily; a forked child (Celery
    prefork) gets its own, since the parent's thread does not exist there and its sockets are shared.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="realtime-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive() and not self.loop.is_closed()

    def stop(self) -> None:
        """Stop the loop and its thread (tests)."""
        if self.pid == os.getpid() and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)


_sender: _SenderLoop | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    global _sender
    sender = _sender
    if sender is not None and sender.alive():
        return sender.loop
    with _sender_lock:
        if _sender is None or not _sender.alive():
            _sender = _SenderLoop()
        return _sender.loop


def _after_fork_in_child() -> None:
    # The parent's sender thread is not running here, and its lock may have been held mid-fork.
    global _sender, _sender_lock
    _sender = None
    _sender_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _uses_sender_loop(layer) -> bool:
    """Layers holding connections per event loop (Redis) send from the process's sender loop.

    Any other layer (in-memory: queues bound to the server's loop) keeps asgiref's routing, which
    from a sync view thread runs the coroutine on the server's own loop.
    """
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - channels_redis is a dependency
        return False
    return isinstance(layer, RedisChannelLayer)


async def _drop_connections(layer) -> None:
    """Forget this loop's pooled Redis connections (e.g. stale after a Redis restart)."""
    loop_layer = getattr(layer, "_layers", {}).get(asyncio.get_running_loop())
    if loop_layer is None:
        return
    try:
        await loop_layer.flush()
    except Exception:  # closing a dead connection may fail too: it is dropped either way
        logger.debug("closing stale channel layer connections failed", exc_info=True)


async def _group_send_all(layer, groups: list[str], envelope: dict, *, retry: bool = False) -> None:
    """Send one envelope to every group at once. With `retry`, groups that failed are sent once
    more over fresh connections (a pooled connection may be stale after a Redis restart)."""
    await _group_send_pairs(layer, [(group, envelope) for group in groups], retry=retry)


async def _group_send_pairs(layer, pairs: list[tuple[str, dict]], *, retry: bool = False) -> None:
    """Send each (group, envelope). A layer with `group_send_many` (inbox_project/channel_layer.py)
    takes them all in two Redis round trips; any other gets one group_send per pair, all at once."""
    many = getattr(layer, "group_send_many", None)
    if many is not None:
        try:
            await many(pairs)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            await _drop_connections(layer)
            if not retry:
                raise
            await many(pairs)  # fresh connections; what had gone out before the failure is not resent twice
            return
    results = await asyncio.gather(*(layer.group_send(group, envelope) for group, envelope in pairs),
                                   return_exceptions=True)
    failed = [pair for pair, r in zip(pairs, results, strict=True) if isinstance(r, BaseException)]
    if not failed:
        return
    first_error = next(r for r in results if isinstance(r, BaseException))
    if isinstance(first_error, asyncio.CancelledError):
        raise first_error
    await _drop_connections(layer)
    if not retry:
        raise first_error
    await _group_send_pairs(layer, failed, retry=False)


def _deliver(layer, groups: list[str], envelope: dict) -> None:
    """Send to all groups, blocking at most settings.REALTIME_SEND_TIMEOUT; raises when the frame could not leave."""
    _deliver_pairs(layer, [(group, envelope) for group in groups])


def _deliver_pairs(layer, pairs: list[tuple[str, dict]]) -> None:
    """Send every (group, envelope) together, blocking at most settings.REALTIME_SEND_TIMEOUT."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # sync code, as it should be
    else:  # blocking here would stall the caller's event loop
        raise RuntimeError("realtime frames leave from sync code; call it through sync_to_async")
    if not _uses_sender_loop(layer):
        async_to_sync(_group_send_pairs)(layer, pairs)
        return
    timeout = float(settings.REALTIME_SEND_TIMEOUT)
    future = asyncio.run_coroutine_threadsafe(_group_send_pairs(layer, pairs, retry=True), _sender_loop())
    try:
        future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"channel layer did not answer within {timeout}s") from None


def _envelope(groups: list[str], frame: dict) -> tuple[list[str], dict]:
    # The layer serialises with msgpack: datetimes (e.g. a window's expires_at) become the API's strings.
    frame = json.loads(json.dumps(frame, cls=JSONEncoder))
    groups = list(dict.fromkeys(groups))
    # The request id (webhook → task → socket) rides on the envelope, not in the frame browsers get;
    # so do the groups it was sent to: a socket that has left all of them since (its access
    # changed) drops a frame still queued for it (see InboxConsumer.inbox_event).
    return groups, {"type": "inbox.event", "frame": frame, "request_id": current_request_id(), "groups": groups}


def _send(groups: list[str], frame: dict) -> None:
    _send_many([(groups, frame)])


def _send_many(frames_to_send: list[tuple[list[str], dict]]) -> None:
    """Send frames, each to its groups, in one delivery (one wait for the channel layer)."""
    layer = get_channel_layer()
    if layer is None or not frames_to_send:
        return
    try:
        pairs = []
        for groups, frame in frames_to_send:
            groups, envelope = _envelope(groups, frame)
            pairs += [(group, envelope) for group in groups]
        _deliver_pairs(layer, pairs)
    except Exception as exc:  # the layer is best effort: browsers resync over REST
        kinds = ", ".join(sorted({str(frame.get("type", "?")) for _, frame in frames_to_send}))
        what = kinds if len(frames_to_send) == 1 else f"{len(frames_to_send)} frames ({kinds})"
        logger.warning("channel layer unavailable; dropped %s (%s)", what, type(exc).__name__)


def access_recompute_send(user_ids) -> None:
    """Tell the open sockets of these users to re-read what they may see (now: call it after commit).

    A control message to `user-<id>`, handled by InboxConsumer.access_recompute; never reaches a browser as is.
    """
    groups = [f"user-{pk}" for pk in sorted(set(user_ids))]
    layer = get_channel_layer()
    if layer is None or not groups:
        return
    try:
        _deliver(layer, groups, {"type": "access.recompute"})
    except Exception as exc:  # best effort like every frame; a reconnect recomputes anyway
        logger.warning("channel layer unavailable; sockets of %d users keep their groups (%s)", len(groups), type(exc).__name__)


# --- Frames of a batch -----------------------------------------------------------------------------
# Inside `batched()`, the frames below are not sent one by one at commit: they are collected, and at
# commit each is built once (a conversation changed by several events of the batch gets one
# `conversation.updated`, with its state at commit; their labels are read in one query) and all of
# them leave in one delivery. Outside, every call registers its own on_commit as before.

_Builder = Callable[[], "tuple[list[str], dict] | None"]


class _Batch:
    def __init__(self) -> None:
        self.builders: dict[object, _Builder] = {}  # key -> builder; a later change of the same thing replaces it
        self.conversations: dict[int, Conversation] = {}  # whose labels the frames need at commit

    def add(self, key: object, builder: _Builder) -> None:
        self.builders.pop(key, None)  # re-inserted last: the frame goes out after what happened before it
        self.builders[key] = builder

    def send(self) -> None:
        labelled = list(self.conversations.values())
        built = []
        try:
            if labelled:
                frames.labels_prefetch(labelled)
            for builder in self.builders.values():
                try:
                    item = builder()
                except Exception:  # one frame that cannot be built must not keep the others from leaving
                    logger.exception("realtime frame could not be built")
                    continue
                if item is not None:
                    built.append(item)
        finally:
            frames.labels_forget(labelled)
        _send_many(built)


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("inbox_realtime_batch", default=None)


@contextmanager
def batched() -> Iterator[None]:
    """Collect the frames published inside (in a transaction) and send them together at commit."""
    if _batch.get() is not None:  # already collecting: the outer batch sends them
        yield
        return
    batch = _Batch()
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
    if batch.builders:
        transaction.on_commit(batch.send, robust=True)


def _at_commit(key: object, builder: _Builder, conversation: Conversation | None = None) -> None:
    batch = _batch.get()
    if batch is None:
        def send() -> None:
            item = builder()
            if item is not None:
                _send(*item)

        transaction.on_commit(send, robust=True)
        return
    if conversation is not None and conversation.pk is not None:
        batch.conversations[conversation.pk] = conversation
    batch.add(key, builder)


def publish(groups: list[str], frame: dict) -> None:
    """Send `frame` to `groups` once the current transaction commits (at once outside one)."""
    _at_commit(object(), lambda: (groups, frame))


def message_changed(message: Message, event_type: str) -> None:
    """Publish `message` (as it is at commit) to whoever may see its conversation."""
    conversation = message.conversation

    def build() -> tuple[list[str], dict]:
        frame = {"type": event_type, "conversation": conversation.pk, "message": frames.message_data(message)}
        return conversation_groups(conversation), frame

    _at_commit(("message", event_type, message.pk) if message.pk is not None else object(), build)


def conversation_changed(
    conversation: Conversation, event_type: str, *, previous_groups: list[str] | None = None, labels: list | None = None
) -> None:
    """`previous_groups`: where the conversation was visible before a move (old assignee, old inbox).

    `labels`: the conversation's labels when the caller knows them at commit (a conversation made in
    this transaction has none), so the frame need not read them.
    """

    def build() -> tuple[list[str], dict]:
        frame = {"type": event_type, "conversation": frames.conversation_data(conversation, labels=labels)}
        return conversation_groups(conversation) + (previous_groups or []), frame

    batch = _batch.get()
    if batch is not None and conversation.pk is not None:
        # One frame per conversation and kind in a batch, built from the row as it is at commit; a
        # move's earlier groups are kept, so whoever saw it before hears that it left.
        key = ("conversation", event_type, conversation.pk)
        earlier = getattr(batch.builders.get(key), "previous_groups", [])
        previous_groups = list(dict.fromkeys([*earlier, *(previous_groups or [])]))
        if key in batch.builders and getattr(batch.builders[key], "labels", None) is None:
            labels = None  # read at commit unless every change of the batch knew them (a new row's: none)
        build.previous_groups = previous_groups  # type: ignore[attr-defined]
        build.labels = labels  # type: ignore[attr-defined]
        _at_commit(key, build, conversation=None if labels is not None else conversation)
        return
    _at_commit(object(), build)
