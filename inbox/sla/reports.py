"""SLA achievement: per target, how many clocks were met in time, breached, or still running, by
agent, team, channel or period (`/api/v1/reports/sla/`, `.csv`); and the rebuild of every clock from
the raw messages and status history, which the live figures equal (tests/sla/test_sla_report.py).

A clock counts in the period its target started. `achieved`: met by its due time; `breached`: met
late, stopped late (resolved with a reply owed after the due time), or still running past it;
`pending`: running and not yet due (stopped in time: not counted). `achievement_rate` is achieved /
(achieved + breached). Grouped by agent, a clock belongs to who met it (the replying agent, the one
who resolved), else to the conversation's assignee; by team, to the conversation's team (its routed
team, else its inbox's); by period, to the UTC day, ISO week (starting Monday) or month it started.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from inbox.csat.reports import cell
from inbox.models import Conversation, ConversationEvent, Inbox, Message, SlaClock, SlaPolicy, SlaTarget, Team
from inbox.sla.clocks import (
    COUNTED,
    Clock,
    Happening,
    derive,
    message_happening,
    resolved_since,
    schedule_of,
    state_of,
    status_happening,
)

GROUPS = ("agent", "team", "channel", "period")
PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def clocks_in(*, inbox_ids: list[int], since: datetime, until: datetime, target: str | None = None) -> QuerySet[SlaClock]:
    qs = SlaClock.objects.filter(conversation__inbox_id__in=inbox_ids, started_at__gte=since, started_at__lt=until)
    return qs.filter(target=target) if target else qs


def _counts(now: datetime) -> dict[str, Any]:
    running = Q(met_at__isnull=True, stopped_at__isnull=True)
    return {
        "achieved": Count("id", filter=Q(met_at__isnull=False, met_at__lte=F("due_at"))),
        "breached": Count("id", filter=Q(met_at__gt=F("due_at")) | Q(stopped_at__gt=F("due_at"))
                          | (running & Q(due_at__lt=now))),
        "pending": Count("id", filter=running & Q(due_at__gte=now)),
    }


def _figures(row: Mapping[str, Any]) -> dict[str, Any]:
    decided = row["achieved"] + row["breached"]
    return {"achieved": row["achieved"], "breached": row["breached"], "pending": row["pending"], "counted": decided,
            "achievement_rate": (row["achieved"] / decided) if decided else None}


def sla_report(clocks: QuerySet[SlaClock], *, now: datetime, group_by: str | None = None, period: str = "day") -> dict[str, Any]:
    """{"totals": [per target], "rows": [per target and group]} (group_by None: no rows)."""
    counts = _counts(now)
    totals = {r["target"]: r for r in clocks.order_by().values("target").annotate(**counts)}
    out: dict[str, Any] = {
        "totals": [{"target": t, **_figures(totals[t])} for t in SlaTarget.values if t in totals],
        "rows": [],
    }
    if group_by is None:
        return out
    keys = {
        "agent": Coalesce("met_by_id", "conversation__assignee_id"),
        "team": Coalesce("conversation__team_id", "conversation__inbox__team_id"),
        "channel": F("conversation__channel"),
        "period": PERIODS[period]("started_at"),
    }
    rows = list(clocks.order_by().annotate(group=keys[group_by]).values("target", "group").annotate(**counts))
    names: dict[Any, str] = {}
    ids = [r["group"] for r in rows if r["group"] is not None]
    if group_by == "agent":
        names = {u.pk: u.get_full_name() or u.get_username() for u in get_user_model().objects.filter(pk__in=ids)}
    elif group_by == "team":
        names = dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    order = {t: i for i, t in enumerate(SlaTarget.values)}
    for r in sorted(rows, key=lambda r: (order[r["target"]], str(r["group"]))):
        key = r["group"]
        if group_by in ("agent", "team"):
            group: Any = {"id": key, "name": names.get(key)}
        elif group_by == "period":
            group = key.date().isoformat() if key is not None else None
        else:
            group = key
        out["rows"].append({"target": r["target"], group_by: group, **_figures(r)})
    return out


CSV_HEADER = ["target", "group", "achieved", "breached", "pending", "counted", "achievement_rate"]


def csv_rows(report: dict[str, Any], *, group_by: str | None) -> Iterator[list[Any]]:
    """The report as CSV rows (header first): the totals as group "all", then each group."""
    yield CSV_HEADER
    for row in report["totals"]:
        yield [row["target"], "all", *(row[k] for k in CSV_HEADER[2:-1]), _rate(row["achievement_rate"])]
    for row in report["rows"]:
        group = row[group_by] if group_by else ""
        if isinstance(group, dict):
            group = group["name"] or group["id"]
        yield [cell(v) for v in (row["target"], "" if group is None else str(group),
                                 *(row[k] for k in CSV_HEADER[2:-1]), _rate(row["achievement_rate"]))]


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


# --- Rebuild -------------------------------------------------------------------------------------------


def sla_rebuild(*, batch: int = 2000) -> int:
    """Every clock again from the raw messages and status history, in one streaming pass, with each
    conversation's policy as it is; the conversations' SLA state too. Alerts of what is already past
    are not told again (their clocks are marked told). Returns the number of clocks made."""
    now_ = timezone.now()
    policies = {p.pk: p for p in SlaPolicy.objects.all()}
    with transaction.atomic():
        conversations = dict(
            Conversation.objects.filter(sla_policy__isnull=False).values_list("pk", "sla_policy_id")
        )
        rows = Conversation.objects.filter(pk__in=list(conversations)).values_list("pk", "inbox_id", "status", "resolved_at")
        inbox_of = {pk: inbox for pk, inbox, _s, _r in rows}
        resolved = {pk: resolved_since(status, at) for pk, _i, status, at in rows}
        schedules = {pk: schedule_of(s) for pk, s in Inbox.objects.values_list("pk", "settings")}
        statuses: dict[int, list[Happening]] = defaultdict(list)
        events = ConversationEvent.objects.filter(kind=ConversationEvent.Kind.STATUS, conversation_id__in=list(conversations))
        for cid, at, actor_id, data, pk in events.values_list("conversation_id", "created_at", "actor_id", "data", "pk").iterator(
            chunk_size=batch
        ):
            statuses[cid].append(status_happening(at, actor_id, data, pk))
        SlaClock.objects.all().delete()
        Conversation.objects.filter(sla_policy__isnull=True).exclude(sla_state={}).update(sla_state={}, sla_next_due_at=None)
        made = 0
        pending: list[SlaClock] = []
        current: int | None = None
        history: list[Happening] = []

        def flush(cid: int | None, history: list[Happening]) -> None:
            nonlocal made
            if cid is None or cid not in conversations:
                return
            policy = policies.get(conversations[cid])
            clocks: list[Clock] = []
            if policy is not None and policy.active:
                schedule = schedules.get(inbox_of[cid]) if policy.business_hours else None
                clocks = derive(history + statuses.pop(cid, []), policy=policy, schedule=schedule,
                                resolved_at=resolved[cid])
            else:
                policy = None
            state, next_due = state_of(policy, clocks)
            Conversation.objects.filter(pk=cid).update(sla_state=state, sla_next_due_at=next_due,
                                                       sla_policy_id=policy.pk if policy else None)
            for c in clocks:
                pending.append(SlaClock(
                    conversation_id=cid, policy=policy, target=c.target, started_at=c.started_at, due_at=c.due_at,
                    warn_at=c.warn_at, met_at=c.met_at, met_by_id=c.met_by, stopped_at=c.stopped_at,
                    warning_sent=c.warn_at <= now_, breach_sent=c.due_at <= now_,
                ))
            made += len(clocks)
            if len(pending) >= batch:
                SlaClock.objects.bulk_create(pending)
                pending.clear()

        message_rows = (
            Message.objects.filter(COUNTED, is_private=False, conversation_id__in=list(conversations))
            .order_by("conversation_id", "created_at", "id")
            .values_list("conversation_id", "created_at", "direction", "author_id", "pk")
        )
        seen: set[int] = set()
        for cid, created_at, direction, author_id, pk in message_rows.iterator(chunk_size=batch):
            if cid != current:
                flush(current, history)
                current, history = cid, []
                seen.add(cid)
            history.append(message_happening(created_at, direction, author_id, pk))
        flush(current, history)
        for cid in set(conversations) - seen:  # a policy but no counted message yet
            flush(cid, [])
        SlaClock.objects.bulk_create(pending)
    return made
