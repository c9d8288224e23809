"""Who works a conversation: manual and automatic assignment, availability, the unassigned queue.

Locking (why there is no double assignment and no deadlock):
- Every assignment change locks the conversation row first, then re-reads it: two leads or two
  workers assigning the same conversation run one after the other, and the second sees the first's
  result (auto-assignment then does nothing; a take from the queue is refused with 409).
- Giving a conversation to an agent also locks that agent's row and recounts their load under the
  lock, so two workers filling two conversations can't push one agent over capacity. A transaction
  holding an agent lock never waits for another lock (it only counts and writes), so the
  conversation → agent order cannot deadlock; a candidate that fails the re-check is released at
  once (savepoint rollback releases row locks in PostgreSQL).
- Work that touches many conversations (draining the queue, releasing an away agent's conversations)
  runs after the triggering transaction commits, one conversation per transaction.

Round-robin: among online agents and leads of the conversation's team (its routed team, else its
inbox's team) who are under capacity, the one whose last assignment is oldest goes next; the least
loaded breaks ties. Capacity counts open and pending conversations assigned to the agent.

Inbox settings read here (Inbox.settings): `auto_assign` (bool, default off),
`reassign_on_away` (bool, default off), `unassign_on_resolve` (bool, default off: resolving keeps
the owner, so "Mine → Resolved" lists what an agent closed; on, a resolved conversation goes back
to nobody and the history says the inbox setting did it, not the agent).

Who may choose whom (`assignable_agents`, `assignable_teams`) is the same rule the writes check, so
the workspace's menus list only what the server accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from inbox import signals
from inbox.audit import audit_record
from inbox.conversations.errors import ReplyRefused
from inbox.models import (
    Agent,
    Availability,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Inbox,
    Notification,
    Role,
    Team,
)
from inbox.realtime import publish as realtime
from inbox.team.access import agent_of, can_see_conversation, is_admin, is_lead, role_of, team_ids_of

logger = logging.getLogger(__name__)

OPEN_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING)
# Managers and admins triage; they are assigned by hand, never by the round-robin.
AUTO_ASSIGN_ROLES = (Role.AGENT, Role.LEAD)
DEFAULT_CAPACITY = 10
# A socket that drops (a page reload, a flaky network) gets this long to come back before the
# agent is set away and, where configured, their conversations are handed to others.
PRESENCE_GRACE_SECONDS = 60
DRAIN_LIMIT = 500


class AssignmentRefused(ReplyRefused):
    """An assignment the user may not make; shares the API's `{code, detail}` + status mapping."""


class _NotThisAgent(Exception):
    """Rolls back the savepoint that locked a candidate who no longer qualifies (releasing the lock)."""


# --- Reads --------------------------------------------------------------------------------------


def open_load_subquery():
    return Subquery(
        Conversation.objects.filter(assignee=OuterRef("user_id"), status__in=OPEN_STATUSES)
        .order_by()
        .values("assignee")
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )


def agent_load(user) -> int:
    """Open and pending conversations assigned to `user`."""
    return Conversation.objects.filter(assignee=user, status__in=OPEN_STATUSES).count()


def agent_capacity(agent: Agent, *, team: Team | None = None) -> int:
    """The agent's own capacity, else the default of the team doing the work, else their strictest team's."""
    if agent.capacity is not None:
        return agent.capacity
    if team is not None:
        return team.default_capacity
    defaults = [t.default_capacity for t in agent.teams.all()]
    return min(defaults) if defaults else DEFAULT_CAPACITY


def conversation_team(conversation: Conversation) -> Team | None:
    """The team that works a conversation: the one it was routed to, else its inbox's."""
    if conversation.team_id:
        return conversation.team
    return conversation.inbox.team if conversation.inbox.team_id else None


def auto_assign_candidates(*, team: Team, exclude: Iterable[int] = ()) -> list[Agent]:
    """Online agents of `team` under capacity, in round-robin order (oldest last assignment, least loaded)."""
    return list(
        Agent.objects.filter(
            teams=team, availability=Availability.ONLINE, role__in=AUTO_ASSIGN_ROLES, user__is_active=True
        )
        .exclude(user_id__in=list(exclude))
        .annotate(load=Coalesce(open_load_subquery(), 0), cap=Coalesce("capacity", Value(team.default_capacity)))
        .filter(load__lt=F("cap"))
        .order_by(F("last_assigned_at").asc(nulls_first=True), "load", "id")
        .select_related("user")
    )


