"""One function per report, each answering the same shape:

    {"figures": [{key, label, value, previous, unit, explain}],   # value and the previous period's
     "charts": [{id, title, kind, x_label, y_label, unit, labels, label_kind, stacked, datasets}],
     "columns": [{key, label, unit, explain}], "rows": [{..., "drill": {param: value} | None}],
     "notes": [sentences], "available": bool}

`unit` is count, seconds, rate (0–1) or money; a row's `drill` names the conversations behind it
(`drill_conversations`). Everything reads the rollups — ResponseRecord (one row per counted
customer message and its first human reply), the per-day volume counts (volume.py), CSAT answers
and SLA clocks — except resolution times and contact reasons, which read the conversations of the
period (their own index-friendly columns).
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Order
from inbox.csat import reports as csat_reports
from inbox.models import Conversation, ConversationStatus, CsatResponse, Inbox, ResponseRecord, Team

from . import stats, volume
from .scope import Scope

CHANNEL_NAMES = {"messenger": "Messenger", "instagram": "Instagram", "sms": "SMS", "email": "Email"}
# First-response buckets (seconds) and resolution buckets.
RESPONSE_BOUNDS = (5 * 60, 15 * 60, 3600, 4 * 3600, 24 * 3600)
RESPONSE_LABELS = ["under 5 min", "5–15 min", "15–60 min", "1–4 h", "4–24 h", "over 24 h"]
RESOLUTION_BOUNDS = (3600, 4 * 3600, 24 * 3600, 3 * 86400, 7 * 86400)
RESOLUTION_LABELS = ["under 1 h", "1–4 h", "4–24 h", "1–3 days", "3–7 days", "over 7 days"]
INFLUENCE_WINDOW = timedelta(days=3)
ReportFn = Callable[[Scope], dict[str, Any]]


def figure(key: str, label: str, value: Any, previous: Any, unit: str, explain: str) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "previous": previous, "unit": unit, "explain": explain}


def column(key: str, label: str, unit: str = "text", explain: str = "") -> dict[str, str]:
    return {"key": key, "label": label, "unit": unit, "explain": explain}


def _inboxes(scope: Scope) -> dict[int, dict[str, Any]]:
    """The inboxes a report covers: in scope, of the channel and of the team asked for."""
    qs = Inbox.objects.filter(pk__in=scope.inbox_ids)
    if scope.channel:
        qs = qs.filter(kind=scope.channel)
    if scope.team is not None:
        qs = qs.filter(team_id=scope.team)
    return {pk: {"name": name, "kind": kind} for pk, name, kind in qs.values_list("pk", "name", "kind")}


def _records(scope: Scope) -> QuerySet[ResponseRecord]:
    qs = ResponseRecord.objects.filter(inbox_id__in=scope.inbox_ids, received_at__gte=scope.since, received_at__lt=scope.until)
    if scope.team is not None:
        qs = qs.filter(team_id=scope.team)
    if scope.channel:
        qs = qs.filter(channel=scope.channel)
    return qs


def _record_sql(scope: Scope) -> tuple[list[str], list[Any]]:
    """The same filter as _records, as SQL for stats.distributions."""
    ids = list(scope.inbox_ids) or [0]
    where = [f"inbox_id IN ({', '.join(['%s'] * len(ids))})", "received_at >= %s", "received_at < %s"]
    params: list[Any] = [*ids, scope.since, scope.until]
    if scope.team is not None:
        where.append("team_id = %s")
        params.append(scope.team)
    if scope.channel:
        where.append("channel = %s")
        params.append(scope.channel)
    return where, params


def _conversations(scope: Scope) -> QuerySet[Conversation]:
    qs = Conversation.objects.filter(inbox_id__in=scope.inbox_ids)
    if scope.team is not None:
        qs = qs.filter(Q(team_id=scope.team) | Q(team__isnull=True, inbox__team_id=scope.team))
    if scope.channel:
        qs = qs.filter(channel=scope.channel)
    return qs


def _names(user_ids) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=[u for u in user_ids if u])
    return {u.pk: u.get_full_name() or u.get_username() for u in users}


def _share(part: float, whole: float) -> float | None:
    return (part / whole) if whole else None


# --- Volume --------------------------------------------------------------------------------------


def _volume_totals(scope: Scope) -> tuple[dict[date, dict[str, list[int]]], list[int]]:
    inboxes = _inboxes(scope)
    counts = volume.daily_counts(scope.first_day, scope.last_day)
    per_day: dict[date, dict[str, list[int]]] = {}
    total = [0, 0, 0]
    for day, per_inbox in counts.items():
        channels: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for inbox_id, values in per_inbox.items():
            if inbox_id in inboxes:
                for i, v in enumerate(values):
                    channels[inboxes[inbox_id]["kind"]][i] += v
                    total[i] += v
        per_day[day] = dict(channels)
    return per_day, total


def report_volume(scope: Scope) -> dict[str, Any]:
    per_day, total = _volume_totals(scope)
    _, before = _volume_totals(scope.previous())
    channels = [c for c in CHANNEL_NAMES if scope.channel in (None, c)]
    days = scope.day_list()
    rows = []
    for day in days:
        for channel in channels:
            new, inbound, outbound = per_day.get(day, {}).get(channel, [0, 0, 0])
            if new or inbound or outbound:
                rows.append({"day": day.isoformat(), "channel": channel, "new": new, "in": inbound, "out": outbound,
                             "drill": {"day": day.isoformat(), "channel": channel}})
    return {
        "figures": [
            figure("new", "New conversations", total[0], before[0], "count",
                   "Conversations opened in the period, on every channel."),
            figure("in", "Messages in", total[1], before[1], "count",
                   "Messages customers sent (comments included; private notes never)."),
            figure("out", "Messages out", total[2], before[2], "count",
                   "Messages sent to customers: agents' replies, automated and campaign messages."),
            figure("per_day", "New conversations a day", round(total[0] / scope.days, 1),
                   round(before[0] / scope.days, 1), "count", "The period's new conversations divided by its days."),
        ],
        "charts": [
            {"id": "volume-new", "title": "New conversations per day and channel", "kind": "bar", "stacked": True,
             "x_label": "Day (UTC)", "y_label": "Conversations", "unit": "count", "label_kind": "day",
             "labels": [d.isoformat() for d in days],
             "datasets": [{"label": CHANNEL_NAMES[c], "key": c,
                           "data": [per_day.get(d, {}).get(c, [0, 0, 0])[0] for d in days]} for c in channels]},
            {"id": "volume-messages", "title": "Messages in and out per day", "kind": "line",
             "x_label": "Day (UTC)", "y_label": "Messages", "unit": "count", "label_kind": "day",
             "labels": [d.isoformat() for d in days],
             "datasets": [
                 {"label": "In (from customers)", "key": "in",
                  "data": [sum(v[1] for v in per_day.get(d, {}).values()) for d in days]},
                 {"label": "Out (to customers)", "key": "out",
                  "data": [sum(v[2] for v in per_day.get(d, {}).values()) for d in days]},
             ]},
        ],
        "columns": [column("day", "Day", "day"), column("channel", "Channel", "channel"),
                    column("new", "New conversations", "count", "Conversations opened that day on that channel."),
                    column("in", "Messages in", "count", "Messages customers sent that day."),
                    column("out", "Messages out", "count", "Messages sent to customers that day.")],
        "rows": rows,
        "notes": ["Days are UTC days. A team's volume is that of the team's inboxes."],
    }


# --- First response --------------------------------------------------------------------------------


def _response_distribution(scope: Scope) -> tuple[stats.Distribution, int]:
    where, params = _record_sql(scope)
    found = stats.distributions(table=ResponseRecord._meta.db_table, value="response_seconds", where=where,
                                params=params, bounds=RESPONSE_BOUNDS)
    return found.get(None, stats.Distribution(buckets=[0] * len(RESPONSE_LABELS))), _records(scope).count()


def report_first_response(scope: Scope) -> dict[str, Any]:
    now, counted = _response_distribution(scope)
    before, counted_before = _response_distribution(scope.previous())
    unanswered, unanswered_before = counted - now.n, counted_before - before.n
    rows = []
    running = 0
    for i, label in enumerate(RESPONSE_LABELS):
        running += now.buckets[i]
        rows.append({"bucket": label, "conversations": now.buckets[i], "share": _share(now.buckets[i], counted),
                     "cumulative": _share(running, counted), "previous": before.buckets[i], "drill": {"bucket": i}})
    rows.append({"bucket": "not answered", "conversations": unanswered, "share": _share(unanswered, counted),
                 "cumulative": None, "previous": unanswered_before, "drill": {"bucket": "none"}})
    return {
        "figures": [
            figure("rate", "Response rate", _share(now.n, counted), _share(before.n, counted_before), "rate",
                   "Share of counted customer messages (the first after 24 h of silence) that a person answered."),
            figure("fastest_90", "Response time (fastest 90 %)", now.fastest_90_mean, before.fastest_90_mean, "seconds",
                   "Meta's badge figure: the average of the fastest 90 % of first replies, the slowest 10 % left out."),
            figure("median", "Median first response", now.median, before.median, "seconds",
                   "Half of the answered messages got their first reply faster than this."),
            figure("p90", "90th percentile", now.p90, before.p90, "seconds",
                   "Nine answered messages in ten got their first reply within this time."),
        ],
        "charts": [{"id": "first-response", "title": "First replies by how long they took", "kind": "bar",
                    "x_label": "Time to the first human reply", "y_label": "Customer messages", "unit": "count",
                    "label_kind": "text", "labels": RESPONSE_LABELS,
                    "datasets": [{"label": "This period", "key": "now", "data": now.buckets},
                                 {"label": "Previous period", "key": "previous", "data": before.buckets}]}],
        "columns": [column("bucket", "First reply"), column("conversations", "Customer messages", "count",
                                                           "Counted customer messages whose first reply took this long."),
                    column("share", "Share", "rate", "Of every counted customer message."),
                    column("cumulative", "Answered within", "rate", "Share answered at least this fast."),
                    column("previous", "Previous period", "count")],
        "rows": rows,
        "notes": ["Counted as Meta counts for its badge: a customer message after 24 h without a message either way, "
                  "answered by the first reply a person wrote (automated replies never count)."],
    }


# --- Resolution ------------------------------------------------------------------------------------


def _resolution_sql(scope: Scope) -> tuple[list[str], list[Any]]:
    ids = list(scope.inbox_ids) or [0]
    where = [f"c.inbox_id IN ({', '.join(['%s'] * len(ids))})", "c.status = %s", "c.resolved_at >= %s",
             "c.resolved_at < %s"]
    params: list[Any] = [*ids, ConversationStatus.RESOLVED, scope.since, scope.until]
    if scope.team is not None:
        where.append("(c.team_id = %s OR (c.team_id IS NULL AND c.inbox_id IN (SELECT id FROM inbox_inbox WHERE team_id = %s)))")
        params += [scope.team, scope.team]
    if scope.channel:
        where.append("c.channel = %s")
        params.append(scope.channel)
    return where, params


def _resolution(scope: Scope) -> stats.Distribution:
    where, params = _resolution_sql(scope)
    table = f"{Conversation._meta.db_table} c"
    found = stats.distributions(table=table, value=stats.seconds_between("c.resolved_at", "c.created_at"), where=where,
                                params=params, bounds=RESOLUTION_BOUNDS)
    return found.get(None, stats.Distribution(buckets=[0] * len(RESOLUTION_LABELS)))


def report_resolution(scope: Scope) -> dict[str, Any]:
    now, before = _resolution(scope), _resolution(scope.previous())
    rows = [{"bucket": label, "conversations": now.buckets[i], "share": _share(now.buckets[i], now.n),
             "previous": before.buckets[i], "drill": {"bucket": i}} for i, label in enumerate(RESOLUTION_LABELS)]
    return {
        "figures": [
            figure("resolved", "Resolved conversations", now.n, before.n, "count",
                   "Conversations resolved in the period (and not reopened since)."),
            figure("median", "Median resolution time", now.median, before.median, "seconds",
                   "Half of the resolved conversations took less than this from opening to resolution."),
            figure("p90", "90th percentile", now.p90, before.p90, "seconds",
                   "Nine resolved conversations in ten were resolved within this time of opening."),
        ],
        "charts": [{"id": "resolution", "title": "Resolved conversations by time to resolution", "kind": "bar",
                    "x_label": "From opening to resolution", "y_label": "Conversations", "unit": "count",
                    "label_kind": "text", "labels": RESOLUTION_LABELS,
                    "datasets": [{"label": "This period", "key": "now", "data": now.buckets},
                                 {"label": "Previous period", "key": "previous", "data": before.buckets}]}],
        "columns": [column("bucket", "Resolved within"), column("conversations", "Conversations", "count"),
                    column("share", "Share", "rate", "Of the conversations resolved in the period."),
                    column("previous", "Previous period", "count")],
        "rows": rows,
        "notes": ["Wall-clock time from when the conversation opened to its last resolution."],
    }


# --- Contact reasons ---------------------------------------------------------------------------------


def _reasons(scope: Scope) -> tuple[dict[str, int], int]:
    created = _conversations(scope).filter(created_at__gte=scope.since, created_at__lt=scope.until)
    through = Conversation.labels.through
    by_label = dict(
        through.objects.filter(conversation__in=created.values("pk")).order_by()
        .values_list("label__name").annotate(n=Count("conversation_id", distinct=True))
    )
    return by_label, created.count()


def report_contact_reasons(scope: Scope) -> dict[str, Any]:
    now, total = _reasons(scope)
    before, total_before = _reasons(scope.previous())
    labelled = sum(now.values())
    ordered = sorted(now, key=lambda name: (-now[name], name))
    rows = [{"label": name, "conversations": now[name], "share": _share(now[name], total),
             "previous": before.get(name, 0), "drill": {"label": name}} for name in ordered]
    top = ordered[0] if ordered else None
    return {
        "figures": [
            figure("conversations", "New conversations", total, total_before, "count", "Conversations opened in the period."),
            figure("labelled", "Labelled", _share(min(labelled, total), total) if total else None,
                   _share(min(sum(before.values()), total_before), total_before) if total_before else None, "rate",
                   "Share of new conversations with a label: the rest have no reason recorded."),
            {**figure("top", "Top reason", top, None, "text", "The label most of the period's conversations carry."),
             "previous": max(before, key=lambda name: before[name]) if before else None},
        ],
        "charts": [{"id": "reasons", "title": "Conversations by label (top 12)", "kind": "bar", "horizontal": True,
                    "x_label": "Conversations", "y_label": "Label", "unit": "count", "label_kind": "text",
                    "labels": ordered[:12],
                    "datasets": [{"label": "This period", "key": "now", "data": [now[n] for n in ordered[:12]]},
                                 {"label": "Previous period", "key": "previous",
                                  "data": [before.get(n, 0) for n in ordered[:12]]}]}],
        "columns": [column("label", "Label"), column("conversations", "Conversations", "count",
                                                     "New conversations carrying this label."),
                    column("share", "Share", "rate", "Of every new conversation (a conversation may carry several)."),
                    column("previous", "Previous period", "count")],
        "rows": rows,
        "notes": ["Contact reasons are the labels agents put on conversations opened in the period."],
    }


# --- SLA ------------------------------------------------------------------------------------------------


def _sla_module() -> Any | None:
    try:
        return importlib.import_module("inbox.sla.reports")
    except ImportError:
        return None


TARGET_NAMES = {"first_response": "First response", "next_response": "Next response", "resolution": "Resolution"}


def report_sla(scope: Scope) -> dict[str, Any]:
    sla = _sla_module()
    if sla is None:
        return {"available": False, "figures": [], "charts": [], "columns": [], "rows": [],
                "notes": ["SLA achievement appears here once SLA policies are set up."]}
    now = timezone.now()

    def totals(s: Scope) -> dict[str, dict]:
        clocks = sla.clocks_in(inbox_ids=list(_inboxes(s)), since=s.since, until=s.until)
        return {t["target"]: t for t in sla.sla_report(clocks, now=now)["totals"]}

    current, before = totals(scope), totals(scope.previous())
    targets = [t for t in TARGET_NAMES if t in current or t in before]
    figures = [figure(t, f"{TARGET_NAMES[t]} achieved", (current.get(t) or {}).get("achievement_rate"),
                      (before.get(t) or {}).get("achievement_rate"), "rate",
                      f"Share of {TARGET_NAMES[t].lower()} targets met in time, of those met or breached.") for t in targets]
    rows = [{"target": TARGET_NAMES[t], **{k: (current.get(t) or {}).get(k, 0) for k in ("achieved", "breached", "pending")},
             "achievement_rate": (current.get(t) or {}).get("achievement_rate"), "drill": {"target": t}} for t in targets]
    return {
        "figures": figures,
        "charts": [{"id": "sla", "title": "SLA targets met and breached", "kind": "bar", "stacked": True,
                    "x_label": "Target", "y_label": "Clocks", "unit": "count", "label_kind": "text",
                    "labels": [TARGET_NAMES[t] for t in targets],
                    "datasets": [{"label": name, "key": key, "data": [(current.get(t) or {}).get(key, 0) for t in targets]}
                                 for key, name in (("achieved", "Met in time"), ("breached", "Breached"),
                                                   ("pending", "Still running"))]}],
        "columns": [column("target", "Target"), column("achieved", "Met in time", "count"),
                    column("breached", "Breached", "count", "Met late, or still owed after the due time."),
                    column("pending", "Running", "count", "Not due yet."),
                    column("achievement_rate", "Achievement", "rate", "Met in time, of those met or breached.")],
        "rows": rows,
        "notes": ["A target counts in the period its clock started."],
    }


# --- CSAT --------------------------------------------------------------------------------------------------


def _csat(scope: Scope) -> QuerySet[CsatResponse]:
    return csat_reports.responses_filtered(inbox_ids=list(_inboxes(scope)), since=scope.since, until=scope.until)


def report_csat(scope: Scope) -> dict[str, Any]:
    responses, earlier = _csat(scope), _csat(scope.previous())
    now, before = csat_reports.summary(responses), csat_reports.summary(earlier)
    rows = []
    for r in csat_reports.breakdown(responses, "agent"):
        agent = r["agent"] or {}
        rows.append({"agent": agent.get("name") or "No agent", "sent": r["sent"], "answered": r["answered"],
                     "csat_score": r["csat_score"], "response_rate": r["response_rate"],
                     "average_rating": r["average_rating"], "drill": {"agent": agent.get("id") or "none"}})
    return {
        "available": bool(now["sent"] or before["sent"]),
        "figures": [
            figure("csat_score", "CSAT score", now["csat_score"], before["csat_score"], "rate",
                   "Share of answered surveys rated 4 or 5 out of 5."),
            figure("response_rate", "Survey response rate", now["response_rate"], before["response_rate"], "rate",
                   "Share of the surveys sent that customers answered."),
            figure("average", "Average rating", now["average_rating"], before["average_rating"], "number",
                   "The mean of every rating, from 1 to 5."),
            figure("sent", "Surveys sent", now["sent"], before["sent"], "count",
                   "Satisfaction surveys sent after a conversation was resolved."),
        ],
        "charts": [{"id": "csat", "title": "Ratings", "kind": "bar", "x_label": "Rating (out of 5)",
                    "y_label": "Answers", "unit": "count", "label_kind": "text", "labels": ["1", "2", "3", "4", "5"],
                    "datasets": [{"label": "This period", "key": "now", "data": [now["ratings"][str(n)] for n in range(1, 6)]},
                                 {"label": "Previous period", "key": "previous",
                                  "data": [before["ratings"][str(n)] for n in range(1, 6)]}]}],
        "columns": [column("agent", "Agent"), column("sent", "Sent", "count"), column("answered", "Answered", "count"),
                    column("csat_score", "CSAT", "rate", "Rated 4 or 5, of the answered."),
                    column("response_rate", "Response rate", "rate"), column("average_rating", "Average", "number")],
        "rows": rows,
        "notes": ["A survey belongs to the agent who had the conversation when it was resolved."],
    }


# --- Per agent, per team -------------------------------------------------------------------------------------


def _influenced(scope: Scope) -> list[tuple[int, Decimal, str, int, int]]:
    """(order id, total, currency, agent, conversation) of every order placed in the period (not
    cancelled) within INFLUENCE_WINDOW after a person answered the customer in one of the scope's
    conversations: `agent` is who answered last before the order. One join ranked by a window
    function, no query per order."""
    from django.db import connection

    ids = list(scope.inbox_ids) or [0]
    conditions = [f"r.inbox_id IN ({', '.join(['%s'] * len(ids))})", "r.responder_id IS NOT NULL",
                  "r.responded_at >= %s", "r.responded_at <= o.placed_at",
                  f"{stats.seconds_between('o.placed_at', 'r.responded_at')} <= %s",
                  "o.placed_at >= %s", "o.placed_at < %s", "o.cancelled_at IS NULL"]
    params: list[Any] = [*ids, scope.since - INFLUENCE_WINDOW, INFLUENCE_WINDOW.total_seconds(), scope.since, scope.until]
    if scope.team is not None:
        conditions.append("r.team_id = %s")
        params.append(scope.team)
    if scope.channel:
        conditions.append("r.channel = %s")
        params.append(scope.channel)
    sql = f"""
        SELECT id, total, currency, agent, conversation FROM (
            SELECT o.id AS id, o.total AS total, o.currency AS currency, r.responder_id AS agent,
                   r.conversation_id AS conversation,
                   ROW_NUMBER() OVER (PARTITION BY o.id ORDER BY r.responded_at DESC, r.id DESC) AS rn
            FROM {Order._meta.db_table} o
            JOIN {Conversation._meta.db_table} c ON c.customer_id = o.customer_id
            JOIN {ResponseRecord._meta.db_table} r ON r.conversation_id = c.id
            WHERE {' AND '.join(conditions)}
        ) ranked WHERE rn = 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(pk, Decimal(str(total)), currency, agent, conv) for pk, total, currency, agent, conv in cursor.fetchall()]


