"""Responsiveness as Meta measures it for the "Very responsive" badge.

- A customer message counts when neither side wrote in the 24 h before it.
- It is answered by the first later reply written by a person: an agent in the app, or a reply
  sent from Meta's own inbox (seen as an echo). Greeting, away and bot messages never answer.
- Response rate = answered / counted; response time = the mean of the fastest 90 % of response
  times (k = floor(0.9 n), at least 1). The badge: rate >= 0.90 and time <= 15 min over 7 days.
- Messages received while the inbox is closed (business hours, holidays) count from when it
  opens again: business-time figures use the time the inbox was open between message and reply.

`ResponseRecord` rows are kept up to date as messages are saved, with per-day rollups; both can be
rebuilt from the messages (`manage.py metrics_rebuild`). Percentiles come from the stored values.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from inbox.models import Conversation, DailyRollup, Direction, Inbox, Message, ResponseRecord, SenderType
from inbox.team.business_hours import Schedule

SILENCE = timedelta(hours=24)
BADGE_RATE = 0.90
BADGE_SECONDS = 15 * 60


def _is_comment(message: Message) -> bool:
    # Meta's responsiveness is about messages: comments and the replies to them don't count.
    return "comment_id" in (message.payload or {})


def _is_survey_answer(message: Message) -> bool:
    # A rating or comment answering a satisfaction survey asks for no reply (inbox/csat/answers.py).
    return "csat" in (message.payload or {})


def _counts(message: Message) -> bool:
    return (
        message.direction == Direction.IN and message.sender_type == SenderType.CUSTOMER and not message.is_private
        and not _is_comment(message) and not _is_survey_answer(message)
    )


def _answers(message: Message) -> bool:
    return (
        message.direction == Direction.OUT and message.sender_type == SenderType.AGENT and not message.is_private
        and not _is_comment(message)
    )


def _rollup_add(inbox_id: int, day: date, *, counted: int = 0, answered: int = 0, seconds: float = 0.0) -> None:
    increments = {
        "counted": F("counted") + counted,
        "answered": F("answered") + answered,
        "response_seconds_sum": F("response_seconds_sum") + seconds,
    }
    if DailyRollup.objects.filter(inbox_id=inbox_id, day=day).update(**increments):
        return
    try:
        with transaction.atomic():
            DailyRollup.objects.create(
                inbox_id=inbox_id, day=day, counted=counted, answered=answered, response_seconds_sum=seconds
            )
    except IntegrityError:  # another first event of that day won the insert: add to its row
        DailyRollup.objects.filter(inbox_id=inbox_id, day=day).update(**increments)


def record_inbound(
    message: Message, *, conversation: Conversation | None = None, new_message: bool = False, only_message: bool = False,
    previous_known: bool = False, previous: datetime | None = None,
) -> ResponseRecord | None:
    """Called when a customer message is stored: opens a record if it counts.

    What the caller already knows saves queries: `conversation`, the message's conversation as read
    in this transaction (its inbox is used when loaded); `new_message`, the message was created in
    this transaction (so no record can exist for it yet); `only_message`, so was its conversation
    (so no earlier message can exist); `previous_known`, the caller holds the conversation's row lock
    and knows the time of the latest message before this one (`previous`, None for none) and that
    none is later (a batch of events read its conversations' latest messages at once).
    """
    if not _counts(message):
        return None
    if only_message:
        previous = None
    elif not previous_known:
        previous = (
            Message.objects.filter(conversation_id=message.conversation_id, is_private=False, created_at__lte=message.created_at)
            .exclude(pk=message.pk)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    if previous is not None and message.created_at - previous < SILENCE:
        return None
    if conversation is None or conversation.pk != message.conversation_id:
        conversation = Conversation.objects.select_related("inbox").get(pk=message.conversation_id)
    schedule = Schedule.from_settings(conversation.inbox.settings)
    fields = {
        "inbox_id": conversation.inbox_id,
        "conversation_id": conversation.pk,
        "team_id": conversation.team_id or conversation.inbox.team_id,
        "channel": conversation.channel,
        "received_at": message.created_at,
        "counts_from": schedule.next_open(message.created_at) or message.created_at,
    }
    if not only_message and not previous_known:
        # Providers don't promise order, and two workers may take one person's messages at once:
        # what was stored after this message but written before it is set straight here.
        _later_messages_settle(message, conversation=conversation, fields=fields, schedule=schedule)
    if new_message:
        record, created = ResponseRecord.objects.create(customer_message=message, **fields), True
    else:
        record, created = ResponseRecord.objects.get_or_create(customer_message=message, defaults=fields)
    if created:
        _rollup_add(record.inbox_id, record.received_at.date(), counted=1, answered=1 if record.responded_at else 0,
                    seconds=record.response_seconds or 0.0)
    return record


def _later_messages_settle(message: Message, *, conversation: Conversation, fields: dict, schedule: Schedule) -> None:
    """For a counted message that arrived after messages written later than it (the caller holds
    the conversation's row lock, so concurrent intake of the same thread is serialised):

    - the next message within 24 h no longer follows a silence: its record, if it has one, goes;
    - the first human reply written after it answers it now (record_reply ran before it existed).
    """
    later = Message.objects.filter(conversation_id=conversation.pk, is_private=False, created_at__gt=message.created_at)
    following = later.order_by("created_at", "id").values_list("pk", "created_at").first()
    if following is None:
        return
    if following[1] - message.created_at < SILENCE:
        stale = ResponseRecord.objects.select_for_update().filter(customer_message_id=following[0]).first()
        if stale is not None:
            _rollup_add(stale.inbox_id, stale.received_at.date(), counted=-1, answered=-1 if stale.responded_at else 0,
                        seconds=-(stale.response_seconds or 0.0))
            stale.delete()
    reply = (
        later.filter(direction=Direction.OUT, sender_type=SenderType.AGENT)
        .exclude(payload__has_key="comment_id")
        .order_by("created_at", "id")
        .values_list("created_at", "author_id")
        .first()
    )
    if reply is not None:
        answered = ResponseRecord(**fields)
        _answer(answered, at=reply[0], responder_id=reply[1], schedule=schedule)
        fields.update(responded_at=answered.responded_at, responder_id=answered.responder_id,
                      response_seconds=answered.response_seconds, business_seconds=answered.business_seconds)


def record_reply(message: Message) -> int:
    """Called when a human reply is stored: answers every open record of the conversation before it."""
    if not _answers(message):
        return 0
    open_records = list(
        ResponseRecord.objects.select_for_update()
        .filter(conversation_id=message.conversation_id, responded_at=None, received_at__lte=message.created_at)
    )
    if not open_records:
        return 0
    if Message.inbox.is_cached(message):  # read with the message, in this transaction
        settings = message.inbox.settings
    else:
        settings = Inbox.objects.values_list("settings", flat=True).get(pk=message.inbox_id)
    schedule = Schedule.from_settings(settings)
    for record in open_records:
        _answer(record, at=message.created_at, responder_id=message.author_id, schedule=schedule)
        record.save(update_fields=["responded_at", "responder", "response_seconds", "business_seconds"])
        _rollup_add(record.inbox_id, record.received_at.date(), answered=1, seconds=record.response_seconds or 0.0)
    return len(open_records)


def _answer(record: ResponseRecord, *, at: datetime, responder_id: int | None, schedule: Schedule) -> None:
    record.responded_at = at
    record.responder_id = responder_id
    record.response_seconds = max(0.0, (at - record.received_at).total_seconds())
    record.business_seconds = schedule.open_seconds_between(record.received_at, at)


# --- Reads ------------------------------------------------------------------------------------------


def fastest_90_mean(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    k = max(1, math.floor(0.9 * len(ordered) + 1e-9))
    return sum(ordered[:k]) / k


def _percentile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Responsiveness:
    counted: int
    answered: int
    response_rate: float | None
    response_time_seconds: float | None
    median_response_seconds: float | None
    p90_response_seconds: float | None

    @property
    def very_responsive(self) -> bool:
        return (
            self.response_rate is not None
            and self.response_time_seconds is not None
            and self.response_rate >= BADGE_RATE
            and self.response_time_seconds <= BADGE_SECONDS
        )

    def as_dict(self) -> dict:
        return {
            "counted": self.counted,
            "answered": self.answered,
            "response_rate": self.response_rate,
            "response_time_seconds": self.response_time_seconds,
            "median_response_seconds": self.median_response_seconds,
            "p90_response_seconds": self.p90_response_seconds,
            "very_responsive": self.very_responsive,
        }


def responsiveness(
    *, since: datetime, until: datetime, inbox_ids=None, team_id=None, channel=None, responder_id=None, business=False
) -> Responsiveness:
    filters = Q(received_at__gte=since, received_at__lt=until)
    if inbox_ids is not None:
        filters &= Q(inbox_id__in=inbox_ids)
    if team_id is not None:
        filters &= Q(team_id=team_id)
    if channel:
        filters &= Q(channel=channel)
    if responder_id is not None:
        filters &= Q(responder_id=responder_id)
    records = ResponseRecord.objects.filter(filters)
    counted = records.count()
    field = "business_seconds" if business else "response_seconds"
    times = sorted(records.filter(responded_at__isnull=False).values_list(field, flat=True))
    answered = len(times)
    return Responsiveness(
        counted=counted,
        answered=answered,
        response_rate=(answered / counted) if counted else None,
        response_time_seconds=fastest_90_mean(times),
        median_response_seconds=statistics.median(times) if times else None,
        p90_response_seconds=_percentile(times, 0.9),
    )


def daily_trend(*, inbox_ids, since: date, until: date) -> list[dict]:
    rows = (
        DailyRollup.objects.filter(inbox_id__in=inbox_ids, day__gte=since, day__lte=until)
        .values("day")
        .annotate(counted=Sum("counted"), answered=Sum("answered"), seconds=Sum("response_seconds_sum"))
        .order_by("day")
    )
    by_day = {r["day"]: r for r in rows}
    out = []
    day = since
    while day <= until:
        r = by_day.get(day, {"counted": 0, "answered": 0, "seconds": 0.0})
        out.append({
            "day": day.isoformat(),
            "counted": r["counted"],
            "answered": r["answered"],
            "response_rate": (r["answered"] / r["counted"]) if r["counted"] else None,
            "mean_response_seconds": (r["seconds"] / r["answered"]) if r["answered"] else None,
        })
        day += timedelta(days=1)
    return out


def window(days: int, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return now - timedelta(days=days), now


# --- Rebuild ----------------------------------------------------------------------------------------


def rebuild(*, inbox_ids: list[int] | None = None, batch: int = 5000) -> int:
    """Recompute every record and rollup from the messages, in one streaming pass."""
    messages = Message.objects.filter(is_private=False)
    if inbox_ids is not None:
        messages = messages.filter(inbox_id__in=inbox_ids)
    schedules = {pk: Schedule.from_settings(s) for pk, s in Inbox.objects.values_list("pk", "settings")}
    conversation_teams = dict(Conversation.objects.values_list("pk", "team_id"))
    inbox_teams = dict(Inbox.objects.values_list("pk", "team_id"))
    with transaction.atomic():
        old = ResponseRecord.objects.all()
        rollups = DailyRollup.objects.all()
        if inbox_ids is not None:
            old = old.filter(inbox_id__in=inbox_ids)
            rollups = rollups.filter(inbox_id__in=inbox_ids)
        old.delete()
        rollups.delete()
        pending: list[ResponseRecord] = []
        made = 0
        current_conv = None
        prev_at = None
        open_records: list[ResponseRecord] = []
        answers_survey = ExpressionWrapper(Q(payload__has_key="csat"), output_field=BooleanField())
        rows = messages.annotate(survey_answer=answers_survey).order_by("conversation_id", "created_at", "id").values_list(
            "id", "conversation_id", "inbox_id", "direction", "sender_type", "created_at", "author_id",
            "conversation__channel", "survey_answer",
        )
        for mid, conv_id, inbox_id, direction, sender_type, created_at, author_id, channel, survey_answer in rows.iterator(
            chunk_size=batch
        ):
            if conv_id != current_conv:
                current_conv, prev_at, open_records = conv_id, None, []
            schedule = schedules[inbox_id]
            if direction == Direction.IN and sender_type == SenderType.CUSTOMER and not survey_answer:
                if prev_at is None or created_at - prev_at >= SILENCE:
                    record = ResponseRecord(
                        inbox_id=inbox_id, conversation_id=conv_id, customer_message_id=mid, channel=channel,
                        team_id=conversation_teams.get(conv_id) or inbox_teams.get(inbox_id),
                        received_at=created_at, counts_from=schedule.next_open(created_at) or created_at,
                    )
                    pending.append(record)
                    open_records.append(record)
            elif direction == Direction.OUT and sender_type == SenderType.AGENT:
                for record in open_records:
                    _answer(record, at=created_at, responder_id=author_id, schedule=schedule)
                open_records = []
            prev_at = created_at
            if len(pending) >= batch and not open_records:
                ResponseRecord.objects.bulk_create(pending)
                made += len(pending)
                pending = []
        ResponseRecord.objects.bulk_create(pending)
        made += len(pending)
        _rollups_rebuild(inbox_ids)
    return made


def _rollups_rebuild(inbox_ids: list[int] | None) -> None:
    records = ResponseRecord.objects.all()
    if inbox_ids is not None:
        records = records.filter(inbox_id__in=inbox_ids)
    rows = (
        records.annotate(day=TruncDate("received_at"))
        .values("inbox_id", "day")
        .annotate(
            counted=Count("id"),
            answered=Count("responded_at"),
            seconds=Sum("response_seconds"),
        )
    )
    DailyRollup.objects.bulk_create(
        [
            DailyRollup(inbox_id=r["inbox_id"], day=r["day"], counted=r["counted"], answered=r["answered"],
                        response_seconds_sum=r["seconds"] or 0.0)
            for r in rows
        ],
        batch_size=5000,
    )