# --- Manual assignment --------------------------------------------------------------------------


def check_may_assign(*, by, conversation: Conversation, assignee) -> None:
    """AssignmentRefused unless `by` may give `conversation` to `assignee` (None: leave it with nobody),
    for callers that check before changing anything (a macro's preview and preflight)."""
    _check_may_assign(by=by, conversation=conversation, assignee=assignee)


def _check_may_assign(*, by, conversation: Conversation, assignee) -> None:
    """403 for what `by` may see but not do; 404 when `by` may not see the conversation at all.

    `by` None is the system (an automation rule, a macro a rule applies): it may assign anyone, as
    conversation_assign lets it."""
    if by is None:
        return
    if not can_see_conversation(by, conversation):
        raise AssignmentRefused("not_found", "Not found.", 404)
    role = role_of(by)
    if role == Role.AGENT:
        # Agents take from the queue and release their own; moving work between people is a lead's call.
        if assignee is not None and assignee.pk != by.pk:
            raise AssignmentRefused("forbidden", "Agents may only assign conversations to themselves.", 403)
        if conversation.assignee_id not in (None, by.pk):
            raise AssignmentRefused(
                "already_assigned", "This conversation is assigned to someone else; ask a lead to reassign it.", 409
            )
    if assignee is None:
        return
    target = agent_of(assignee)
    if target is None:
        raise AssignmentRefused("invalid_assignee", "The assignee is not an active agent.", 400)
    if role != Role.ADMIN:
        team = conversation_team(conversation)
        member_of = set(team_ids_of(assignee))
        if team is None or team.pk not in member_of:
            raise AssignmentRefused("invalid_assignee", "The assignee is not a member of this conversation's team.", 400)


def assignable_agents(*, user, conversation: Conversation) -> list:
    """The users `user` may assign `conversation` to, as `_check_may_assign` decides (by name).

    Agents: themselves, while it is unassigned or theirs. Leads and managers: the active agents of
    the conversation's team. Admins: every active agent. Empty when `user` may not see it.
    """
    role = role_of(user)
    if role is None or not can_see_conversation(user, conversation):
        return []
    User = get_user_model()
    team = conversation_team(conversation)
    if role == Role.AGENT:
        if conversation.assignee_id == user.pk:
            return [user]
        if conversation.assignee_id is not None or team is None or team.pk not in team_ids_of(user):
            return []
        return [user]
    people = User.objects.filter(is_active=True, agent__isnull=False)
    if role != Role.ADMIN:
        if team is None:
            return []
        people = people.filter(agent__teams=team)
    return list(people.select_related("agent").distinct().order_by("first_name", "last_name", "username"))


def may_unassign(*, user, conversation: Conversation) -> bool:
    """Whether `user` may leave `conversation` with nobody (agents: only their own)."""
    role = role_of(user)
    if role is None or conversation.assignee_id is None:
        return False
    return role != Role.AGENT or conversation.assignee_id == user.pk


def assignable_teams(*, user) -> list[Team]:
    """The teams `user` may route conversations to: any team for leads, managers and admins
    (routing is their call); an agent only among their own teams."""
    role = role_of(user)
    if role is None:
        return []
    if role == Role.AGENT:
        return list(Team.objects.filter(pk__in=team_ids_of(user)).order_by("name"))
    return list(Team.objects.order_by("name"))


def check_may_route(*, by, conversation: Conversation, team: Team | None) -> None:
    """403 when `by` may not route `conversation` to `team` (None: back to its inbox's team)."""
    if by is None:
        return
    if team is None:
        if role_of(by) == Role.AGENT and conversation.team_id not in (None, *team_ids_of(by)):
            raise AssignmentRefused("forbidden", "Agents may route conversations only within their own teams.", 403)
        return
    if team.pk not in {t.pk for t in assignable_teams(user=by)}:
        raise AssignmentRefused("forbidden", "Agents may route conversations only within their own teams.", 403)


