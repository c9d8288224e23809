"""A conversation's SLA clocks, derived from its history: the customer's messages, the human replies
the provider took, and the status changes. One function (`derive`) makes them, live on every event
(`sla_refresh`, replaying the conversation) and in a rebuild of everything (inbox/sla/reports.py),
so the two always agree.

The targets:
- first response: from the conversation's first customer message to the first human reply;
- next response: after a reply, from the next customer message to the next human reply (messages
  that follow before it are the same wait);
- resolution: from the first customer message (and from each reopening) to the resolve.

What counts: a customer message is an inbound message from the customer that is not private, not an
answer to a satisfaction survey and not an auto-reply (RFC 3834); a reply is an agent's outbound
message that was sent (queued or failed ones don't answer; bot, greeting, away, survey and
automation messages never do). Resolving stops a reply still owed (`stopped_at`: not counted unless
it was already late). While resolved, a customer message starts nothing; if the conversation is
reopened, the reply owed starts from the reopening. Clocks run through pending and snoozed.

With the policy's `business_hours`, a target is seconds of the inbox's open time (its hours and
holidays, time-zone and DST aware: inbox/team/business_hours.py), so a message at 16:50 with a 1 h
target on a 09:00-17:00 schedule is due at 09:50 on the next open day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from inbox.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Inbox,
    Message,
    MessageStatus,
    SenderType,
    SlaClock,
    SlaPolicy,
    SlaTarget,
)
from inbox.sla import policies as sla_policies
from inbox.team.business_hours import Schedule

logger = logging.getLogger(__name__)

CUSTOMER, REPLY, STATUS = 0, 1, 2
SENT_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
# Messages that move a clock (see the module's docstring), as SQL.
COUNTED = (
    Q(direction=Direction.IN, sender_type=SenderType.CUSTOMER)
    & ~Q(payload__has_key="csat") & ~Q(payload__has_key="auto_submitted")
) | Q(direction=Direction.OUT, sender_type=SenderType.AGENT, status__in=SENT_STATUSES)
TARGET_ORDER = (SlaTarget.FIRST_RESPONSE, SlaTarget.NEXT_RESPONSE, SlaTarget.RESOLUTION)


@dataclass(frozen=True, order=True)
class Happening:
    """One thing in a conversation's history, in the order they happened."""

    at: datetime
    kind: int  # CUSTOMER, REPLY or STATUS (ties at the same instant: messages first)
    seq: int  # the row's id
    by: int | None = None
    to: str = ""
    before: str = ""  # a status change: the status it left


@dataclass
class Clock:
    target: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    met_at: datetime | None = None
    met_by: int | None = None
    stopped_at: datetime | None = None

    def key(self) -> tuple[str, datetime]:
        return (self.target, self.started_at)

    @property
    def running(self) -> bool:
        return self.met_at is None and self.stopped_at is None


def due_time(policy: SlaPolicy, schedule: Schedule | None, start: datetime, seconds: int) -> datetime:
    if policy.business_hours and schedule is not None:
        due = schedule.open_after(start, seconds)
        if due is not None:
            return due
    return start + timedelta(seconds=seconds)


@dataclass
class _Machine:
    policy: SlaPolicy
    schedule: Schedule | None
    clocks: list[Clock] = field(default_factory=list)
    status: str = ConversationStatus.OPEN
    seen_customer: bool = False
    owed: bool = False  # a reply is owed to the customer
    response: Clock | None = None
    resolution: Clock | None = None
    pending_since: datetime | None = None  # the customer wrote while it was resolved

    def start(self, target: str, at: datetime) -> Clock | None:
        seconds = self.policy.target_seconds(target)
        if not seconds:
            return None
        due = due_time(self.policy, self.schedule, at, seconds)
        warn = max(at, due - timedelta(seconds=self.policy.warn_before_seconds))
        clock = Clock(target, at, due, warn)
        self.clocks.append(clock)
        return clock

    def owe(self, at: datetime) -> None:
        if not self.seen_customer:
            self.seen_customer = True
            self.owed = True
            self.response = self.start(SlaTarget.FIRST_RESPONSE, at)
            if self.resolution is None:
                self.resolution = self.start(SlaTarget.RESOLUTION, at)
        elif not self.owed:
            self.owed = True
            self.response = self.start(SlaTarget.NEXT_RESPONSE, at)

    def feed(self, h: Happening) -> None:
        if h.kind == CUSTOMER:
            if self.status == ConversationStatus.RESOLVED:
                self.pending_since = self.pending_since or h.at
            else:
                self.owe(h.at)
        elif h.kind == REPLY:
            self.pending_since = None
            if self.owed:
                self.owed = False
                if self.response is not None:
                    self.response.met_at, self.response.met_by = h.at, h.by
                self.response = None
        elif h.kind == STATUS:
            if h.before == ConversationStatus.RESOLVED and self.status != ConversationStatus.RESOLVED:
                # Resolved without a change in the history (a row written directly): it ended by now.
                self.feed(Happening(h.at, STATUS, 0, None, ConversationStatus.RESOLVED))
            if h.to == ConversationStatus.RESOLVED and self.status != ConversationStatus.RESOLVED:
                if self.resolution is not None:
                    self.resolution.met_at, self.resolution.met_by = h.at, h.by
                    self.resolution = None
                if self.response is not None:
                    self.response.stopped_at = h.at
                self.owed, self.response = False, None
            elif self.status == ConversationStatus.RESOLVED and h.to and h.to != ConversationStatus.RESOLVED:
                self.status = h.to
                if self.seen_customer and self.resolution is None:
                    self.resolution = self.start(SlaTarget.RESOLUTION, h.at)
                if self.pending_since is not None:
                    self.pending_since = None
                    self.owe(h.at)
            if h.to:
                self.status = h.to


