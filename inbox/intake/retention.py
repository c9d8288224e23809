"""How long stored webhook events are kept once processed.

An `InboundEvent` holds the provider's raw payload (a customer's words, their phone or address)
and is only read until it is processed: after that its message, status or order row is the record.
Kept for ever, the table grows by about a kilobyte per webhook (docs/SCALING.md) and every erasure
(`conversations.privacy`) scans it. `events_prune` deletes processed events received more than
`INBOUND_EVENT_RETENTION_DAYS` ago, oldest first, in short transactions, from beat every hour.

Kept whatever their age: events never processed (a dead letter, attempts exhausted, is evidence an
admin may replay). The retention must outlive every provider's redelivery, since the event row is
what makes a redelivered webhook store nothing: Meta retries for about a day, Twilio for minutes,
ESPs for hours to a few days; the default of 30 days, and the floor of 7, are well past all of them
(a message redelivered later still finds its row by external id and is not stored twice).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox.models import InboundEvent

logger = logging.getLogger(__name__)

# Events read and deleted per transaction, and transactions per run (a run deletes at most their product).
PRUNE_BATCH = 5000
PRUNE_BATCHES_PER_RUN = 40


def events_prune(*, now=None, batch: int = PRUNE_BATCH, max_batches: int = PRUNE_BATCHES_PER_RUN) -> int:
    """Delete processed events older than the retention; returns how many. 0 days: keep every event.

    Walks the table in id order (ids grow with `received_at`) from the oldest row and stops at the
    first row inside the retention, so a run reads only what it deletes plus one batch, whatever
    the table's size (no index on `processed_at` needed)."""
    days = settings.INBOUND_EVENT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, after_id = 0, 0
    for _ in range(max_batches):
        with transaction.atomic():
            rows = list(
                InboundEvent.objects.filter(pk__gt=after_id).order_by("pk").values_list("pk", "received_at", "processed_at")[:batch]
            )
            if not rows:
                break
            old = [pk for pk, received_at, processed_at in rows if received_at < cutoff and processed_at is not None]
            if old:
                deleted += InboundEvent.objects.filter(pk__in=old).delete()[0]
            reached_retention = any(received_at >= cutoff for _, received_at, _ in rows)
        if reached_retention or len(rows) < batch:
            break
        after_id = rows[-1][0]
    if deleted:
        logger.info("pruned %d processed inbound events received before %s", deleted, cutoff.isoformat())
    return deleted