def assignment_notify(*, conversation: Conversation, user, by, reason: str) -> Notification:
    """Tell `user` a conversation is theirs now: stored for the bell, and live on their socket."""
    text = str(conversation.customer)
    notification = Notification.objects.create(
        user=user, kind=Notification.Kind.ASSIGNMENT, conversation=conversation, actor=by,
        data={"reason": reason, "text": text},
    )
    realtime.publish(
        [f"user-{user.pk}"],
        {
            "type": "notification",
            "kind": Notification.Kind.ASSIGNMENT,
            "notification": notification.pk,
            "conversation": conversation.pk,
            "message": None,
            "by": {"id": by.pk, "username": by.get_username()} if by is not None else None,
            "text": text,
            "reason": reason,
        },
    )
    return notification


def _assignment_apply(conversation: Conversation, assignee, *, by, reason: str, drain: bool = True) -> None:
    """Write the change on a locked conversation: the row, the history entry, the realtime event,
    and the new assignee's notification (unless they took it themselves)."""
    old = conversation.assignee_id
    new = assignee.pk if assignee is not None else None
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    ConversationEvent.objects.create(
        conversation=conversation,
        kind=ConversationEvent.Kind.ASSIGNED,
        actor=by,
        data={"from": old, "to": new, "reason": reason},
    )
    if new is not None:
        Agent.objects.filter(user_id=new).update(last_assigned_at=timezone.now())
    realtime.conversation_changed(
        conversation, "conversation.updated", previous_groups=[f"user-{old}"] if old else None
    )
    if new is not None and (by is None or by.pk != new):
        assignment_notify(conversation=conversation, user=assignee, by=by, reason=reason)
    # SLA clocks and automation rules ("when assigned"), in this transaction.
    signals.conversation_changed_send(
        conversation, "conversation.assigned", by=by, data={"from": old, "to": new, "reason": reason}
    )
    if drain and old is not None and conversation.status in OPEN_STATUSES:
        # The old assignee has room for one more: offer them the queue once this commits.
        queue_drain_after_commit(user_ids=[old])


def _lock_conversation(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("inbox", "inbox__team", "team")
        .get(pk=conversation.pk)
    )


def conversation_assign(*, conversation: Conversation, assignee, by, only_if_unassigned: bool = False) -> Conversation:
    """Assign (`assignee` a user), reassign, or unassign (`assignee=None`); `by` None means the system.

    Agents may take an unassigned conversation and release their own; leads and managers assign
    within the conversation's team; admins assign anyone. Manual assignment may exceed capacity
    (a lead's call); capacity governs automatic assignment. `only_if_unassigned` refuses with 409
    when someone else got there first: what "take from the queue" means under concurrency.
    """
    with transaction.atomic():
        locked = _lock_conversation(conversation)
        if by is not None:
            _check_may_assign(by=by, conversation=locked, assignee=assignee)
        new = assignee.pk if assignee is not None else None
        if only_if_unassigned and locked.assignee_id not in (None, new):
            raise AssignmentRefused("already_assigned", "Someone else took this conversation first.", 409)
        if locked.assignee_id != new:
            if assignee is not None:
                # Serialises with automatic assignment counting this agent's load.
                Agent.objects.select_for_update().filter(user_id=assignee.pk).first()
            _assignment_apply(locked, assignee, by=by, reason="manual" if by is not None else "system")
            audit_record(actor=by, action="conversation.assign", target=locked, data={"assignee": new})
    conversation.assignee_id = locked.assignee_id
    return locked


# --- Automatic assignment -----------------------------------------------------------------------


def _auto_assign_locked(conversation: Conversation, *, exclude: Iterable[int] = ()) -> tuple[object | None, bool]:
    """On a locked, unassigned conversation: (assignee, team_full). team_full means nobody could take it."""
    team = conversation_team(conversation)
    if team is None:
        return None, True
    excluded = set(exclude)
    for _round in range(3):
        candidates = auto_assign_candidates(team=team, exclude=excluded)
        if not candidates:
            return None, True
        for candidate in candidates:
            try:
                with transaction.atomic():
                    agent = Agent.objects.select_for_update(of=("self",)).select_related("user").get(pk=candidate.pk)
                    if (
                        agent.availability != Availability.ONLINE
                        or agent.role not in AUTO_ASSIGN_ROLES
                        or not agent.user.is_active
                        or agent_load(agent.user) >= agent_capacity(agent, team=team)
                    ):
                        raise _NotThisAgent
                    if _round < 2 and agent.last_assigned_at != candidate.last_assigned_at:
                        # Someone gave them work since we ranked: rank again, for a fair turn.
                        raise _NotThisAgent
                    _assignment_apply(conversation, agent.user, by=None, reason="auto")
                    return agent.user, False
            except _NotThisAgent:
                continue
    return None, False


