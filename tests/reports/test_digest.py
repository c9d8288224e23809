"""The weekly digest: opt-in per user through the API, Monday 08:00 in their time zone, once a week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from inbox.models import Agent
from inbox.reports import digest

from .factories import agent_replies, customer_writes

pytestmark = pytest.mark.django_db

MONDAY_0759_PARIS = datetime(2026, 11, 30, 6, 59, tzinfo=UTC)  # 07:59 in Paris (UTC+1)


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()


def test_a_manager_who_opted_in_gets_last_weeks_figures_once_on_monday_morning_in_their_time_zone(
    api, alice, bob, messenger_inbox,
):
    with time_machine.travel(MONDAY_0759_PARIS - timedelta(days=3), tick=False):
        agent_replies(customer_writes(messenger_inbox, "p1", MONDAY_0759_PARIS - timedelta(days=3)), bob, timedelta(minutes=4))
    if hasattr(Agent, "time_zone"):
        Agent.objects.filter(user=alice).update(time_zone="Europe/Paris")
        zone_start = MONDAY_0759_PARIS
    else:  # no per-agent zone on this tree yet: the shop's TIME_ZONE (UTC) decides
        zone_start = MONDAY_0759_PARIS + timedelta(hours=1)
    assert api(alice).put("/api/v1/reports/digest/", {"enabled": True}, format="json").json()["enabled"] is True

    assert digest.dispatch(now=zone_start) == 0
    assert digest.dispatch(now=zone_start + timedelta(minutes=2)) == 1
    assert digest.dispatch(now=zone_start + timedelta(hours=5)) == 0  # once a week
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["alice@shop.example"]
    assert "Weekly inbox digest" in sent.subject
    assert "New conversations: 1" in sent.body
    assert "Response time (fastest 90 %): 4 min" in sent.body


def test_nobody_gets_a_digest_without_opting_in_and_agents_cannot_subscribe(api, alice, bob, messenger_inbox):
    assert digest.dispatch(now=MONDAY_0759_PARIS + timedelta(hours=3)) == 0
    assert api(bob).put("/api/v1/reports/digest/", {"enabled": True}, format="json").status_code == 403
    api(alice).put("/api/v1/reports/digest/", {"enabled": True}, format="json")
    assert api(alice).put("/api/v1/reports/digest/", {"enabled": False}, format="json").json()["enabled"] is False
    assert digest.dispatch(now=MONDAY_0759_PARIS + timedelta(hours=3)) == 0
    assert mail.outbox == []
