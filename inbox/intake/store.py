"""Stored provider events: each webhook's events kept once, then processed once, in a task.

The webhook's request stores (`events_store`) and answers; processing is dispatched on commit: by a
PostgreSQL notification to the worker's listener (INBOUND_DISPATCH=notify, intake/dispatch.py) or by
enqueuing the task from here (direct). If either is lost (no listener, broker down), the sweeper
picks the rows up later. `event_process` hands one row to its provider's intake handler.
"""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from inbox import jobs
from inbox.intake import dispatch
from inbox.intake.handlers import handler_for
from inbox.models import InboundEvent
from inbox.providers.base import RawEvent

logger = logging.getLogger(__name__)


def events_store(*, provider: str, events: list[RawEvent]) -> list[int]:
    """Store raw provider events once each; returns the ids of stored rows still to process.

    Runs in the webhook's request: after it commits, the provider may be acknowledged.
    """
    if not events:
        return []
    keys = [e.dedupe_key[:255] for e in events]
    if connection.vendor == "postgresql":
        notify = dispatch.notify_enabled()
        pending = _events_store_pg(provider=provider, events=events, keys=keys, notify=notify)
        if notify:
            return pending
    else:
        with transaction.atomic():
            InboundEvent.objects.bulk_create(
                [InboundEvent(provider=provider, kind=e.kind, dedupe_key=key, payload=e.payload) for e, key in zip(events, keys, strict=True)],
                ignore_conflicts=True,
            )
            # ON CONFLICT DO NOTHING leaves pks unset: read back what still needs processing.
            pending = list(
                InboundEvent.objects.filter(provider=provider, dedupe_key__in=keys, processed_at=None).values_list("id", flat=True)
            )
    if pending:
        transaction.on_commit(lambda: _enqueue_processing(pending))
    return pending

# Every webhook runs this: one INSERT (and, outside a transaction, one commit) instead of BEGIN,
# INSERT, SELECT, COMMIT. Only when some event was already held (a redelivery) does a second
# statement look for earlier copies still unprocessed (ones the broker never got to).
_INSERT_SQL = """
INSERT INTO {table} (provider, dedupe_key, kind, payload, received_at, attempts, error)
SELECT %(provider)s, incoming.dedupe_key, incoming.kind, incoming.payload, now(), 0, ''
FROM jsonb_to_recordset(%(events)s::jsonb) AS incoming (dedupe_key varchar, kind varchar, payload jsonb)
ON CONFLICT (provider, dedupe_key) DO NOTHING
RETURNING id, dedupe_key
"""

# The same INSERT, also notifying the dispatcher's channel with the new ids (delivered at commit).
# The outer query reads `notified` so that PostgreSQL evaluates it.
_INSERT_NOTIFY_SQL = """
WITH stored AS ({insert}),
notified AS (
    SELECT pg_notify(%(channel)s, string_agg(id::text, ',')) FROM (
        SELECT id, (row_number() OVER () - 1) / %(per_notification)s AS part FROM stored
    ) AS numbered GROUP BY part
)
SELECT id, dedupe_key FROM stored, (SELECT count(*) FROM notified) AS sent
"""

_EARLIER_SQL = "SELECT id FROM {table} WHERE provider = %s AND dedupe_key = ANY(%s) AND processed_at IS NULL"

_NOTIFY_SQL = "SELECT pg_notify(%s, %s)"

def _events_store_pg(*, provider: str, events: list[RawEvent], keys: list[str], notify: bool) -> list[int]:
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    # The events as one JSON document, one parameter: psycopg (client-side binding, Django's default)
    # quotes it once in C, where three arrays were escaped element by element in Python (~20 % of
    # a webhook's CPU in the view).
    rows = [{"dedupe_key": key, "kind": e.kind, "payload": e.payload} for e, key in zip(events, keys, strict=True)]
    params: dict[str, Any] = {"provider": provider, "events": json.dumps(rows),
              "channel": dispatch.CHANNEL, "per_notification": dispatch.IDS_PER_NOTIFICATION}
    insert = _INSERT_SQL.format(table=table)
    if notify:
        insert = _INSERT_NOTIFY_SQL.format(insert=insert.strip())
    # A statement is atomic on its own; inside a caller's transaction a savepoint keeps a failure
    # (lock timeout, NUL characters) from aborting the caller's work.
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(insert, params)
        stored = cursor.fetchall()
        ids = {row[0] for row in stored}
        held = sorted(set(keys) - {row[1] for row in stored})
        if held:
            cursor.execute(_EARLIER_SQL.format(table=table), [provider, held])
            earlier = sorted(row[0] for row in cursor.fetchall())
            ids.update(earlier)
            if notify:
                for chunk in dispatch.chunks(earlier, dispatch.IDS_PER_NOTIFICATION):
                    cursor.execute(_NOTIFY_SQL, [dispatch.CHANNEL, ",".join(map(str, chunk))])
    return sorted(ids)


def _enqueue_processing(ids: list[int]) -> None:
    # Broker down: the rows are stored, the sweeper will process them.
    if not jobs.enqueue("inbox.tasks.inbound_events_process", ids):
        logger.warning("broker unavailable; %d inbound events left for the sweeper", len(ids))


def event_process(event_id: int) -> None:
    """Process one stored event exactly once (row lock; processed_at marks it done)."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id, processed_at=None).first()
        if event is None:
            return
        event.attempts += 1
        try:
            with transaction.atomic():
                handler_for(event.provider)(event)
        except Exception as exc:
            logger.exception("inbound event %s (%s/%s) failed", event.pk, event.provider, event.kind)
            event.error = f"{type(exc).__name__}: {exc}"[:2000]
            event.save(update_fields=["attempts", "error"])
            return
        event.processed_at = timezone.now()
        event.error = ""
        event.save(update_fields=["attempts", "error", "processed_at"])