def _revenue(scope: Scope) -> dict[tuple[int, str], dict[str, Any]]:
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for _pk, total, currency, agent, _conv in _influenced(scope):
        row = out.setdefault((agent, currency), {"orders": 0, "revenue": Decimal("0")})
        row["orders"] += 1
        row["revenue"] += total
    return out


def _visible_agent(scope: Scope, user_ids) -> set[int]:
    """Agents a lead or manager may see: those in their teams (admins: everyone)."""
    if scope.admin:
        return set(user_ids)
    from inbox.models import Agent

    return set(Agent.objects.filter(user_id__in=list(user_ids), teams__in=scope.team_ids).values_list("user_id", flat=True))


def report_revenue(scope: Scope) -> dict[str, Any]:
    now, before = _revenue(scope), _revenue(scope.previous())
    visible = _visible_agent(scope, {a for a, _ in now})
    names = _names(visible)
    currencies = sorted({c for _, c in now} | {c for _, c in before})
    main = max(currencies, key=lambda c: sum(v["revenue"] for (a, cur), v in now.items() if cur == c)) if currencies else "USD"

    def total(found: dict, key: str) -> Any:
        return sum((v[key] for (_, cur), v in found.items() if cur == main), Decimal("0") if key == "revenue" else 0)

    all_orders = Order.objects.filter(placed_at__gte=scope.since, placed_at__lt=scope.until, cancelled_at__isnull=True).count()
    rows = [{"agent": names.get(agent, f"User {agent}"), "orders": v["orders"], "revenue": str(v["revenue"]),
             "currency": cur, "drill": {"agent": agent}}
            for (agent, cur), v in sorted(now.items(), key=lambda kv: -kv[1]["revenue"]) if agent in visible]
    chart_rows = [r for r in rows if r["currency"] == main][:15]
    return {
        "figures": [
            figure("revenue", f"Support-influenced revenue ({main})", str(total(now, "revenue")), str(total(before, "revenue")),
                   "money", "Orders placed within 3 days after an agent answered the customer, at their order totals."),
            figure("orders", "Influenced orders", total(now, "orders"), total(before, "orders"), "count",
                   "Orders placed within 3 days after an agent answered the customer."),
            figure("share", "Share of all orders", _share(total(now, "orders"), all_orders), None, "rate",
                   "Influenced orders, of every order placed in the period."),
        ],
        "charts": [{"id": "revenue", "title": f"Support-influenced revenue by agent ({main})", "kind": "bar",
                    "horizontal": True, "x_label": f"Revenue ({main})", "y_label": "Agent", "unit": "money",
                    "label_kind": "text", "labels": [r["agent"] for r in chart_rows],
                    "datasets": [{"label": "Revenue", "key": "revenue", "data": [float(r["revenue"]) for r in chart_rows]}]}],
        "columns": [column("agent", "Agent"), column("orders", "Orders", "count",
                                                     "Orders placed within 3 days after this agent answered."),
                    column("revenue", "Revenue", "money"), column("currency", "Currency")],
        "rows": rows,
        "notes": ["Support-influenced revenue follows Gorgias' definition: an order counts when the customer placed it "
                  "within 3 days after an agent answered them in a conversation; it is credited to the agent who "
                  "answered last before the order, once. Cancelled orders are left out; amounts are order totals."],
    }