def derive(
    history: Iterable[Happening], *, policy: SlaPolicy, schedule: Schedule | None,
    resolved_at: datetime | None = None,
) -> list[Clock]:
    """Every clock the policy sets on this history (sorted by the caller or not: it sorts).

    `resolved_at`: the conversation's row says it is resolved since then. A row resolved without a
    status change in its history (rows written directly: imports, the demo shop) ends there too."""
    machine = _Machine(policy=policy, schedule=schedule)
    happenings = sorted(history)
    for happening in happenings:
        machine.feed(happening)
    if resolved_at is not None and machine.status != ConversationStatus.RESOLVED:
        at = max([resolved_at, *(h.at for h in happenings[-1:])])
        machine.feed(Happening(at, STATUS, 0, None, ConversationStatus.RESOLVED))
    return machine.clocks


def message_happening(created_at: datetime, direction: str, author_id: int | None, pk: int) -> Happening:
    return Happening(created_at, CUSTOMER if direction == Direction.IN else REPLY, pk, author_id)


def status_happening(at: datetime, actor_id: int | None, data: dict | None, pk: int) -> Happening:
    data = data or {}
    return Happening(at, STATUS, pk, actor_id, str(data.get("to") or ""), str(data.get("from") or ""))


def history_of(conversation_id: int) -> list[Happening]:
    """The conversation's history as `derive` reads it: two queries."""
    rows = Message.objects.filter(COUNTED, conversation_id=conversation_id, is_private=False).values_list(
        "created_at", "direction", "author_id", "pk"
    )
    happenings = [message_happening(*row) for row in rows]
    statuses = ConversationEvent.objects.filter(conversation_id=conversation_id, kind=ConversationEvent.Kind.STATUS)
    for at, actor_id, data, pk in statuses.values_list("created_at", "actor_id", "data", "pk"):
        happenings.append(status_happening(at, actor_id, data, pk))
    return happenings


def resolved_since(status: str, resolved_at: datetime | None) -> datetime | None:
    """What `derive` takes from the row: when it was resolved, if it is."""
    if status != ConversationStatus.RESOLVED:
        return None
    return resolved_at or datetime.min.replace(tzinfo=UTC)


def schedule_of(inbox_settings: dict | None) -> Schedule | None:
    try:
        return Schedule.from_settings(inbox_settings)
    except Exception:  # an unreadable schedule: count the clock's time
        return None


# --- The conversation's row ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def state_of(policy: SlaPolicy | None, clocks: list[Clock]) -> tuple[dict[str, Any], datetime | None]:
    """(`sla_state`, `sla_next_due_at`) of the conversation's row."""
    if policy is None:
        return {}, None
    latest: dict[str, Clock] = {}
    for clock in clocks:
        if clock.target not in latest or clock.started_at >= latest[clock.target].started_at:
            latest[clock.target] = clock
    targets = [
        {"target": t, "started_at": _iso(c.started_at), "due_at": _iso(c.due_at), "met_at": _iso(c.met_at),
         "stopped_at": _iso(c.stopped_at)}
        for t in TARGET_ORDER if (c := latest.get(t)) is not None
    ]
    running = [c.due_at for c in clocks if c.running]
    return {"policy": {"id": policy.pk, "name": policy.name}, "targets": targets}, (min(running) if running else None)


def clocks_sync(conversation_id: int, policy: SlaPolicy | None, clocks: list[Clock]) -> bool:
    """Make the SlaClock rows of the conversation these (matched by target and start); whether any changed.

    The alert flags of a kept row stay as they are: a warning told is not told again."""
    existing = {(row.target, row.started_at): row for row in SlaClock.objects.filter(conversation_id=conversation_id)}
    changed = False
    wanted = {clock.key(): clock for clock in clocks}
    stale = [row.pk for key, row in existing.items() if key not in wanted]
    if stale:
        SlaClock.objects.filter(pk__in=stale).delete()
        changed = True
    new = []
    for key, clock in wanted.items():
        row = existing.get(key)
        values = {"due_at": clock.due_at, "warn_at": clock.warn_at, "met_at": clock.met_at, "met_by_id": clock.met_by,
                  "stopped_at": clock.stopped_at, "policy_id": policy.pk if policy else None}
        if row is None:
            new.append(SlaClock(conversation_id=conversation_id, target=clock.target, started_at=clock.started_at, **values))
        elif any(getattr(row, name) != value for name, value in values.items()):
            SlaClock.objects.filter(pk=row.pk).update(**values)
            changed = True
    if new:
        SlaClock.objects.bulk_create(new)
        changed = True
    return changed