def conversation_auto_assign(*, conversation: Conversation, exclude: Iterable[int] = ()):
    """Give an unassigned open/pending conversation to the next available agent; returns them, or None.

    None when it was already assigned (by a concurrent worker or a lead), is not open, or nobody is
    available under capacity: then it waits in the unassigned queue until someone frees up.
    """
    with transaction.atomic():
        locked = _lock_conversation(conversation)
        if locked.assignee_id is not None or locked.status not in OPEN_STATUSES:
            conversation.assignee_id = locked.assignee_id
            return None
        assignee, _full = _auto_assign_locked(locked, exclude=exclude)
    conversation.assignee_id = locked.assignee_id
    return assignee


def unassigned_queue_drain(*, inbox=None, team=None, limit: int = DRAIN_LIMIT) -> int:
    """Auto-assign waiting conversations of auto-assign inboxes, oldest waiting first; returns how many.

    Scoped to one inbox or one team (conversations routed to it, or unrouted ones of its inboxes).
    """
    queue = Conversation.objects.filter(
        assignee=None, status__in=OPEN_STATUSES, inbox__settings__auto_assign=True
    ).select_related("inbox", "inbox__team", "team")
    if inbox is not None:
        queue = queue.filter(inbox=inbox)
    if team is not None:
        queue = queue.filter(Q(team=team) | Q(team=None, inbox__team=team))
    queue = queue.order_by(F("waiting_since").asc(nulls_last=True), "created_at", "id")[:limit]
    assigned = 0
    full_teams: set[int | None] = set()
    for conversation in list(queue):
        team_of = conversation.team_id or conversation.inbox.team_id
        if team_of in full_teams:
            continue
        with transaction.atomic():
            locked = _lock_conversation(conversation)
            if locked.assignee_id is not None or locked.status not in OPEN_STATUSES:
                continue
            assignee, full = _auto_assign_locked(locked)
        if assignee is not None:
            assigned += 1
        elif full:
            full_teams.add(team_of)
    return assigned


def _drain_teams(team_ids: Iterable[int]) -> None:
    for team in Team.objects.filter(pk__in=list(team_ids)):
        try:
            unassigned_queue_drain(team=team)
        except Exception:  # a failed drain must not fail what triggered it; the next trigger retries
            logger.exception("draining the unassigned queue of team %s failed", team.pk)


def queue_drain_after_commit(*, user_ids: Iterable[int] = (), team_ids: Iterable[int] = ()) -> None:
    """Once the current transaction commits, drain the queues of these teams and of these users' teams."""
    user_ids, team_ids = list(user_ids), set(team_ids)

    def drain() -> None:
        teams = team_ids | set(Team.objects.filter(agents__user_id__in=user_ids).values_list("pk", flat=True))
        _drain_teams(teams)

    transaction.on_commit(drain, robust=True)


# --- Resolve, availability, presence --------------------------------------------------------------


def unassigns_on_resolve(inbox: Inbox) -> bool:
    """The inbox's opt-in `unassign_on_resolve` (default off: resolving keeps the owner)."""
    return bool((inbox.settings or {}).get("unassign_on_resolve", False))


def conversation_resolved(*, conversation: Conversation, by) -> Conversation:
    """Call once a conversation is resolved: it keeps its assignee, unless its inbox opted in to
    `unassign_on_resolve`. Then the history records the inbox setting (no actor, reason `resolved`)
    as what unassigned it, never the person who resolved, and the freed agent is offered the queue."""
    with transaction.atomic():
        locked = _lock_conversation(conversation)
        if (
            locked.status == ConversationStatus.RESOLVED
            and locked.assignee_id is not None
            and unassigns_on_resolve(locked.inbox)
        ):
            old = locked.assignee_id
            _assignment_apply(locked, None, by=None, reason="resolved")
            queue_drain_after_commit(user_ids=[old])
    conversation.assignee_id = locked.assignee_id
    return locked


