"""Triggered campaigns under time travel: delays, exceptions, send windows, caps, consent, pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns.models import CampaignSend, SendStatus
from campaigns.services import campaign_launch, campaign_pause, campaign_stats, dispatch_due
from customers.models import ConsentPurpose
from customers.services import consent_record, customer_event_publish
from inbox.models import Message, SenderType

from .helpers import broadcast, reachable, triggered

pytestmark = pytest.mark.django_db

# A Tuesday, 12:00 UTC: 07:00 in New York, 13:00 in Paris.
NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def sms_bodies(fake_provider) -> list[str]:
    return [r.form().get("Body", "") for r in fake_provider.sent(r"/Messages\.json$")]


def test_it_sends_a_triggered_sms_after_the_delay_with_the_customers_name(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        triggered(sms_inbox)
        jane = reachable(sms_inbox, "+33612345678", name="Jane Doe", tz="Europe/Paris")
        customer_event_publish(customer=jane, name="cart.abandoned")
        assert dispatch_due() == {}
    with time_machine.travel(NOON + timedelta(minutes=29), tick=False):
        assert dispatch_due() == {}
        assert sms_bodies(fake_provider) == []
    with time_machine.travel(NOON + timedelta(minutes=31), tick=False):
        assert dispatch_due() == {"sent": 1}
    assert sms_bodies(fake_provider) == ["Hi Jane, your cart misses you\nReply STOP to opt out"]
    message = Message.objects.get(direction="out")
    assert message.sender_type == SenderType.BOT and message.tag == ""


def test_an_order_cancels_the_pending_abandoned_cart_message(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        campaign = triggered(sms_inbox)
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        customer_event_publish(customer=jane, name="cart.abandoned")
    with time_machine.travel(NOON + timedelta(minutes=10), tick=False):
        customer_event_publish(customer=jane, name="order.created", properties={"number": "1042"})
    with time_machine.travel(NOON + timedelta(hours=2), tick=False):
        assert dispatch_due() == {}
    send = CampaignSend.objects.get(campaign=campaign)
    assert (send.status, send.reason) == (SendStatus.CANCELLED, "exception:order.created")
    assert sms_bodies(fake_provider) == []


def test_it_waits_for_the_customers_morning_in_their_own_time_zone(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):  # 07:00 in New York: before 09:00
        triggered(sms_inbox, delay=0)
        nyc = reachable(sms_inbox, "+12125550123", tz="America/New_York")
        paris = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        customer_event_publish(customer=nyc, name="cart.abandoned")
        customer_event_publish(customer=paris, name="cart.abandoned")
        assert dispatch_due() == {"sent": 1}  # Paris, 13:00
    send = CampaignSend.objects.get(customer=nyc)
    assert send.status == SendStatus.PLANNED
    assert send.due_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 09:00 EST
    with time_machine.travel(send.due_at, tick=False):
        assert dispatch_due() == {"sent": 1}


def test_the_send_window_follows_daylight_saving_time(sms_inbox, commit):
    # New York springs forward on 2026-03-08: 09:00 is 14:00 UTC before and 13:00 UTC after.
    evening = datetime(2026, 3, 8, 2, 0, tzinfo=UTC)  # 21:00 EST on the 7th: window closed
    with time_machine.travel(evening, tick=False):
        triggered(sms_inbox, delay=0)
        nyc = reachable(sms_inbox, "+12125550123", tz="America/New_York")
        customer_event_publish(customer=nyc, name="cart.abandoned")
    assert CampaignSend.objects.get(customer=nyc).due_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


def test_sms_never_goes_out_before_eight_even_when_the_campaign_allows_it(sms_inbox, commit):
    at = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 07:00 in Paris
    with time_machine.travel(at, tick=False):
        triggered(sms_inbox, delay=0, send_window={"start": "06:00", "end": "23:00"})
        paris = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        customer_event_publish(customer=paris, name="cart.abandoned")
    assert CampaignSend.objects.get(customer=paris).due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 CET


def test_consent_withdrawn_mid_campaign_skips_the_send(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        campaign = triggered(sms_inbox)
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        customer_event_publish(customer=jane, name="cart.abandoned")
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        consent_record(customer=jane, channel="sms", purpose=ConsentPurpose.MARKETING, granted=False, source="test")
    with time_machine.travel(NOON + timedelta(minutes=31), tick=False):
        assert dispatch_due() == {"skipped:no_consent": 1}
    assert campaign_stats(campaign=campaign)["skipped"]["no_consent"] == 1
    assert sms_bodies(fake_provider) == []


def test_a_customer_who_never_opted_in_gets_no_marketing(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        triggered(sms_inbox, delay=0)
        never = reachable(sms_inbox, "+33612345678", tz="Europe/Paris", marketing=None)
        customer_event_publish(customer=never, name="cart.abandoned")
        assert dispatch_due() == {"skipped:no_consent": 1}


def test_pausing_stops_pending_sends_and_launching_resumes_them(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        campaign = triggered(sms_inbox)
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        customer_event_publish(customer=jane, name="cart.abandoned")
        campaign_pause(campaign=campaign)
    with time_machine.travel(NOON + timedelta(hours=1), tick=False):
        assert dispatch_due() == {}
        from campaigns.services import send_dispatch

        assert send_dispatch(send_id=CampaignSend.objects.get().pk) == "paused"
        campaign_launch(campaign=campaign)
        assert dispatch_due() == {"sent": 1}


def test_the_daily_cap_holds_across_campaigns_and_transactional_messages_count_but_pass(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        first = triggered(sms_inbox, delay=0, event="order.shipped", exceptions=(), purpose="transactional")
        second = triggered(sms_inbox, delay=0, event="cart.abandoned")
        customer_event_publish(customer=jane, name="order.shipped")
        assert dispatch_due() == {"sent": 1}
        customer_event_publish(customer=jane, name="cart.abandoned")
        assert dispatch_due() == {"skipped:capped": 1}
    assert campaign_stats(campaign=first)["sent"] == 1
    assert campaign_stats(campaign=second)["skipped"]["capped"] == 1


def test_the_monthly_sms_cap_allows_six(sms_inbox, fake_provider, commit, settings):
    settings.CAMPAIGN_FREQUENCY_CAPS = [{"channel": "sms", "limit": 6, "period_days": 30}]
    jane = None
    results = []
    for day in range(8):
        with time_machine.travel(NOON + timedelta(days=day), tick=False):
            if jane is None:
                jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
            broadcast(sms_inbox)
            results.append(dispatch_due())
    assert results[:6] == [{"sent": 1}] * 6
    assert results[6:] == [{"skipped:capped": 1}] * 2


def test_a_campaign_does_not_send_after_its_end_date(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        triggered(sms_inbox, delay=3600, ends_at=NOON + timedelta(minutes=30))
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        customer_event_publish(customer=jane, name="cart.abandoned")
    with time_machine.travel(NOON + timedelta(hours=2), tick=False):
        assert dispatch_due() == {"cancelled:ended": 1}


def test_resolving_a_conversation_publishes_the_event_a_survey_triggers_on(sms_inbox, alice, fake_provider, commit):
    from customers.models import CustomerEvent
    from inbox.conversations.threads import conversation_for_identity

    with time_machine.travel(NOON, tick=False):
        survey = triggered(sms_inbox, event="conversation.resolved", delay=600, exceptions=(), text="How did we do?")
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        conversation = conversation_for_identity(inbox=sms_inbox, identity=jane.identities.get())
        conversation.status, conversation.resolved_at = "resolved", NOON
        conversation.save(update_fields=["status", "resolved_at"])
    assert CustomerEvent.objects.get(customer=jane).name == "conversation.resolved"
    with time_machine.travel(NOON + timedelta(minutes=11), tick=False):
        assert dispatch_due() == {"sent": 1}
    assert campaign_stats(campaign=survey)["sent"] == 1