def _settings_of(conversation: Conversation, inbox_id: int) -> dict:
    if Conversation.inbox.is_cached(conversation) and conversation.inbox.pk == inbox_id:
        return conversation.inbox.settings or {}
    return Inbox.objects.values_list("settings", flat=True).get(pk=inbox_id) or {}


def sla_refresh(conversation: Conversation, *, policies: list[SlaPolicy] | None = None) -> bool:
    """Bring the conversation's policy, clocks and row state up to date; whether its `sla` changed.

    Call inside a transaction: the row is locked (already, when the caller changed it). The state is
    also set on `conversation`, so a frame the caller publishes at commit carries it. When no policy
    is active and the conversation has none, this is one query.
    """
    policies = sla_policies.active_policies() if policies is None else policies
    if not policies and conversation.sla_policy_id is None and not conversation.sla_state:
        return False
    row = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(pk=conversation.pk)
        .values("inbox_id", "channel", "customer_id", "sla_policy_id", "sla_policy_source", "sla_state", "sla_next_due_at",
                "status", "resolved_at")
        .first()
    )
    if row is None:
        return False
    by_id = {p.pk: p for p in policies}
    source = row["sla_policy_source"]
    if source == "rule":
        policy = by_id.get(row["sla_policy_id"])
        if policy is None:  # the rule's policy was switched off or deleted: back to matching
            source = ""
    if source != "rule":
        facts = sla_policies.facts_for(conversation.pk, inbox_id=row["inbox_id"], channel=row["channel"],
                                       customer_id=row["customer_id"], policies=policies)
        policy = sla_policies.best_policy(policies, facts)
        source = "match" if policy is not None else ""
    clocks: list[Clock] = []
    if policy is not None:
        schedule = schedule_of(_settings_of(conversation, row["inbox_id"])) if policy.business_hours else None
        clocks = derive(history_of(conversation.pk), policy=policy, schedule=schedule,
                        resolved_at=resolved_since(row["status"], row["resolved_at"]))
    clocks_sync(conversation.pk, policy, clocks)
    state, next_due = state_of(policy, clocks)
    values = {"sla_policy_id": policy.pk if policy else None, "sla_policy_source": source, "sla_state": state,
              "sla_next_due_at": next_due}
    current = {**row, "sla_state": row["sla_state"] or {}}
    del current["status"], current["resolved_at"]
    changed = any(current[name] != value for name, value in values.items())
    if changed:
        Conversation.objects.filter(pk=conversation.pk).update(**values)
    for name, value in values.items():
        setattr(conversation, name, value)
    return changed


def sla_policy_apply(*, conversation: Conversation, policy: SlaPolicy | None, by=None) -> bool:
    """A rule (or an admin) sets the conversation's policy; None goes back to matching. Whether it changed."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
        source = "rule" if policy is not None else ""
        if locked.sla_policy_id == (policy.pk if policy else None) and locked.sla_policy_source == source:
            return False
        Conversation.objects.filter(pk=locked.pk).update(sla_policy=policy, sla_policy_source=source)
        ConversationEvent.objects.create(
            conversation=locked, kind=ConversationEvent.Kind.SLA, actor=by,
            data={"from": locked.sla_policy_id, "to": policy.pk if policy else None,
                  "name": policy.name if policy else None},
        )
        conversation.sla_policy_id, conversation.sla_policy_source = (policy.pk if policy else None), source
        sla_refresh(conversation)
    return True


def conversations_refresh(conversation_ids: Iterable[int], *, publish=None) -> int:
    """Refresh each conversation in its own short transaction (after a policy changed); how many changed."""
    policies = sla_policies.active_policies()
    changed = 0
    for pk in conversation_ids:
        try:
            with transaction.atomic():
                conversation = Conversation.objects.select_related("inbox", "customer").filter(pk=pk).first()
                if conversation is not None and sla_refresh(conversation, policies=policies):
                    changed += 1
                    if publish is not None:
                        publish(conversation)
        except Exception:
            logger.exception("SLA refresh of conversation %s failed", pk)
    return changed


def unresolved_ids(*, limit: int = 100_000) -> list[int]:
    return list(
        Conversation.objects.exclude(status=ConversationStatus.RESOLVED).order_by("-pk").values_list("pk", flat=True)[:limit]
    )