def _agent_responses(scope: Scope) -> dict[Any, stats.Distribution]:
    where, params = _record_sql(scope)
    return stats.distributions(table=ResponseRecord._meta.db_table, value="response_seconds", where=where,
                               params=params, group="responder_id")


def report_agents(scope: Scope) -> dict[str, Any]:
    responses = _agent_responses(scope)
    responses.pop(None, None)
    resolved = dict(
        _conversations(scope).filter(status=ConversationStatus.RESOLVED, resolved_at__gte=scope.since,
                                     resolved_at__lt=scope.until, assignee__isnull=False)
        .order_by().values_list("assignee_id").annotate(n=Count("pk"))
    )
    csat = {(r["agent"] or {}).get("id"): r for r in csat_reports.breakdown(_csat(scope), "agent")}
    revenue: dict[int, Decimal] = defaultdict(Decimal)
    orders: dict[int, int] = defaultdict(int)
    for (agent, _cur), v in _revenue(scope).items():
        revenue[agent] += v["revenue"]
        orders[agent] += v["orders"]
    ids = _visible_agent(scope, set(responses) | set(resolved) | {k for k in csat if k})
    names = _names(ids)
    rows = []
    for agent in ids:
        d = responses.get(agent, stats.Distribution())
        c = csat.get(agent) or {}
        rows.append({"agent": names.get(agent, f"User {agent}"), "answered": d.n, "fastest_90": d.fastest_90_mean,
                     "median": d.median, "resolved": resolved.get(agent, 0), "csat_score": c.get("csat_score"),
                     "orders": orders.get(agent, 0), "revenue": str(revenue.get(agent, Decimal("0"))),
                     "drill": {"agent": agent}})
    rows.sort(key=lambda r: (-r["answered"], r["agent"]))
    top = rows[:15]
    # The previous period needs only counts: one grouped query, not the distribution.
    before = dict(
        _records(scope.previous()).filter(responder__isnull=False, response_seconds__isnull=False)
        .order_by().values_list("responder_id").annotate(n=Count("pk"))
    )
    seen_before = _visible_agent(scope, set(before))
    return {
        "figures": [
            figure("agents", "Agents who answered", len([r for r in rows if r["answered"]]), len(seen_before), "count",
                   "People who sent at least one first reply."),
            figure("answered", "First replies", sum(r["answered"] for r in rows),
                   sum(n for a, n in before.items() if a in seen_before), "count",
                   "Counted customer messages these agents answered first."),
        ],
        "charts": [{"id": "agents", "title": "First replies by agent (top 15)", "kind": "bar", "horizontal": True,
                    "x_label": "First replies", "y_label": "Agent", "unit": "count", "label_kind": "text",
                    "labels": [r["agent"] for r in top],
                    "datasets": [{"label": "First replies", "key": "answered", "data": [r["answered"] for r in top]}]}],
        "columns": [column("agent", "Agent"),
                    column("answered", "First replies", "count", "Counted customer messages this agent answered first."),
                    column("fastest_90", "Response time (fastest 90 %)", "seconds",
                           "The average of this agent's fastest 90 % of first replies."),
                    column("median", "Median first reply", "seconds"),
                    column("resolved", "Resolved", "count", "Conversations assigned to them resolved in the period."),
                    column("csat_score", "CSAT", "rate", "Surveys rated 4–5, of those answered."),
                    column("orders", "Influenced orders", "count", "Orders within 3 days after their reply."),
                    column("revenue", "Influenced revenue", "money")],
        "rows": rows,
        "notes": [],
    }


