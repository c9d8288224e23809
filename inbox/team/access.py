"""Who may see what. Every API view, page and socket subscription goes through these.

Roles: admins see and configure everything. Leads and managers see every conversation of their
teams (in their teams' inboxes or routed to their teams) and conversations assigned to them; they
assign within their teams. Agents see the same conversations (they must see their team's
unassigned queue to take from it) but only take, release and work their own. A user without an
agent profile, or deactivated, sees nothing. An object outside what a user may see is answered
with 404, never 403, so ids don't leak; 403 is only for what a user may see but not do.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import Exists, OuterRef, Q, QuerySet

from customers.models import Customer
from inbox.models import Agent, Conversation, Inbox, Role, Team

# Roles that triage: see their teams' conversations and assign them to anyone in those teams.
LEAD_ROLES = frozenset({Role.LEAD, Role.MANAGER, Role.ADMIN})
# Roles that answer privacy requests: export and erase customers, see erased records.
PRIVACY_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


def agent_of(user) -> Agent | None:
    if not user or not user.is_authenticated or not user.is_active:
        return None
    try:
        return user.agent
    except Agent.DoesNotExist:
        return None


def role_of(user) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    agent = agent_of(user)
    return agent.role if agent else None


def is_admin(user) -> bool:
    return role_of(user) == Role.ADMIN


def is_lead(user) -> bool:
    """Lead, manager or admin: may assign conversations of their teams to others."""
    return role_of(user) in LEAD_ROLES


# Agent id -> team ids, while `team_ids_remembered()` is open (None: read them every time).
_team_ids_memo: contextvars.ContextVar[dict[int, list[int]] | None] = contextvars.ContextVar(
    "inbox_team_ids_memo", default=None
)


@contextmanager
def team_ids_remembered() -> Iterator[None]:
    """Inside, `team_ids_of` reads each agent's teams once: for a piece of work that asks the same
    question many times and cannot change anyone's teams itself (one macro apply asks ~6 times).
    Team changes made by others meanwhile are seen by the next request, as they would be a moment
    later anyway."""
    if _team_ids_memo.get() is not None:  # already remembering: the outer scope keeps them
        yield
        return
    token = _team_ids_memo.set({})
    try:
        yield
    finally:
        _team_ids_memo.reset(token)


# Set on an Agent by code that read its team ids with it (inbox.api.authentication, with the API
# token): that request's snapshot, as the agent's role read with it is.
KNOWN_TEAM_IDS = "known_team_ids"


def team_ids_of(user) -> list[int]:
    agent = agent_of(user)
    if agent is None:
        return []
    known = agent.__dict__.get(KNOWN_TEAM_IDS)
    if known is not None:
        return list(known)
    memo = _team_ids_memo.get()
    if memo is None:
        return list(agent.teams.values_list("id", flat=True))
    if agent.pk not in memo:
        memo[agent.pk] = list(agent.teams.values_list("id", flat=True))
    return list(memo[agent.pk])


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


def teams_visible_to(user) -> QuerySet[Team]:
    role = role_of(user)
    if role is None:
        return Team.objects.none()
    if role == Role.ADMIN:
        return Team.objects.all()
    return Team.objects.filter(pk__in=team_ids_of(user))


def agents_visible_to(user) -> QuerySet[Agent]:
    """Admins see every agent; others see themselves and the members of their teams."""
    role = role_of(user)
    if role is None:
        return Agent.objects.none()
    if role == Role.ADMIN:
        return Agent.objects.all()
    return Agent.objects.filter(Q(teams__in=team_ids_of(user)) | Q(user=user)).distinct()


def can_see_conversation(user, conversation: Conversation) -> bool:
    return conversations_visible_to(user).filter(pk=conversation.pk).exists()


def can_see_inbox(user, inbox: Inbox) -> bool:
    return inboxes_visible_to(user).filter(pk=inbox.pk).exists()


def socket_groups_for(user) -> list[str]:
    """Channel-layer groups a socket of `user` may join (see inbox.realtime.publish for the names)."""
    if role_of(user) is None:
        return []
    groups = [f"user-{user.pk}"]
    groups += [f"inbox-{pk}" for pk in inboxes_visible_to(user).values_list("pk", flat=True)]
    groups += [f"team-{pk}" for pk in teams_visible_to(user).values_list("pk", flat=True)]
    return groups


def customers_visible_to(user) -> QuerySet[Customer]:
    """Admins see every customer; others those with a conversation they may see.

    A customer with no conversation at all (a buyer known only from the shop's orders) belongs
    to no team, so any agent may see it: that is how an agent finds the buyer behind an order
    number and merges them into the person writing. Two kinds of record are narrower:

    - A record merged into another has no conversation left, but it is not nobody's: it is seen by
      exactly who sees the record it was merged into (the API answers it with the survivor's id).
    - An erased record is seen only by managers (and admins), who answer for privacy requests;
      agents and leads get 404 for it.
    """
    role = role_of(user)
    if role is None:
        return Customer.objects.none()
    if role == Role.ADMIN:
        return Customer.objects.all()
    current = Customer.objects.filter(merged_into=None).filter(
        Q(pk__in=conversations_visible_to(user).values("customer_id"))
        | ~Exists(Conversation.objects.filter(customer=OuterRef("pk")))
    )
    if role not in PRIVACY_ROLES:
        current = current.filter(erased_at=None)
    return Customer.objects.filter(Q(pk__in=current.values("pk")) | Q(merged_into__in=current.values("pk")))


def conversations_hidden_from(user, customers: QuerySet[Customer]) -> QuerySet[Conversation]:
    """The conversations of `customers` that `user` may not see (none for an admin)."""
    return Conversation.objects.filter(customer__in=customers).exclude(pk__in=conversations_visible_to(user).values("pk"))
