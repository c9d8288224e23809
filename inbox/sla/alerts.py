"""Warnings before a target is due and alerts at its breach: one periodic dispatcher for all
conversations (beat: inbox-sla-dispatch), never a task per conversation.

Each warning and each breach is told exactly once per clock, however many dispatchers run at once:
the conversation's row is taken with SKIP LOCKED (a dispatcher never waits for another or for the
intake of that conversation), the clock is read again under the lock, and the SlaAlert row — unique
per (clock, kind) — is inserted before anyone is told; a second dispatcher's insert conflicts and
it tells nobody. All of it commits together with the notifications, or none of it does.

Who is told: the assignee, the leads of the conversation's team (its routed team, else its inbox's)
and the policy's chosen managers, as Notifications (the bell) and live on their sockets
(`{"type": "notification", "kind": "sla_warning" | "sla_breach", ...}` to `user-<id>`). A warning
whose target is already past due is folded into the breach; a breach found more than
SLA_ALERT_GRACE_SECONDS late (the dispatcher was down, a policy was applied to old conversations) is
marked told without telling anyone. Rules triggered by "SLA warning" / "SLA breach" run after.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox import signals
from inbox.models import Conversation, Notification, SlaAlert, SlaClock, SlaTarget
from inbox.realtime import publish as realtime
from inbox.sla.policies import lead_user_ids

logger = logging.getLogger(__name__)

BATCH = 500
KIND_OF: dict[str, str] = {SlaAlert.Kind.WARNING: Notification.Kind.SLA_WARNING, SlaAlert.Kind.BREACH: Notification.Kind.SLA_BREACH}
FLAG_OF: dict[str, str] = {SlaAlert.Kind.WARNING: "warning_sent", SlaAlert.Kind.BREACH: "breach_sent"}
EVENT_OF: dict[str, str] = {SlaAlert.Kind.WARNING: "sla.warning", SlaAlert.Kind.BREACH: "sla.breach"}


def _grace() -> timedelta:
    return timedelta(seconds=getattr(settings, "SLA_ALERT_GRACE_SECONDS", 3600))


def alerts_dispatch(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Tell every warning and breach that is due; returns how many of each were told."""
    now = now or timezone.now()
    told = {SlaAlert.Kind.WARNING: 0, SlaAlert.Kind.BREACH: 0}
    running = SlaClock.objects.filter(met_at=None, stopped_at=None)
    due = {
        SlaAlert.Kind.WARNING: running.filter(warning_sent=False, warn_at__lte=now).order_by("warn_at"),
        SlaAlert.Kind.BREACH: running.filter(breach_sent=False, due_at__lte=now).order_by("due_at"),
    }
    for kind, clocks in due.items():
        for clock_id, conversation_id in clocks.values_list("pk", "conversation_id")[:limit]:
            try:
                told[kind] += alert_once(clock_id, conversation_id, kind, now=now)
            except Exception:
                logger.exception("SLA %s of clock %s failed", kind, clock_id)
    return {str(k): v for k, v in told.items()}


def alert_once(clock_id: int, conversation_id: int, kind: str, *, now: datetime) -> bool:
    """Tell one warning or breach if nobody has; whether this call told it."""
    flag = FLAG_OF[kind]
    with transaction.atomic():
        # The conversation first, as every writer of clocks locks it (intake, triage): no deadlock.
        conversation = (
            Conversation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("inbox", "customer").filter(pk=conversation_id).first()
        )
        if conversation is None:
            return False  # busy (another dispatcher, or a message being stored): the next tick
        clock = (
            SlaClock.objects.select_for_update(of=("self",)).select_related("policy")
            .filter(pk=clock_id, met_at=None, stopped_at=None, **{flag: False}).first()
        )
        if clock is None:
            return False  # told, met or stopped meanwhile
        setattr(clock, flag, True)
        fields = [flag]
        if kind == SlaAlert.Kind.WARNING and clock.due_at <= now:
            clock.save(update_fields=fields)  # already late: the breach says it
            return False
        if clock.policy is None or (kind == SlaAlert.Kind.BREACH and clock.due_at < now - _grace()):
            clock.save(update_fields=fields)
            return False
        try:
            with transaction.atomic():
                alert = SlaAlert.objects.create(clock=clock, conversation=conversation, target=clock.target, kind=kind)
        except IntegrityError:
            clock.save(update_fields=fields)
            return False  # another dispatcher told it
        users = recipients(conversation, clock)
        alert.recipients = users
        alert.save(update_fields=["recipients"])
        clock.save(update_fields=fields)
        text = alert_text(conversation, clock, kind, now=now)
        for user_id in users:
            notify(user_id=user_id, conversation=conversation, clock=clock, kind=kind, text=text)
        signals.conversation_changed_send(
            conversation, EVENT_OF[kind], data={"clock": clock.pk, "target": clock.target, "due_at": clock.due_at.isoformat()}
        )
    return True


def recipients(conversation: Conversation, clock: SlaClock) -> list[int]:
    policy = clock.policy
    assert policy is not None
    users: list[int] = []
    if policy.notify_assignee and conversation.assignee_id:
        users.append(conversation.assignee_id)
    if policy.notify_leads:
        users += lead_user_ids(conversation.team_id or conversation.inbox.team_id)
    users += [int(pk) for pk in policy.notify_users or []]
    active = set(get_user_model().objects.filter(pk__in=users, is_active=True).values_list("pk", flat=True))
    return [pk for pk in dict.fromkeys(users) if pk in active]


def _minutes(seconds: float) -> str:
    minutes = max(1, round(abs(seconds) / 60))
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def alert_text(conversation: Conversation, clock: SlaClock, kind: str, *, now: datetime) -> str:
    what = SlaTarget(clock.target).label
    who = str(conversation.customer)
    if kind == SlaAlert.Kind.WARNING:
        return f"{what} for {who} due in {_minutes((clock.due_at - now).total_seconds())}"
    return f"{what} for {who} breached ({_minutes((now - clock.due_at).total_seconds())} overdue)"


def notify(*, user_id: int, conversation: Conversation, clock: SlaClock, kind: str, text: str) -> Notification:
    notification = Notification.objects.create(
        user_id=user_id, kind=KIND_OF[kind], conversation=conversation,
        data={"text": text, "target": clock.target, "due_at": clock.due_at.isoformat(), "clock": clock.pk},
    )
    realtime.publish([f"user-{user_id}"], {
        "type": "notification", "kind": KIND_OF[kind], "notification": notification.pk,
        "conversation": conversation.pk, "message": None, "by": None, "text": text,
        "target": clock.target, "due_at": clock.due_at,
    })
    return notification