def report_teams(scope: Scope) -> dict[str, Any]:
    where, params = _record_sql(scope)
    table = ResponseRecord._meta.db_table
    answered = stats.distributions(table=table, value="response_seconds", where=where, params=params, group="team_id")
    counted = dict(_records(scope).order_by().values_list("team_id").annotate(n=Count("pk")))
    counted_before = dict(_records(scope.previous()).order_by().values_list("team_id").annotate(n=Count("pk")))
    teams = Team.objects.filter(pk__in=scope.team_ids).order_by("name")
    if scope.team is not None:
        teams = teams.filter(pk=scope.team)
    csat = {(r["team"] or {}).get("id"): r for r in csat_reports.breakdown(_csat(scope), "team")}
    rows = []
    for team in teams:
        d = answered.get(team.pk, stats.Distribution())
        n = counted.get(team.pk, 0)
        rows.append({"team": team.name, "counted": n, "answered": d.n, "rate": _share(d.n, n),
                     "fastest_90": d.fastest_90_mean, "median": d.median,
                     "csat_score": (csat.get(team.pk) or {}).get("csat_score"), "drill": {"team": team.pk}})
    return {
        "figures": [
            figure("counted", "Counted customer messages", sum(r["counted"] for r in rows),
                   sum(counted_before.get(t.pk, 0) for t in teams), "count",
                   "Customer messages after 24 h of silence, routed to these teams."),
        ],
        "charts": [{"id": "teams", "title": "Response rate by team", "kind": "bar", "x_label": "Team",
                    "y_label": "Response rate", "unit": "rate", "label_kind": "text", "labels": [r["team"] for r in rows],
                    "datasets": [{"label": "Response rate", "key": "rate", "data": [r["rate"] for r in rows]}]}],
        "columns": [column("team", "Team"), column("counted", "Counted", "count"), column("answered", "Answered", "count"),
                    column("rate", "Response rate", "rate", "Answered, of the counted customer messages."),
                    column("fastest_90", "Response time (fastest 90 %)", "seconds"),
                    column("median", "Median first reply", "seconds"), column("csat_score", "CSAT", "rate")],
        "rows": rows,
        "notes": ["A conversation belongs to the team it was routed to, else its inbox's team."],
    }


