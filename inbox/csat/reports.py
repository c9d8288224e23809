"""Survey figures: the CSAT score (share of 4–5 ratings among answers), the response rate (answered
surveys among those sent), the average and the spread of ratings — overall and by agent, team and
channel — and the comments. Set-based: a constant number of queries whatever the volume.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Q, QuerySet

from inbox.models import CsatResponse, CsatStatus, Inbox, Team

SENT_STATUSES = (CsatStatus.SENT, CsatStatus.ANSWERED)
SATISFIED = 4  # a rating of 4 or 5 counts as satisfied
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def responses_filtered(
    *, inbox_ids: list[int], since: datetime, until: datetime, agent_id: int | None = None, team_id: int | None = None,
    channel: str | None = None, status: str | None = None,
) -> QuerySet[CsatResponse]:
    """Surveys of these inboxes sent in [since, until) (scheduled and skipped ones by their due time)."""
    qs = CsatResponse.objects.filter(inbox_id__in=inbox_ids)
    if status in (CsatStatus.SCHEDULED, CsatStatus.SKIPPED):
        qs = qs.filter(status=status, due_at__gte=since, due_at__lt=until)
    else:
        qs = qs.filter(status__in=[status] if status else SENT_STATUSES, sent_at__gte=since, sent_at__lt=until)
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if channel:
        qs = qs.filter(channel=channel)
    return qs


def _figures(sent: int, answered: int, satisfied: int, average: float | None) -> dict[str, Any]:
    return {
        "sent": sent,
        "answered": answered,
        "response_rate": (answered / sent) if sent else None,
        "csat_score": (satisfied / answered) if answered else None,
        "average_rating": round(average, 2) if average is not None else None,
    }


_AGGREGATES = {
    "n_sent": Count("id"),
    "n_answered": Count("id", filter=Q(rating__isnull=False)),
    "n_satisfied": Count("id", filter=Q(rating__gte=SATISFIED)),
    "mean": Avg("rating"),
}


def summary(responses: QuerySet[CsatResponse]) -> dict[str, Any]:
    """Figures of sent surveys, with the count of each rating."""
    sent = responses.filter(status__in=SENT_STATUSES)
    totals = sent.aggregate(**_AGGREGATES, **{f"r{n}": Count("id", filter=Q(rating=n)) for n in range(1, 6)})
    out = _figures(totals["n_sent"], totals["n_answered"], totals["n_satisfied"], totals["mean"])
    out["ratings"] = {str(n): totals[f"r{n}"] for n in range(1, 6)}
    out["comments"] = sent.exclude(comment="").count()
    return out


def breakdown(responses: QuerySet[CsatResponse], by: str) -> list[dict[str, Any]]:
    """Figures per `agent`, `team` or `channel`, best-scoring first."""
    field = {"agent": "agent_id", "team": "team_id", "channel": "channel"}[by]
    rows = list(
        responses.filter(status__in=SENT_STATUSES).order_by().values(field).annotate(**_AGGREGATES)
    )
    names: dict[Any, str] = {}
    if by == "agent":
        users = get_user_model().objects.filter(pk__in=[r[field] for r in rows if r[field]])
        names = {u.pk: u.get_full_name() or u.get_username() for u in users}
    elif by == "team":
        names = dict(Team.objects.filter(pk__in=[r[field] for r in rows if r[field]]).values_list("pk", "name"))
    out = []
    for r in rows:
        key = r[field]
        # An agent or team by id and name; a channel by its name.
        who = key if by == "channel" else {"id": key, "name": names.get(key) or None}
        out.append({by: who, **_figures(r["n_sent"], r["n_answered"], r["n_satisfied"], r["mean"])})
    out.sort(key=lambda row: (row["csat_score"] is None, -(row["csat_score"] or 0), -row["answered"]))
    return out


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


EXPORT_HEADER = ["sent_at", "answered_at", "inbox", "channel", "conversation", "customer", "agent", "team",
                 "rating", "comment", "status", "skip_reason"]


def export_rows(responses: QuerySet[CsatResponse]):
    """The CSV's rows (header first), streamed; every text cell neutralised against formulas."""
    yield EXPORT_HEADER
    inboxes = dict(Inbox.objects.values_list("pk", "name"))
    rows = responses.select_related("customer", "agent", "team").order_by("sent_at", "id")
    for r in rows.iterator(chunk_size=2000):
        yield [cell(v) for v in (
            r.sent_at.isoformat() if r.sent_at else "",
            r.answered_at.isoformat() if r.answered_at else "",
            inboxes.get(r.inbox_id, ""),
            r.channel,
            r.conversation_id,
            str(r.customer),
            r.agent.get_username() if r.agent else "",
            r.team.name if r.team else "",
            "" if r.rating is None else r.rating,
            r.comment,
            r.status,
            r.skip_reason,
        )]