def _check_may_set_availability(*, by, user) -> None:
    if by is None or by.pk == user.pk or is_admin(by):
        return
    if is_lead(by) and set(team_ids_of(by)) & set(team_ids_of(user)):
        return
    if agent_of(by) is not None and set(team_ids_of(by)) & set(team_ids_of(user)):
        raise AssignmentRefused("forbidden", "Only the agent, their leads and admins may change availability.", 403)
    raise AssignmentRefused("not_found", "Not found.", 404)


def _availability_changed(agent: Agent, old: str) -> None:
    """After an availability change commits: fill a newly online agent, release an away one's work."""
    new = agent.availability
    if new == old:
        return
    frame = {"type": "agent.updated", "agent": {"id": agent.user_id, "availability": new}}
    realtime.publish([f"user-{agent.user_id}"] + [f"team-{t}" for t in agent.teams.values_list("pk", flat=True)], frame)
    if new == Availability.ONLINE:
        queue_drain_after_commit(user_ids=[agent.user_id])
    elif new == Availability.AWAY:
        user_id = agent.user_id
        transaction.on_commit(lambda: agent_conversations_release(user=get_user_model()(pk=user_id)), robust=True)


def agent_availability_set(
    *, user=None, availability: str, by=None, agent: Agent | None = None, automatic: bool = False
) -> Agent:
    """Set availability (online/busy/away) as chosen by the agent, a lead of theirs or an admin.

    Online: the agent's teams' queues are drained to them. Away: where the inbox says
    `reassign_on_away`, their open conversations go back to the round-robin. Busy keeps their work
    but gives them nothing new. `by=None` is the system. `automatic=True` (presence) never
    overrides a choice: it only brings back online an agent whom presence had set away.
    """
    if user is None:
        assert agent is not None, "the user or their agent"
        user = agent.user
    if availability not in Availability.values:
        raise AssignmentRefused(
            "invalid", f"availability must be one of {', '.join(Availability.values)}.", 400
        )
    if automatic:
        if availability == Availability.ONLINE:
            agent_presence_connected(user=user, count=False)
        return Agent.objects.get(user=user)
    _check_may_set_availability(by=by, user=user)
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(user=user).first()
        if agent is None:
            raise AssignmentRefused("not_found", "Not found.", 404)
        old = agent.availability
        agent.availability = availability
        agent.presence_away = False  # a choice, not an inference: a reconnect must not override it
        agent.save(update_fields=["availability", "presence_away"])
        _availability_changed(agent, old)
    return agent


def agent_conversations_release(*, user, by=None) -> int:
    """Reassign-on-away: unassign the agent's open conversations in inboxes with `reassign_on_away`.

    Each goes back to the round-robin (inboxes with `auto_assign`) or waits in the queue. Oldest
    waiting first, one conversation per transaction. Returns how many were released.
    """
    released = 0
    mine = (
        Conversation.objects.filter(assignee=user, status__in=OPEN_STATUSES, inbox__settings__reassign_on_away=True)
        .order_by(F("waiting_since").asc(nulls_last=True), "id")
        .values_list("pk", flat=True)
    )
    for pk in list(mine):
        with transaction.atomic():
            locked = _lock_conversation(Conversation(pk=pk))
            if locked.assignee_id != user.pk or locked.status not in OPEN_STATUSES:
                continue
            _assignment_apply(locked, None, by=by, reason="away", drain=False)
            released += 1
            if locked.inbox.settings.get("auto_assign"):
                _auto_assign_locked(locked, exclude=[user.pk])
    return released


def agent_presence_connected(*, user, count: bool = True) -> None:
    """A socket of `user` opened. An agent set away by presence (not by choice) comes back online.

    `count=False`: seen, without counting a socket (for callers that never report the disconnect).
    """
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(user=user).first()
        if agent is None:
            return
        old = agent.availability
        agent.last_seen_at = timezone.now()
        fields = ["last_seen_at"]
        if count:
            agent.connections = F("connections") + 1
            fields.append("connections")
        if agent.availability == Availability.AWAY and agent.presence_away:
            agent.availability = Availability.ONLINE
            agent.presence_away = False
            fields += ["availability", "presence_away"]
        agent.save(update_fields=fields)
        agent.refresh_from_db(fields=["connections"])
        _availability_changed(agent, old)