# Titles and descriptions in the reader's language (the page's, the API request's, the digest's).
REPORTS: dict[str, dict[str, Any]] = {
    "volume": {"title": _("Volume"), "fn": report_volume,
               "description": _("New conversations and messages in and out, per channel and day.")},
    "first-response": {"title": _("First response"), "fn": report_first_response,
                       "description": _("How long customers waited for a person's first reply.")},
    "resolution": {"title": _("Resolution"), "fn": report_resolution,
                   "description": _("How long conversations took from opening to resolution.")},
    "contact-reasons": {"title": _("Contact reasons"), "fn": report_contact_reasons,
                        "description": _("Why customers wrote, by the labels on their conversations.")},
    "sla-achievement": {"title": _("SLA"), "fn": report_sla, "description": _("Service-level targets met in time and breached.")},
    "csat": {"title": _("Satisfaction"), "fn": report_csat, "description": _("What customers rated after a resolution.")},
    "agents": {"title": _("Agents"), "fn": report_agents,
               "description": _("Each agent's replies, speed, resolutions, satisfaction and influenced revenue.")},
    "teams": {"title": _("Teams"), "fn": report_teams, "description": _("Each team's response rate, speed and satisfaction.")},
    "revenue": {"title": _("Revenue"), "fn": report_revenue,
                "description": _("Orders placed within 3 days after an agent answered (support-influenced revenue).")},
}


