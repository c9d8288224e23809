"""Per UTC day and inbox: new conversations, customer messages in, messages out (notes excluded).

The rollup of the volume report. A day that is over (older than yesterday: late provider deliveries
may still land on yesterday) never changes, so its counts are computed once, in one grouped query for
all the days missing, and kept in the cache (Redis where configured) for a week; today and yesterday
are counted live on the messages' created_at index. Reading 90 days is then one cache round trip and
two small queries, whatever the size of the message table.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from inbox.models import Conversation, Direction, Message

KEY = "reports:volume:v1:{}"
KEEP_SECONDS = 7 * 86400
# (new conversations, messages in, messages out) per inbox id
DayCounts = dict[int, list[int]]


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _count(first: date, last: date) -> dict[date, DayCounts]:
    """Counted from the tables, for every day of [first, last] (days without rows included)."""
    out: dict[date, DayCounts] = {first + timedelta(days=i): {} for i in range((last - first).days + 1)}
    since, until = _start(first), _start(last + timedelta(days=1))

    def slot(day: date, inbox_id: int) -> list[int]:
        return out[day].setdefault(inbox_id, [0, 0, 0])

    messages = (
        Message.objects.filter(created_at__gte=since, created_at__lt=until, is_private=False)
        .annotate(day=TruncDate("created_at", tzinfo=UTC)).order_by()
        .values_list("day", "inbox_id", "direction").annotate(n=Count("id"))
    )
    for day, inbox_id, direction, n in messages:
        slot(day, inbox_id)[1 if direction == Direction.IN else 2] += n
    conversations = (
        Conversation.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(day=TruncDate("created_at", tzinfo=UTC)).order_by()
        .values_list("day", "inbox_id").annotate(n=Count("id"))
    )
    for day, inbox_id, n in conversations:
        slot(day, inbox_id)[0] += n
    return out


def daily_counts(first: date, last: date, *, today: date | None = None) -> dict[date, DayCounts]:
    """{day: {inbox_id: [new, in, out]}} for every day of [first, last]."""
    today = today or timezone.now().astimezone(UTC).date()
    closed_until = today - timedelta(days=2)  # days up to this one are over
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    closed = [d for d in days if d <= closed_until]
    cached = cache.get_many([KEY.format(d.isoformat()) for d in closed]) if closed else {}
    result: dict[date, DayCounts] = {}
    missing = []
    for d in closed:
        hit = cached.get(KEY.format(d.isoformat()))
        if hit is None:
            missing.append(d)
        else:
            result[d] = {int(k): v for k, v in hit.items()}
    if missing:
        counted = _count(min(missing), max(missing))
        cache.set_many({KEY.format(d.isoformat()): counted[d] for d in missing}, KEEP_SECONDS)
        result.update({d: counted[d] for d in missing})
    live = [d for d in days if d > closed_until]
    if live:
        result.update(_count(min(live), max(live)))
    return {d: result.get(d, {}) for d in days}


def forget(day: date) -> None:
    """Drop a closed day's counts (after a bulk import or an erasure rewrote that day)."""
    cache.delete(KEY.format(day.isoformat()))


def totals_by_inbox(counts: dict[date, DayCounts], inbox_ids: set[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for per_inbox in counts.values():
        for inbox_id, values in per_inbox.items():
            if inbox_id in inbox_ids:
                for i, v in enumerate(values):
                    out[inbox_id][i] += v
    return out
