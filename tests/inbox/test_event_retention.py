"""Processed webhook events are pruned after INBOUND_EVENT_RETENTION_DAYS; nothing else is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import tasks
from inbox.intake.retention import events_prune
from inbox.models import InboundEvent

pytestmark = pytest.mark.django_db


def event(key: str, *, age_days: float, processed: bool = True, attempts: int = 0) -> InboundEvent:
    now = timezone.now()
    row = InboundEvent.objects.create(provider="meta", dedupe_key=key, kind="message", payload={"mid": key},
                                      attempts=attempts)
    # received_at is auto_now_add: set the age afterwards, as time would have.
    InboundEvent.objects.filter(pk=row.pk).update(
        received_at=now - timedelta(days=age_days),
        processed_at=(now - timedelta(days=age_days)) if processed else None,
    )
    return row


def keys() -> set[str]:
    return set(InboundEvent.objects.values_list("dedupe_key", flat=True))


def test_processed_events_past_the_retention_go_and_everything_else_stays(settings):
    settings.INBOUND_EVENT_RETENTION_DAYS = 30
    event("old-1", age_days=45)
    event("old-2", age_days=31)
    event("dead-letter", age_days=60, processed=False, attempts=5)
    event("recent", age_days=29)
    event("unprocessed-new", age_days=0, processed=False)
    assert events_prune() == 2
    assert keys() == {"dead-letter", "recent", "unprocessed-new"}
    assert events_prune() == 0  # idempotent


def test_zero_keeps_every_event(settings):
    settings.INBOUND_EVENT_RETENTION_DAYS = 0
    event("old", age_days=400)
    assert events_prune() == 0
    assert keys() == {"old"}


def test_a_run_walks_batches_oldest_first_and_stops_inside_the_retention(settings):
    settings.INBOUND_EVENT_RETENTION_DAYS = 7
    for i in range(7):
        event(f"old-{i}", age_days=20 - i)
    event("inside", age_days=3)
    event("recent-a", age_days=2)
    event("recent-b", age_days=1)
    # A later id with an old time (a clock step): past the batch holding the first row inside the
    # retention, so not read by this run; the walk never reads the whole table.
    event("late-old", age_days=30)
    assert events_prune(batch=3) == 7
    assert keys() == {"inside", "recent-a", "recent-b", "late-old"}


def test_max_batches_bounds_one_run_and_the_next_run_goes_on(settings):
    settings.INBOUND_EVENT_RETENTION_DAYS = 7
    for i in range(6):
        event(f"old-{i}", age_days=10)
    assert events_prune(batch=2, max_batches=2) == 4
    assert events_prune(batch=2, max_batches=2) == 2
    assert keys() == set()


def test_the_beat_task_prunes_and_is_scheduled(settings):
    assert settings.CELERY_BEAT_SCHEDULE["inbox-events-prune"]["task"] == "inbox.tasks.inbound_events_prune"
    settings.INBOUND_EVENT_RETENTION_DAYS = 7
    event("old", age_days=8)
    assert tasks.inbound_events_prune() == 1
    assert keys() == set()