def build(name: str, scope: Scope) -> dict[str, Any]:
    spec = REPORTS[name]
    report = spec["fn"](scope)
    report.setdefault("available", True)
    return {"name": name, "title": str(spec["title"]), "description": str(spec["description"]), "scope": scope.as_dict(),
            "previous": {"first_day": scope.previous().first_day, "last_day": scope.previous().last_day}, **report}


# --- Drill-down: the conversations behind a number ------------------------------------------------------------

DRILL_KEYS = ("day", "channel", "bucket", "label", "agent", "team", "target")


def drill_conversations(name: str, scope: Scope, params: dict[str, str]) -> QuerySet[Conversation]:
    """The conversations behind one row of a report (within what the scope covers)."""
    base = _conversations(scope)
    records = _records(scope)
    if name == "volume":
        qs = base.filter(created_at__gte=scope.since, created_at__lt=scope.until)
        if params.get("day"):
            day = date.fromisoformat(params["day"])
            qs = qs.filter(created_at__date=day)
        if params.get("channel"):
            qs = qs.filter(channel=params["channel"])
        return qs
    if name == "first-response":
        bucket = params.get("bucket")
        if bucket == "none":
            records = records.filter(responded_at__isnull=True)
        elif bucket is not None:
            i = int(bucket)
            edges = [None, *RESPONSE_BOUNDS, None]
            records = records.filter(response_seconds__isnull=False)
            if edges[i] is not None:
                records = records.filter(response_seconds__gte=edges[i])
            if edges[i + 1] is not None:
                records = records.filter(response_seconds__lt=edges[i + 1])
        return base.filter(pk__in=records.values("conversation_id"))
    if name == "resolution":
        qs = base.filter(status=ConversationStatus.RESOLVED, resolved_at__gte=scope.since, resolved_at__lt=scope.until)
        if params.get("bucket") is not None:
            i = int(params["bucket"])
            edges = [None, *RESOLUTION_BOUNDS, None]
            pks = [pk for pk, created, resolved in qs.values_list("pk", "created_at", "resolved_at")
                   if resolved is not None  # always: qs filters on resolved_at
                   and ((low := edges[i]) is None or (resolved - created).total_seconds() >= low)
                   and ((high := edges[i + 1]) is None or (resolved - created).total_seconds() < high)]
            qs = base.filter(pk__in=pks)
        return qs
    if name == "contact-reasons":
        qs = base.filter(created_at__gte=scope.since, created_at__lt=scope.until)
        return qs.filter(labels__name=params["label"]).distinct() if params.get("label") else qs
    if name == "csat":
        answers = _csat(scope)
        if params.get("agent") == "none":
            answers = answers.filter(agent__isnull=True)
        elif params.get("agent"):
            answers = answers.filter(agent_id=int(params["agent"]))
        return base.filter(pk__in=answers.values("conversation_id"))
    if name == "sla-achievement":
        sla = _sla_module()
        if sla is None:
            return base.none()
        clocks = sla.clocks_in(inbox_ids=list(_inboxes(scope)), since=scope.since, until=scope.until,
                               target=params.get("target") or None)
        return base.filter(pk__in=clocks.values("conversation_id"))
    if name == "revenue":
        agent = int(params["agent"]) if params.get("agent") else None
        return base.filter(pk__in=[conv for _pk, _t, _c, who, conv in _influenced(scope) if agent in (None, who)])
    if name == "agents":
        agent = int(params["agent"]) if params.get("agent") else None
        answered = records.filter(responder_id=agent) if agent else records.filter(responder__isnull=False)
        resolved = base.filter(status=ConversationStatus.RESOLVED, resolved_at__gte=scope.since, resolved_at__lt=scope.until)
        if agent:
            resolved = resolved.filter(assignee_id=agent)
        return base.filter(Q(pk__in=answered.values("conversation_id")) | Q(pk__in=resolved.values("pk")))
    if name == "teams":
        if params.get("team"):
            records = records.filter(team_id=int(params["team"]))
        return base.filter(pk__in=records.values("conversation_id"))
    return base.none()
