"""SLA warnings before a target is due and alerts at its breach: to the assignee, the team's leads
and the policy's managers, in the bell and live, once per target per conversation — also with two
dispatchers running at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction

from inbox.conversations.triage import conversation_update
from inbox.models import Notification, Role, SlaAlert, SlaClock
from inbox.realtime import publish as realtime
from inbox.sla.alerts import alert_once, alerts_dispatch

from ..conftest import make_user
from .helpers import T0, customer_writes, fresh, make_policy, page_replies


@pytest.fixture
def sent(monkeypatch):
    frames: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(realtime, "_send", lambda groups, frame: frames.append((groups, frame)))
    return frames


@pytest.fixture
def dana(team_a):
    """Lead of Alice's team."""
    return make_user("dana", Role.LEAD, [team_a])


def _notified(kind: str) -> list[tuple[str, int]]:
    return sorted((n.user.username, n.conversation_id) for n in Notification.objects.filter(kind=kind))


@pytest.mark.django_db
def test_a_warning_before_and_an_alert_at_the_breach_reach_the_assignee_the_leads_and_the_chosen_managers(
    messenger_inbox, alice, bob, dana, charlie, sent, commit
):
    make_policy(notify_users=[alice.pk])  # first response 15 min, warning 5 min before
    with time_machine.travel(T0, tick=False):
        conversation = customer_writes(messenger_inbox, "psid-1", T0).conversation
        conversation_update(conversation=conversation, by=alice, assignee=bob)
    sent.clear()

    assert alerts_dispatch(now=T0 + timedelta(minutes=9)) == {"warning": 0, "breach": 0}
    assert alerts_dispatch(now=T0 + timedelta(minutes=10)) == {"warning": 1, "breach": 0}
    assert _notified("sla_warning") == [("alice", conversation.pk), ("bob", conversation.pk), ("dana", conversation.pk)]
    warning = next(f for groups, f in sent if groups == [f"user-{bob.pk}"])
    assert warning["type"] == "notification" and warning["kind"] == "sla_warning"
    assert warning["text"].startswith("First response for") and "due in 5 min" in warning["text"]
    assert alerts_dispatch(now=T0 + timedelta(minutes=12)) == {"warning": 0, "breach": 0}  # told once

    assert alerts_dispatch(now=T0 + timedelta(minutes=16)) == {"warning": 0, "breach": 1}
    assert _notified("sla_breach") == [("alice", conversation.pk), ("bob", conversation.pk), ("dana", conversation.pk)]
    assert alerts_dispatch(now=T0 + timedelta(minutes=30)) == {"warning": 0, "breach": 0}
    assert not Notification.objects.filter(user=charlie).exists()  # another team's agent hears nothing


@pytest.mark.django_db
def test_a_target_met_in_time_warns_nobody(messenger_inbox, commit):
    make_policy()
    conversation = customer_writes(messenger_inbox, "psid-2", T0).conversation
    page_replies(messenger_inbox, "psid-2", T0 + timedelta(minutes=2))
    alerts_dispatch(now=T0 + timedelta(minutes=20))
    assert not SlaAlert.objects.filter(target="first_response").exists()
    assert fresh(conversation).sla_next_due_at == T0 + timedelta(days=1)  # only the resolution still runs


@pytest.mark.django_db
def test_a_late_dispatcher_folds_the_warning_into_the_breach_and_old_breaches_are_not_told(messenger_inbox, alice):
    make_policy(notify_users=[alice.pk])
    customer_writes(messenger_inbox, "psid-3", T0)
    assert alerts_dispatch(now=T0 + timedelta(minutes=20)) == {"warning": 0, "breach": 1}
    assert _notified("sla_warning") == []
    customer_writes(messenger_inbox, "psid-4", T0)
    # Three hours late (more than SLA_ALERT_GRACE_SECONDS): marked told, nobody paged for old news.
    assert alerts_dispatch(now=T0 + timedelta(hours=3)) == {"warning": 0, "breach": 0}
    assert SlaClock.objects.filter(target="first_response", breach_sent=False).count() == 0


@pytest.mark.django_db
def test_a_dispatcher_that_finds_the_alert_already_claimed_tells_nobody(messenger_inbox, alice):
    make_policy(notify_users=[alice.pk])
    conversation = customer_writes(messenger_inbox, "psid-5", T0).conversation
    clock = SlaClock.objects.get(conversation=conversation, target="first_response")
    SlaAlert.objects.create(clock=clock, conversation=conversation, target=clock.target, kind="breach")  # the other one
    assert alert_once(clock.pk, conversation.pk, "breach", now=T0 + timedelta(minutes=16)) is False
    assert not Notification.objects.exists()
    assert SlaClock.objects.get(pk=clock.pk).breach_sent is True


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_the_same_moment_tell_each_warning_exactly_once(messenger_inbox, alice, bob, dana):
    make_policy(notify_users=[alice.pk])
    conversations = []
    for n in range(12):
        with transaction.atomic():  # as the intake handler holds one
            conversation = customer_writes(messenger_inbox, f"psid-race-{n}", T0).conversation
        conversation_update(conversation=conversation, by=alice, assignee=bob)
        conversations.append(conversation.pk)
    start = threading.Barrier(2)
    results, errors = [], []

    def dispatcher() -> None:
        try:
            start.wait(timeout=10)
            results.append(alerts_dispatch(now=T0 + timedelta(minutes=11)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    # Some warnings may wait for the next tick (a row the other dispatcher held); what was told, was told once.
    alerts_dispatch(now=T0 + timedelta(minutes=11))
    assert sum(r["warning"] for r in results) <= 12
    assert SlaAlert.objects.filter(kind="warning").count() == 12
    assert Notification.objects.filter(kind="sla_warning").count() == 12 * 3  # bob, dana, alice
    for user in (alice, bob, dana):
        assert sorted(Notification.objects.filter(kind="sla_warning", user=user).values_list("conversation_id", flat=True)) \
            == sorted(conversations)
