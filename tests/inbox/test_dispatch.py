"""INBOUND_DISPATCH=notify: the webhook's INSERT notifies, a leader-elected listener dispatches.

These run against the real PostgreSQL with committed transactions (notifications are delivered
at commit). Celery is eager here, so a dispatched task runs in the listener's thread; the real
worker with its broker is exercised by the fault suite (tests/faults).
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest
from django.db import transaction

from inbox.intake import dispatch
from inbox.intake.dispatch import Dispatcher
from inbox.intake.store import events_store
from inbox.models import InboundEvent, Message
from inbox.providers.base import RawEvent
from inbox_project.celery import app as celery_app
from tests.conftest import load_fixture, post_meta

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def notify_mode(settings):
    settings.INBOUND_DISPATCH = "notify"


@pytest.fixture
def listener():
    """A plain LISTEN on the dispatch channel, as the dispatcher holds one."""
    with psycopg.connect(autocommit=True, **dispatch.connection_params()) as conn:
        conn.execute(f"LISTEN {dispatch.CHANNEL}")

        def received(timeout: float = 0.5) -> list[list[int]]:
            return [dispatch.parse_payload(n.payload) for n in conn.notifies(timeout=timeout)]

        yield received


def raw(key: str) -> RawEvent:
    return RawEvent(dedupe_key=key, kind="message", payload={"mid": key})


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def running():
    """Start dispatchers in threads; every one is stopped and joined at the end."""
    started: list[tuple[Dispatcher, threading.Thread]] = []

    def start(**kwargs) -> Dispatcher:
        d = Dispatcher(**{"retry_seconds": 0.2, "poll_seconds": 0.1, **kwargs})
        t = threading.Thread(target=d.run, daemon=True)
        t.start()
        started.append((d, t))
        return d

    yield start
    for d, _ in started:
        d.stop()
    for _, t in started:
        t.join(10)
        assert not t.is_alive(), "a dispatcher did not stop"


# --- The webhook's side ---------------------------------------------------------------------------


def test_stored_events_are_notified_once_with_their_ids_and_not_processed_in_the_request(listener):
    ids = events_store(provider="meta", events=[raw("n1"), raw("n2"), raw("n1")])
    assert len(ids) == 2
    [note] = listener()
    assert sorted(note) == sorted(ids)
    # Nothing was dispatched from the request: with eager Celery a direct dispatch would have processed them.
    assert InboundEvent.objects.filter(pk__in=ids, processed_at=None).count() == 2


def test_a_redelivery_renotifies_an_unprocessed_event_but_not_a_processed_one(listener):
    [first] = events_store(provider="meta", events=[raw("r1")])
    [second] = events_store(provider="meta", events=[raw("r2")])
    assert sorted(sum(listener(), [])) == [first, second]
    InboundEvent.objects.filter(pk=second).update(processed_at="2026-01-01T00:00:00Z")

    assert events_store(provider="meta", events=[raw("r1"), raw("r2")]) == [first]
    assert sum(listener(), []) == [first]


def test_inside_a_transaction_the_notification_waits_for_commit_and_a_rollback_sends_none(listener):
    with transaction.atomic():
        [kept] = events_store(provider="meta", events=[raw("t1")])
        assert listener(0.3) == []
    assert listener() == [[kept]]

    with pytest.raises(RuntimeError), transaction.atomic():
        events_store(provider="meta", events=[raw("t2")])
        raise RuntimeError("caller fails after storing")
    assert listener(0.3) == []
    assert not InboundEvent.objects.filter(dedupe_key="t2").exists()


def test_a_large_batch_goes_out_in_notifications_under_postgresqls_payload_limit(listener):
    ids = events_store(provider="meta", events=[raw(f"b{i}") for i in range(1234)])
    notes = listener()
    assert len(notes) == 3 and max(len(n) for n in notes) == dispatch.IDS_PER_NOTIFICATION
    assert sorted(sum(notes, [])) == sorted(ids)


def test_direct_mode_sends_no_notification(settings, listener):
    settings.INBOUND_DISPATCH = "direct"
    [event_id] = events_store(provider="meta", events=[raw("d1")])
    assert listener(0.3) == []
    # Eager Celery: the task ran on commit, from the request.
    assert InboundEvent.objects.get(pk=event_id).processed_at is not None


# --- The listener ---------------------------------------------------------------------------------


def test_a_webhook_is_processed_by_the_listener_once(client, messenger_inbox, running):
    dispatcher = running()
    assert dispatcher.listening.wait(10)  # past its catch-up: only a notification can bring the webhook
    payload = load_fixture("meta/messenger_text.json")
    mid = payload["entry"][0]["messaging"][0]["message"]["mid"]

    assert post_meta(client, payload).status_code == 200
    assert wait_for(lambda: Message.objects.filter(external_id=mid).exists()), "listener never processed the webhook"

    assert post_meta(client, payload).status_code == 200  # Meta redelivers
    time.sleep(0.5)
    assert not InboundEvent.objects.filter(processed_at=None).exists()
    assert Message.objects.filter(external_id=mid).count() == 1


def test_one_listener_leads_and_a_standby_takes_over_when_it_stops(running):
    first = running()
    assert first.leading.wait(10)
    second = running()
    time.sleep(0.6)  # three of the standby's tries
    assert not second.leading.is_set()

    first.stop()
    assert second.leading.wait(10), "the standby never took over"
    [event_id] = events_store(provider="meta", events=[raw("takeover")])
    # A meta event of an unknown page is processed (and ignored): processed_at is set.
    assert wait_for(lambda: InboundEvent.objects.get(pk=event_id).processed_at is not None)


def test_events_stored_while_nobody_listened_are_dispatched_by_the_next_leader(running):
    waiting = events_store(provider="meta", events=[raw("early1"), raw("early2")])
    old = events_store(provider="meta", events=[raw("old")])
    # Older than the sweeper's threshold: the sweeper's, not the listener's.
    InboundEvent.objects.filter(pk__in=old).update(received_at="2026-01-01T00:00:00Z")

    dispatcher = running()
    assert dispatcher.leading.wait(10)
    assert wait_for(lambda: not InboundEvent.objects.filter(pk__in=waiting, processed_at=None).exists())
    assert InboundEvent.objects.get(pk=old[0]).processed_at is None


def test_a_broker_that_refuses_leaves_the_events_for_the_sweeper_and_the_listener_carries_on(running, caplog):
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.broker_url, conf.broker_connection_retry, conf.task_publish_retry
    # A real publish to a port nobody listens on.
    conf.task_always_eager, conf.broker_url, conf.broker_connection_retry, conf.task_publish_retry = (
        False, "redis://127.0.0.1:9/0", False, False)
    try:
        dispatcher = running()
        assert dispatcher.listening.wait(10)
        with caplog.at_level(logging.WARNING, logger="inbox.intake.dispatch"):
            ids = events_store(provider="meta", events=[raw("nobroker")])
            assert wait_for(lambda: "left for the sweeper" in caplog.text), caplog.text
        assert dispatcher.leading.is_set()
        assert InboundEvent.objects.get(pk=ids[0]).processed_at is None
    finally:
        conf.task_always_eager, conf.broker_url, conf.broker_connection_retry, conf.task_publish_retry = saved


def test_an_unexpected_failure_restarts_the_listener_which_then_dispatches_what_it_dropped(running, caplog):
    dispatcher = running()
    assert dispatcher.listening.wait(10)
    real_publish, calls = dispatcher.publish, []

    def publish_failing_once(ids):
        calls.append(ids)
        if len(calls) == 1:
            raise RuntimeError("something nobody planned for")
        real_publish(ids)

    dispatcher.publish = publish_failing_once
    with caplog.at_level(logging.ERROR, logger="inbox.intake.dispatch"):
        [event_id] = events_store(provider="meta", events=[raw("unplanned")])
        # Dropped by the failure; the restarted listener's catch-up brings it back.
        assert wait_for(lambda: InboundEvent.objects.get(pk=event_id).processed_at is not None)
    assert "listener failed; restarting it" in caplog.text
    assert len(calls) >= 2 and event_id in calls[0] and event_id in calls[1]


def test_the_listeners_connection_sends_keepalives_unless_the_database_options_say_otherwise():
    """A LISTEN connection idles between webhooks: keepalives keep it known to NATs and show a dead peer."""
    from django.db import connections

    with Dispatcher()._connect() as conn:
        params = conn.info.get_parameters()
    assert params["keepalives_idle"] == "30"
    assert params["keepalives_count"] == "3"
    assert params["tcp_user_timeout"] == "60000"
    assert params["application_name"] == "inbox-dispatch"

    options = connections["default"].settings_dict["OPTIONS"]
    options["keepalives_idle"] = 120
    try:
        with Dispatcher()._connect() as conn:
            assert conn.info.get_parameters()["keepalives_idle"] == "120"
    finally:
        options.pop("keepalives_idle", None)
