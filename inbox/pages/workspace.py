"""The agent workspace pages: `/` (the inbox) and `/conversations/<id>/` (a deep link).

Both render the same page; the JavaScript in static/inbox/ fills it from the REST API and the
socket. A conversation the user may not see is a 404, like in the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from inbox.api.serializers import ConversationSerializer, MessageSerializer
from inbox.conversations.timeline import read_receipt_mode, timeline_for, workspace_data
from inbox.team.access import conversations_visible_to


@require_GET
@login_required
def workspace(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    conversation = None
    if conversation_id is not None:
        conversation = get_object_or_404(
            conversations_visible_to(request.user).select_related("inbox", "customer"), pk=conversation_id
        )
    return render(
        request,
        "inbox/workspace.html",
        {"conversation": conversation, "workspace": workspace_data(user=request.user)},
    )


@require_GET
@login_required
def timeline(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """The cross-channel timeline of the conversation's customer, as far as the user may see."""
    conversation = get_object_or_404(
        conversations_visible_to(request.user).select_related("inbox", "customer", "assignee"), pk=conversation_id
    )
    before = request.GET.get("before")
    try:
        before_dt = parse_datetime(before) if before else None
    except ValueError:  # well-formed but impossible, e.g. 2024-02-30
        before_dt = None
    if before and before_dt is None:
        return JsonResponse({"code": "invalid", "detail": "before: not an ISO 8601 date-time."}, status=400)
    data = timeline_for(user=request.user, conversation=conversation, before=before_dt)
    conversations = data["conversations"]
    items: list[tuple[Any, int, dict[str, Any]]] = []
    for message in data["messages"]:
        row = MessageSerializer(message).data
        source = conversations[message.conversation_id]
        row.update(
            kind="message",
            channel=source.channel,
            inbox_name=source.inbox.name,
            author_name=(message.author.get_full_name() or message.author.get_username()) if message.author else None,
        )
        items.append((message.created_at, message.pk, row))
    for event in data["events"]:
        items.append(
            (event.created_at, event.pk, {
                "kind": "event",
                "id": f"event-{event.pk}",
                "conversation": event.conversation_id,
                "channel": conversations[event.conversation_id].channel,
                "event": event.kind,
                "data": event.data,
                "actor_name": (event.actor.get_full_name() or event.actor.get_username()) if event.actor else None,
                "created_at": event.created_at.isoformat(),
            })
        )
    items.sort(key=lambda item: (item[0], item[1]))
    return JsonResponse(
        {
            "conversation": ConversationSerializer(conversation).data,
            "read_receipt": read_receipt_mode(conversation.inbox),
            "items": [row for _, _, row in items],
            "has_more": data["has_more"],
        }
    )
