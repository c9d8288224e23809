"""A broadcast is finished by the dispatcher once nothing is left planned, and not before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns.models import Campaign, CampaignStatus, SendStatus
from campaigns.services import broadcast_plan, dispatch_due

from .helpers import broadcast, reachable

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 13:00 in Paris, 07:00 in New York


def test_a_broadcast_finishes_when_its_last_planned_send_is_dispatched(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        reachable(sms_inbox, "+33612345670", tz="Europe/Paris")
        reachable(sms_inbox, "+12125550100", tz="America/New_York")
        campaign = broadcast(sms_inbox)
        assert dispatch_due() == {"sent": 1}
        # New York's send waits for 09:00 there: still planned, still running.
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.RUNNING
    with time_machine.travel(NOON + timedelta(hours=2, minutes=1), tick=False):
        assert dispatch_due() == {"sent": 1}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert campaign.finished_at == NOON + timedelta(hours=2, minutes=1)
    assert not campaign.sends.filter(status=SendStatus.PLANNED).exists()


def test_a_broadcast_not_yet_planned_is_not_finished(sms_inbox, fake_provider, monkeypatch):
    # The planning task has not run yet (launch queues it on commit; no commit here).
    with time_machine.travel(NOON, tick=False):
        reachable(sms_inbox, "+33612345670", tz="Europe/Paris")
        campaign = broadcast(sms_inbox)
        dispatch_due()
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
        broadcast_plan(campaign=campaign, now=NOON)
        assert dispatch_due() == {"sent": 1}
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.FINISHED


def test_a_paused_broadcast_with_nothing_planned_stays_paused(sms_inbox, fake_provider, commit):
    from campaigns.services import campaign_pause

    with time_machine.travel(NOON, tick=False):
        campaign = broadcast(sms_inbox)  # nobody in the audience
        campaign_pause(campaign=campaign)
        dispatch_due()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED
