"""Who may see what. Every API view, page and socket subscription goes through these.

Admins see everything. Everyone else sees the conversations of inboxes owned by their teams,
conversations routed to their teams, and conversations assigned to them. An object outside
what a user may see is answered with 404, never 403, so ids don't leak.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Agent, Conversation, Inbox, Role


def agent_of(user) -> Agent | None:
    if not user or not user.is_authenticated:
        return None
    try:
        return user.agent
    except Agent.DoesNotExist:
        return None


def role_of(user) -> str | None:
    if user is not None and user.is_authenticated and user.is_superuser:
        return Role.ADMIN
    agent = agent_of(user)
    return agent.role if agent else None


def is_admin(user) -> bool:
    return role_of(user) == Role.ADMIN


def team_ids_of(user) -> list[int]:
    agent = agent_of(user)
    return list(agent.teams.values_list("id", flat=True)) if agent else []


def conversations_visible_to(user) -> QuerySet[Conversation]:
    role = role_of(user)
    if role is None:
        return Conversation.objects.none()
    if role == Role.ADMIN:
        return Conversation.objects.all()
    teams = team_ids_of(user)
    return Conversation.objects.filter(Q(inbox__team__in=teams) | Q(team__in=teams) | Q(assignee=user))


def inboxes_visible_to(user) -> QuerySet[Inbox]:
    role = role_of(user)
    if role is None:
        return Inbox.objects.none()
    if role == Role.ADMIN:
        return Inbox.objects.all()
    return Inbox.objects.filter(team__in=team_ids_of(user))


def can_see_conversation(user, conversation: Conversation) -> bool:
    return conversations_visible_to(user).filter(pk=conversation.pk).exists()