def agent_presence_disconnected(*, user, grace_seconds: int = PRESENCE_GRACE_SECONDS) -> None:
    """A socket of `user` closed; with none left, the agent is set away after `grace_seconds`."""
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(user=user).first()
        if agent is None:
            return
        agent.connections = max(0, agent.connections - 1)
        agent.last_seen_at = timezone.now()
        agent.save(update_fields=["connections", "last_seen_at"])
    if agent.connections == 0 and agent.availability == Availability.ONLINE:
        if grace_seconds <= 0:
            agent_presence_expire(user=user, grace_seconds=0)
        else:
            transaction.on_commit(
                lambda: agent_presence_check.apply_async((user.pk, grace_seconds), countdown=grace_seconds),
                robust=True,
            )


def agent_presence_expire(*, user, grace_seconds: int = PRESENCE_GRACE_SECONDS) -> bool:
    """Set an online agent with no socket for `grace_seconds` away (by presence); True if it did."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(user=user).first()
        if (
            agent is None
            or agent.connections > 0
            or agent.availability != Availability.ONLINE
            or (agent.last_seen_at is not None and agent.last_seen_at > cutoff)
        ):
            return False
        agent.availability = Availability.AWAY
        agent.presence_away = True
        agent.save(update_fields=["availability", "presence_away"])
        _availability_changed(agent, Availability.ONLINE)
    return True


@shared_task
def agent_presence_check(user_id: int, grace_seconds: int) -> bool:
    user = get_user_model().objects.filter(pk=user_id).first()
    return bool(user) and agent_presence_expire(user=user, grace_seconds=grace_seconds)


@shared_task
def assignment_sweep() -> int:
    """Safety net (beat, every minute): drain every auto-assign inbox's queue.

    Drains normally follow the events that free capacity; this catches what a failed drain or a
    crashed worker left waiting. Returns how many conversations it assigned.
    """
    assigned = 0
    for inbox in Inbox.objects.filter(settings__auto_assign=True):
        try:
            assigned += unassigned_queue_drain(inbox=inbox)
        except Exception:
            logger.exception("assignment sweep of inbox %s failed", inbox.pk)
    return assigned


# --- History, for per-agent metrics ---------------------------------------------------------------


def assignments_per_agent(*, since: datetime, until: datetime | None = None, inbox=None) -> dict[int, dict[str, int]]:
    """From the assignment history: per user id, conversations `received` (auto/manual/system)
    and `released` (by reason: resolved, away, or a manual reassignment away from them) in [since, until).
    """
    events = ConversationEvent.objects.filter(kind=ConversationEvent.Kind.ASSIGNED, created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    if inbox is not None:
        events = events.filter(conversation__inbox=inbox)
    out: dict[int, dict[str, int]] = {}
    for data in events.values_list("data", flat=True).iterator():
        to, old, reason = data.get("to"), data.get("from"), data.get("reason", "manual")
        if to is not None:
            row = out.setdefault(to, {"received": 0, "auto": 0, "released": 0, "resolved": 0, "away": 0})
            row["received"] += 1
            row["auto"] += reason == "auto"
        if old is not None:
            row = out.setdefault(old, {"received": 0, "auto": 0, "released": 0, "resolved": 0, "away": 0})
            row["released"] += 1
            row["resolved"] += reason == "resolved"
            row["away"] += reason == "away"
    return out


# --- Hooks ----------------------------------------------------------------------------------------


def on_message_received(sender, message, **kwargs) -> None:
    """A new customer message: auto-assign an unassigned open conversation of an auto-assign inbox.

    The assignee is kept on a customer reply (nothing here touches an assigned conversation).
    """
    loaded = signals.inbox_as_loaded(message)
    if loaded is not None and not (loaded.settings or {}).get("auto_assign"):
        return  # auto-assignment is off on this inbox: nothing to read
    try:
        conversation = Conversation.objects.select_related("inbox").get(pk=message.conversation_id)
        if (
            conversation.assignee_id is None
            and conversation.status in OPEN_STATUSES
            and conversation.inbox.settings.get("auto_assign")
        ):
            conversation_auto_assign(conversation=conversation)
    except Exception:  # the message is stored; the queue drain assigns it later
        logger.exception("auto-assignment of conversation %s failed", message.conversation_id)
