"""The one place realtime events leave from.

Events are sent after the transaction commits, to groups named for who may see them:
`conversation-<id>` (whoever has it open), `inbox-<id>` (everyone who may see that inbox's
conversations), `team-<id>` (the team it is routed to), `user-<id>` (the assignee). The consumer decides which groups a socket joins,
so an agent never receives events for conversations they may not see. The channel layer does
not replay: a reconnecting browser refetches over REST.
"""

from __future__ import annotations

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from rest_framework.utils.encoders import JSONEncoder

from inbox_project.logs import current_request_id

logger = logging.getLogger(__name__)


def conversation_groups(conversation) -> list[str]:
    groups = [f"conversation-{conversation.pk}", f"inbox-{conversation.inbox_id}"]
    # A conversation routed to a team is visible to that team even when the inbox belongs to another.
    if conversation.team_id:
        groups.append(f"team-{conversation.team_id}")
    if conversation.assignee_id:
        groups.append(f"user-{conversation.assignee_id}")
    return groups


def _send(groups: list[str], frame: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    # The layer serialises with msgpack: datetimes (e.g. a window's expires_at) become the API's strings.
    try:
        frame = json.loads(json.dumps(frame, cls=JSONEncoder))
        # The request id (webhook → task → socket) rides on the envelope, not in the frame browsers get.
        envelope = {"type": "inbox.event", "frame": frame, "request_id": current_request_id()}
        for group in dict.fromkeys(groups):
            async_to_sync(layer.group_send)(group, envelope)
    except Exception:  # the layer is best effort: browsers resync over REST
        logger.warning("channel layer unavailable; dropped %s", frame.get("type"))


def publish(groups: list[str], frame: dict) -> None:
    """Send `frame` to `groups` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(groups, frame), robust=True)


def message_changed(message, event_type: str) -> None:
    from .api.serializers import MessageSerializer

    conversation = message.conversation

    def send() -> None:
        frame = {"type": event_type, "conversation": conversation.pk, "message": MessageSerializer(message).data}
        _send(conversation_groups(conversation), frame)

    transaction.on_commit(send, robust=True)


def conversation_changed(conversation, event_type: str, *, previous_groups: list[str] | None = None) -> None:
    """`previous_groups`: where the conversation was visible before a move (old assignee, old inbox)."""
    from .api.serializers import ConversationSerializer

    def send() -> None:
        frame = {"type": event_type, "conversation": ConversationSerializer(conversation).data}
        _send(conversation_groups(conversation) + (previous_groups or []), frame)

    transaction.on_commit(send, robust=True)
