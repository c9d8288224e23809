"""The payloads of realtime frames, built from the rows the services just changed.

The same shapes as the REST API's objects (a browser treats a frame like a refetched row; a test
holds the two equal), but built here from the models, once per frame, with no serializer
machinery: realtime does not depend on the REST layer. The REST list builds its rows here too
(`viewer=True`), so a page of the list and a frame are one shape from one place; the serializers
describe that shape for the OpenAPI schema and serve the single-object answers.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from customers.models import Label
from inbox.conversations.files import attachments_for_api
from inbox.conversations.selectors import READ_AT, unread_for
from inbox.models import Conversation, Message
from inbox.sla.state import sla_data


def _time(value: datetime | None, zone: tzinfo) -> str | None:
    """As DRF writes a date-time: ISO 8601 in the current time zone (`zone`: read once per object,
    `timezone.get_current_timezone()`), `Z` for UTC."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def conversation_groups(conversation: Conversation) -> list[str]:
    """Who may see a conversation's frames (the consumer decides which groups a socket joins)."""
    groups = [f"conversation-{conversation.pk}", f"inbox-{conversation.inbox_id}"]
    # A conversation routed to a team is visible to that team even when the inbox belongs to another.
    if conversation.team_id:
        groups.append(f"team-{conversation.team_id}")
    if conversation.assignee_id:
        groups.append(f"user-{conversation.assignee_id}")
    return groups


def labels_prefetch(conversations: list[Conversation]) -> None:
    """Read the labels of these conversations in one query, for their frames (`label_names`)."""
    for conversation in conversations:
        conversation.__dict__.pop("prefetched_labels", None)  # what an earlier read left may be stale
    prefetch_related_objects(
        conversations, Prefetch("labels", queryset=Label.objects.order_by("name"), to_attr="prefetched_labels")
    )


def labels_forget(conversations: list[Conversation]) -> None:
    """Drop what `labels_prefetch` read, so later code reading `label_names` asks the database again."""
    for conversation in conversations:
        conversation.__dict__.pop("prefetched_labels", None)


def conversation_data(
    conversation: Conversation,
    *,
    labels: list | None = None,
    label_names: list[str] | None = None,
    now: datetime | None = None,
    viewer: bool = False,
    inbox: dict[str, Any] | None = None,
    customer_name: str | None = None,
) -> dict[str, Any]:
    """The API's conversation object (ConversationSerializer's shape; tests hold the two equal).

    `labels`: the conversation's labels when the caller knows them (none for a new row);
    `label_names`: their names, sorted, as a list page reads them. `now`: one time for a whole page.
    `inbox` ({id, kind, name}) and `customer_name` (`str(customer)`): as a list page reads them, with
    no Inbox or Customer instance per row; else from `conversation.inbox` and `conversation.customer`.
    `viewer`: the REST list's rows, read for one agent: their read state (`READ_AT`, annotated by
    `selectors.with_read_state`) and the search `snippet`. A frame goes to everyone who may see the
    conversation, so without `viewer` those are null whatever the row carries.
    """
    if now is None:
        now = timezone.now()
    zone = timezone.get_current_timezone()
    state = conversation.window_state(now)
    if inbox is None:
        inbox = {"id": conversation.inbox.pk, "kind": conversation.inbox.kind, "name": conversation.inbox.name}
    if customer_name is None:
        customer_name = str(conversation.customer)
    if label_names is None:
        label_names = [label.name for label in labels] if labels is not None else conversation.label_names
    read_at = unread = snippet = None
    if viewer:
        snippet = getattr(conversation, "search_snippet", None)
        if hasattr(conversation, READ_AT):
            read_at = getattr(conversation, READ_AT)
            unread = unread_for(conversation, read_at)
    return {
        "id": conversation.pk,
        "inbox": inbox,
        "channel": conversation.channel,
        "customer": {"id": conversation.customer_id, "name": customer_name},
        "status": conversation.status,
        "assignee": conversation.assignee_id,
        "team": conversation.team_id,
        "labels": label_names,
        "subject": conversation.subject,
        "last_message_at": _time(conversation.last_message_at, zone),
        "waiting_since": _time(conversation.waiting_since, zone),
        "window": None if state is None else {"state": state, "expires_at": _time(conversation.window_expires(now), zone)},
        "unread_count": conversation.unread_count,
        "snoozed_until": _time(conversation.snoozed_until, zone),
        "created_at": _time(conversation.created_at, zone),
        "thread": conversation.thread,
        "last_message": _last_message(conversation, zone),
        "last_inbound_at": _time(conversation.last_inbound_at, zone),
        "read_at": _time(read_at, zone),
        "unread": unread,
        "snippet": snippet,
        "priority": conversation.priority,
        "sla": sla_data(conversation, now),
    }


def _last_message(conversation: Conversation, zone: tzinfo) -> dict[str, Any] | None:
    last = conversation.last_message
    return None if last is None else {**last, "created_at": _time(last["created_at"], zone)}


def message_data(message: Message) -> dict[str, Any]:
    if message.sender_type == "customer":
        sender = {"type": "customer", "id": message.conversation.customer_id}
    else:
        sender = {"type": message.sender_type, "id": message.author_id}
    failed = message.status == "failed" or message.error_code
    zone = timezone.get_current_timezone()
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "direction": message.direction,
        "text": message.text,
        "subject": message.subject,
        "sender": sender,
        "is_private": message.is_private,
        "created_at": _time(message.created_at, zone),
        "status": message.status,
        "error": {"code": message.error_code, "detail": message.error_detail} if failed else None,
        "external_id": message.external_id,
        "tag": message.tag,
        "messaging_type": message.messaging_type,
        "attachments": attachments_for_api(message),
        "payload": message.payload,
        "reactions": message.reactions,
        "deleted_at": _time(message.deleted_at, zone),
        "segments": message.segments,
        "sent_at": _time(message.sent_at, zone),
        "delivered_at": _time(message.delivered_at, zone),
        "read_at": _time(message.read_at, zone),
    }
