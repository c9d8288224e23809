"""Reads for the agent workspace pages: what the page needs up front, and a customer's timeline.

The conversation list, threads and actions go through the REST API; this module only adds what
the API has no place for: the directory data a page embeds once (agents, teams, inboxes, labels,
canned responses) and the cross-channel timeline of one customer.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q

from customers.models import Label
from inbox.conversations.canned import canned_for
from inbox.models import Conversation, ConversationEvent, Message, Team
from inbox.team.access import conversations_visible_to, inboxes_visible_to, is_admin, team_ids_of

# Per inbox (`inbox.settings["read_receipt"]`): when the customer is told the agent has seen it.
#   "answer": when the agent starts answering (focuses the reply box) — the default;
#   "open": when the thread is opened; "never".
READ_RECEIPT_CHOICES = ("answer", "open", "never")
TIMELINE_LIMIT = 200


def read_receipt_mode(inbox) -> str:
    mode = (inbox.settings or {}).get("read_receipt", "answer")
    return mode if mode in READ_RECEIPT_CHOICES else "answer"


def workspace_data(*, user) -> dict:
    """Embedded once in the page as JSON: a constant number of queries, whatever the size."""
    User = get_user_model()
    teams = list(Team.objects.values("id", "name"))
    mine = set(team_ids_of(user))
    agents_qs = User.objects.filter(agent__isnull=False, is_active=True)
    if not is_admin(user):
        agents_qs = agents_qs.filter(Q(agent__teams__in=mine) | Q(pk=user.pk)).distinct()
    agents = [
        {"id": u.pk, "name": u.get_full_name() or u.get_username(), "username": u.get_username()}
        for u in agents_qs.order_by("username").only("id", "username", "first_name", "last_name")
    ]
    inboxes = [
        {"id": i.pk, "kind": i.kind, "name": i.name, "read_receipt": read_receipt_mode(i)}
        for i in inboxes_visible_to(user).order_by("name")
    ]
    return {
        "me": {"id": user.pk, "name": user.get_full_name() or user.get_username(), "teams": sorted(mine)},
        "teams": teams,
        "agents": agents,
        "inboxes": inboxes,
        "labels": list(Label.objects.order_by("name").values_list("name", flat=True)[:500]),
        "canned": [
            {"shortcut": c.shortcut, "title": c.title, "text": c.text} for c in canned_for(user=user)
        ],
        # Endpoints the page's scripts may use (static/inbox/workspace/state.js reads these).
        "features": {"message_retry": True, "saved_views": True, "bulk": True, "assignable": True, "opened": True},
    }


def timeline_for(*, user, conversation: Conversation, before: datetime | None = None, limit: int = TIMELINE_LIMIT) -> dict:
    """The customer's messages and conversation events across every conversation `user` may see.

    Newest `limit` items before `before`, returned oldest first. Conversations the user may not
    see (another team's inbox) are left out, so the timeline never leaks what the list would hide.
    """
    visible = conversations_visible_to(user).filter(customer_id=conversation.customer_id)
    conversations = {
        c.pk: c for c in visible.select_related("inbox").only("id", "channel", "inbox__id", "inbox__name", "inbox__kind")
    }
    messages = Message.objects.filter(conversation_id__in=list(conversations)).select_related("conversation", "author")
    # A macro's steps show as the macro's one entry (its `data.steps` says what each did).
    events = ConversationEvent.objects.filter(
        conversation_id__in=list(conversations), part_of__isnull=True
    ).select_related("actor")
    if before is not None:
        messages = messages.filter(created_at__lt=before)
        events = events.filter(created_at__lt=before)
    message_rows = list(messages.order_by("-created_at", "-id")[:limit])
    event_rows = list(events.order_by("-created_at", "-id")[:limit])
    return {
        "conversations": conversations,
        "messages": message_rows[::-1],
        "events": event_rows[::-1],
        "has_more": len(message_rows) == limit or len(event_rows) == limit,
    }
