"""Storing provider events: once each, and what is still to process comes back."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from inbox.intake.store import events_store
from inbox.models import InboundEvent
from inbox.providers.base import RawEvent

pytestmark = pytest.mark.django_db


def raw(key: str, text: str = "hi") -> RawEvent:
    return RawEvent(dedupe_key=key, kind="message", payload={"mid": key, "text": text, "nested": {"n": [1, 2]}})


def test_new_events_are_stored_once_with_their_payload_and_returned():
    ids = events_store(provider="meta", events=[raw("m1"), raw("m2"), raw("m1")])
    stored = {e.dedupe_key: e for e in InboundEvent.objects.filter(provider="meta")}
    assert sorted(ids) == sorted(e.pk for e in stored.values())
    assert set(stored) == {"m1", "m2"}
    event = stored["m1"]
    assert event.payload == {"mid": "m1", "text": "hi", "nested": {"n": [1, 2]}}
    assert (event.kind, event.attempts, event.error, event.processed_at) == ("message", 0, "", None)
    assert event.received_at is not None


def test_a_redelivery_returns_the_earlier_copy_only_while_it_is_unprocessed():
    [first] = events_store(provider="meta", events=[raw("m1")])
    assert events_store(provider="meta", events=[raw("m1", "changed")]) == [first]
    assert InboundEvent.objects.get(pk=first).payload["text"] == "hi"
    InboundEvent.objects.filter(pk=first).update(processed_at=timezone.now())
    assert events_store(provider="meta", events=[raw("m1")]) == []
    assert InboundEvent.objects.count() == 1


def test_the_same_key_from_another_provider_is_another_event():
    events_store(provider="meta", events=[raw("k")])
    events_store(provider="twilio", events=[raw("k")])
    assert InboundEvent.objects.filter(dedupe_key="k").count() == 2


def test_data_postgresql_cannot_store_fails_without_spoiling_the_callers_transaction():
    with transaction.atomic():
        events_store(provider="meta", events=[raw("ok")])
        with pytest.raises(DataError):
            events_store(provider="meta", events=[raw("bad", "nul \x00 here")])
        # The caller's transaction is still usable and keeps what it stored.
        assert list(InboundEvent.objects.values_list("dedupe_key", flat=True)) == ["ok"]
    assert connection.vendor == "postgresql"
