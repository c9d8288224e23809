"""The agent workspace's socket (`/ws/inbox/`): relays realtime events and carries presence.

On connect a socket joins the groups of what its user may see: `user-<id>`, `inbox-<id>` for
visible inboxes and `team-<id>` for the user's teams. A conversation's own group is joined only
on a "view" frame, after an object-level check. Events are published by `inbox.realtime.publish`;
conversation frames are re-checked here because a move to another team is also announced to the
groups that could see it before (so they can drop it), and those sockets must not get the new state.

Frames from the browser: `{"type": "view", "conversation": id}` (also the heartbeat),
`{"type": "leave", "conversation": id}`, `{"type": "typing", "conversation": id, "typing": bool}`,
`{"type": "ping"}`. Frames to the browser: whatever realtime publishes, plus `hello`, `presence`
(who is viewing or typing), `pong`, `error` and `access.changed`.

When what the user may see changes (teams, role, an inbox moved; see `inbox.team.access_events`), the
sockets get `access.recompute` on `user-<id>`: they re-read the user's access, leave the groups no
longer allowed (and threads no longer visible: `conversation.removed`), join the new ones and send
`access.changed` so the page refetches over REST. A deactivated user's sockets are closed (4401).
Frames still queued for a socket from groups it has left are dropped (the envelope names its groups).
While open, a socket renews its memberships four times per the layer's `group_expiry`, which drops
members that joined longer ago than that (so a tab open for days keeps its events, and only the
members of processes that died age out).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from inbox.realtime import presence
from inbox.team import access
from inbox.team.assignment import agent_presence_connected, agent_presence_disconnected

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# A user deactivated (or deleted) while connected: the browser treats it as signed out.
CLOSE_DEACTIVATED = CLOSE_UNAUTHENTICATED
# Seconds within which the same frame, arriving through another group, is dropped.
DUPLICATE_WINDOW = 5.0
# The layer drops a group member whose join is older than its group_expiry: a socket renews its
# groups this many times per expiry (with jitter, so sockets that connected together spread out).
GROUP_RENEWALS_PER_EXPIRY = 4


def _visibility(user) -> dict:
    """What a socket needs to decide, without a query per event, whether a frame may pass."""
    admin = access.is_admin(user)
    teams = access.team_ids_of(user)
    inboxes = list(access.inboxes_visible_to(user).values_list("id", flat=True))
    return {"admin": admin, "teams": set(teams), "inboxes": set(inboxes)}


_scope_of = database_sync_to_async(_visibility)


@database_sync_to_async
def _access_now(user_id: int, viewing: set[int]):
    """The user as stored now (None when deleted or deactivated), their visibility, and which of
    the threads `viewing` they may still see."""
    user = get_user_model().objects.select_related("agent").filter(pk=user_id).first()
    if user is None or not user.is_active:
        return None, None, set()
    visible = access.conversations_visible_to(user).filter(pk__in=viewing) if viewing else None
    still = set(visible.values_list("pk", flat=True)) if visible is not None else set()
    return user, _visibility(user), still


@database_sync_to_async
def _can_view(user, conversation_id: int) -> bool:
    return access.conversations_visible_to(user).filter(pk=conversation_id).exists()


@database_sync_to_async
def _presence_changed(user, connected: bool) -> None:
    """Seen now; an agent set away by presence comes back online, and one with no socket left is
    set away after a grace period (`inbox.team.assignment`)."""
    try:
        if connected:
            agent_presence_connected(user=user)
        else:
            agent_presence_disconnected(user=user)
    except Exception:  # availability is a side effect: a socket must not fail on it
        logger.exception("could not record presence of user %s", user.pk)


def display_name(user) -> str:
    return user.get_full_name() or user.get_username()


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        # However the socket's application ends (closed, or a handler failed, which skips
        # disconnect()), its renewals end with it: renewing a dead socket's groups would keep its
        # members alive past the expiry.
        try:
            return await super().__call__(scope, receive, send)
        finally:
            renewer = getattr(self, "renewer", None)
            if renewer is not None:
                renewer.cancel()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept then close so the browser sees the code (a refused handshake gives only 1006).
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.user_id = user.pk
        self.name = display_name(user)
        self.viewing: set[int] = set()
        self.groups_joined: set[str] = set()
        self.groups_lock = asyncio.Lock()  # joins, leaves and renewals one at a time
        self.recent: deque[tuple[int, float]] = deque(maxlen=256)
        self.visibility = await _scope_of(user)
        await self.accept()
        for group in self._groups_allowed():
            await self._join(group)
        self.renewer = asyncio.create_task(self._renew_groups())
        await _presence_changed(user, True)
        await self.send_json({"type": "hello", "user": {"id": self.user_id, "name": self.name}})

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user_id"):
            return
        for conversation_id in list(self.viewing):
            await self._stop_viewing(conversation_id)
        if renewer := getattr(self, "renewer", None):
            renewer.cancel()
        for group in list(self.groups_joined):
            await self._leave(group)
        await _presence_changed(self.user, False)

    # --- From the browser -------------------------------------------------------------------------

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            return await self.send_json({"type": "error", "code": "bad_frame", "detail": "Frames are JSON objects."})
        kind = content.get("type")
        handlers = {"view": self._on_view, "leave": self._on_leave, "typing": self._on_typing, "ping": self._on_ping}
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return await self.send_json({"type": "error", "code": "unknown_type", "detail": f"Unknown frame {kind!r}."})
        await handler(content)

    async def _on_ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def _on_view(self, content: dict) -> None:
        conversation_id = _int(content.get("conversation"))
        if conversation_id is None or not await _can_view(self.user, conversation_id):
            # The same answer for "does not exist" and "not yours": ids don't leak.
            return await self.send_json({"type": "error", "code": "not_found", "conversation": content.get("conversation")})
        first_time = conversation_id not in self.viewing
        self.viewing.add(conversation_id)
        await self._join(f"conversation-{conversation_id}")
        viewers = await presence.touch(conversation_id, self.user_id, self.name, self.channel_name)
        if first_time:
            # To the whole group, this socket included: the newcomer learns who is already there,
            # the others learn about the newcomer.
            await self._broadcast_presence(conversation_id, viewers)
        else:
            await self.send_json({"type": "presence", "conversation": conversation_id, "viewers": viewers})

    async def _on_leave(self, content: dict) -> None:
        conversation_id = _int(content.get("conversation"))
        if conversation_id in self.viewing:
            await self._stop_viewing(conversation_id)

    async def _on_typing(self, content: dict) -> None:
        conversation_id = _int(content.get("conversation"))
        if conversation_id not in self.viewing:
            return  # only to threads this socket was allowed to open
        typing = bool(content.get("typing"))
        viewers = await presence.set_typing(conversation_id, self.user_id, self.name, self.channel_name, typing)
        await self._broadcast_presence(conversation_id, viewers)

    # --- From the channel layer -----------------------------------------------------------------

    async def inbox_event(self, event: dict) -> None:
        sent_to = event.get("groups")
        if sent_to is not None and not self.groups_joined.intersection(sent_to):
            return  # queued before this socket left those groups (its access changed)
        frame = event.get("frame") or {}
        if frame.get("type", "").startswith("conversation.") and isinstance(frame.get("conversation"), dict):
            conversation = frame["conversation"]
            if not self._may_see(conversation):
                # Moved out of reach: forget it, stop receiving its thread, and say only that much.
                conversation_id = conversation.get("id")
                if conversation_id in self.viewing:
                    await self._stop_viewing(conversation_id)
                frame = {"type": "conversation.removed", "conversation": {"id": conversation_id}}
        if self._seen_just_now(frame):
            return
        await self.send_json(frame)

    def _seen_just_now(self, frame: dict) -> bool:
        """A socket sits in several groups one frame is sent to (inbox, team, user, thread): once is enough."""
        now = time.monotonic()
        fingerprint = hash(json.dumps(frame, sort_keys=True, default=str))
        while self.recent and self.recent[0][1] < now - DUPLICATE_WINDOW:
            self.recent.popleft()
        if any(seen == fingerprint for seen, _ in self.recent):
            return True
        self.recent.append((fingerprint, now))
        return False

    async def access_recompute(self, event: dict) -> None:
        """The user's teams, role or inboxes changed (committed): follow what they may see now."""
        if not hasattr(self, "user_id"):
            return
        user, visibility, still_viewable = await _access_now(self.user_id, set(self.viewing))
        if user is None:
            # Deactivated: nothing more reaches this socket, from now or already queued.
            for conversation_id in list(self.viewing):
                await self._stop_viewing(conversation_id)
            for group in list(self.groups_joined):
                await self._leave(group)
            await self.close(code=CLOSE_DEACTIVATED)
            return
        self.user, self.visibility = user, visibility
        for conversation_id in sorted(self.viewing - still_viewable):
            await self._stop_viewing(conversation_id)
            await self.send_json({"type": "conversation.removed", "conversation": {"id": conversation_id}})
        allowed = set(self._groups_allowed()) | {f"conversation-{c}" for c in self.viewing}
        for group in sorted(self.groups_joined - allowed):
            await self._leave(group)
        for group in self._groups_allowed():
            await self._join(group)
        await self.send_json({"type": "access.changed"})

    async def presence_event(self, event: dict) -> None:
        frame = event["frame"]
        if frame.get("conversation") in self.viewing:
            await self.send_json(frame)

    # --- Helpers ----------------------------------------------------------------------------------

    def _may_see(self, conversation: dict) -> bool:
        """The rule of `access.conversations_visible_to`, applied to a serialised conversation."""
        if self.visibility["admin"]:
            return True
        inbox = conversation.get("inbox")
        inbox_id = inbox.get("id") if isinstance(inbox, dict) else inbox
        return (
            inbox_id in self.visibility["inboxes"]
            or conversation.get("team") in self.visibility["teams"]
            or _assignee_id(conversation.get("assignee")) == self.user_id
        )

    def _groups_allowed(self) -> list[str]:
        groups = [f"user-{self.user_id}"]
        groups += [f"inbox-{i}" for i in sorted(self.visibility["inboxes"])]
        groups += [f"team-{t}" for t in sorted(self.visibility["teams"])]
        return groups

    async def _join(self, group: str) -> None:
        async with self.groups_lock:
            if group not in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.add(group)

    async def _leave(self, group: str) -> None:
        async with self.groups_lock:
            if group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.discard(group)

    async def _renew_groups(self) -> None:
        """Re-join every group well within the layer's group_expiry, for as long as the socket is open
        (a tab left open over a day would otherwise drop out of its groups without a sign)."""
        expiry = getattr(self.channel_layer, "group_expiry", None)
        if not expiry:
            return
        interval = expiry / GROUP_RENEWALS_PER_EXPIRY
        while True:
            await asyncio.sleep(interval * random.uniform(0.75, 1.0))
            async with self.groups_lock:
                try:
                    for group in sorted(self.groups_joined):
                        await self.channel_layer.group_add(group, self.channel_name)
                except Exception as exc:  # Redis away: the next renewal, well within the expiry, tries again
                    logger.warning("could not renew the groups of a socket of user %s (%s)", self.user_id, type(exc).__name__)

    async def _stop_viewing(self, conversation_id: int) -> None:
        self.viewing.discard(conversation_id)
        await self._leave(f"conversation-{conversation_id}")
        viewers = await presence.remove(conversation_id, self.channel_name)
        await self._broadcast_presence(conversation_id, viewers)

    async def _broadcast_presence(self, conversation_id: int, viewers: list[dict]) -> None:
        frame = {"type": "presence", "conversation": conversation_id, "viewers": viewers, "at": time.time()}
        await self.channel_layer.group_send(f"conversation-{conversation_id}", {"type": "presence.event", "frame": frame})


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _assignee_id(assignee) -> int | None:
    if isinstance(assignee, dict):
        return assignee.get("id")
    return assignee

