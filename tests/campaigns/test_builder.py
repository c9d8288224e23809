"""The campaign builder's backend: the audience breakdown equals what the dispatcher then does,
launch / pause / resume under a running dispatcher sends nobody twice, cancel, a triggered
campaign's own cap, the event catalogue, the test send to oneself. Runs on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from campaigns import builder
from campaigns.models import Campaign, CampaignSend, SendStatus
from campaigns.services import broadcast_plan, campaign_launch, campaign_pause, dispatch_due
from customers.models import ConsentPurpose, CustomerEvent
from customers.services import consent_record, customer_event_publish
from inbox.models import Conversation, Message

from .helpers import broadcast, postgresql_only, reachable, triggered

# A Tuesday, 12:00 UTC: 13:00 in Paris, 07:00 in New York, 21:00 in Tokyo.
NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
WINDOW = (builder.aud.SMS_WINDOW[0], builder.aud.SMS_WINDOW[1])


def breakdown(inbox, **extra):
    return builder.audience_breakdown(inbox=inbox, channel=inbox.kind, audience={}, marketing=True,
                                      window=WINDOW, now=NOON, **extra)


@pytest.mark.django_db
def test_the_audience_breakdown_is_what_a_launch_then_sends_skips_and_postpones(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        reachable(sms_inbox, "+33600000001", name="Ann Open", tz="Europe/Paris")
        reachable(sms_inbox, "+33600000002", name="Ben Never", tz="Europe/Paris", marketing=None)
        stopped = reachable(sms_inbox, "+33600000003", name="Cat Stop", tz="Europe/Paris")
        consent_record(customer=stopped, channel="sms", purpose=ConsentPurpose.TRANSACTIONAL, granted=False, source="sms_keyword")
        capped = reachable(sms_inbox, "+33600000004", name="Dan Capped", tz="Europe/Paris")
        earlier = broadcast(sms_inbox, launch=False)
        CampaignSend.objects.create(campaign=earlier, customer=capped, channel="sms", status=SendStatus.SENT,
                                    due_at=NOON - timedelta(hours=2), sent_at=NOON - timedelta(hours=2))
        reachable(sms_inbox, "+81300000005", name="Eri Late", tz="Asia/Tokyo")
        reachable(sms_inbox, "+12120000006", name="Fay Early", tz="America/New_York")

        seen = breakdown(sms_inbox)
        assert {k: seen[k] for k in ("total", *builder.BREAKDOWN_KEYS)} == {
            "total": 6, "will_receive": 1, "quiet_hours": 2, "opted_out": 1, "no_consent": 1, "capped": 1,
            "window_closed": 0}
        assert seen["sample"][0]["name"] == "Ann Open"

        campaign = broadcast(sms_inbox, send_window={"start": "08:00", "end": "21:00"})
        outcome = dispatch_due(now=NOON)
    assert outcome == {"sent": seen["will_receive"],
                       "skipped:no_consent": seen["no_consent"] + seen["opted_out"], "skipped:capped": seen["capped"]}
    # Those in quiet hours now are planned for their own morning, and sent then.
    assert CampaignSend.objects.filter(campaign=campaign, status=SendStatus.PLANNED).count() == seen["quiet_hours"]
    with time_machine.travel(NOON + timedelta(hours=12), tick=False):
        assert dispatch_due() == {"sent": seen["quiet_hours"]}
    assert len(fake_provider.sent(r"/Messages\.json$")) == seen["will_receive"] + seen["quiet_hours"]


@pytest.mark.django_db
def test_on_messenger_the_breakdown_counts_closed_windows_as_the_dispatcher_skips_them(messenger_inbox, fake_provider, commit):
    from inbox.conversations.threads import conversation_for_identity

    with time_machine.travel(NOON, tick=False):
        talking = reachable(messenger_inbox, "psid-open", name="Gil Talking", tz="Europe/Paris")
        conversation = conversation_for_identity(inbox=messenger_inbox, identity=talking.identities.get())
        Conversation.objects.filter(pk=conversation.pk).update(last_customer_action_at=NOON - timedelta(hours=2))
        reachable(messenger_inbox, "psid-quiet", name="Hal Silent", tz="Europe/Paris")
        seen = builder.audience_breakdown(inbox=messenger_inbox, channel="messenger", audience={}, marketing=True,
                                          window=(WINDOW[0], WINDOW[1]), now=NOON)
        assert (seen["will_receive"], seen["window_closed"]) == (1, 1)
        broadcast(messenger_inbox)
        assert dispatch_due(now=NOON) == {"sent": 1, "skipped:window_closed": 1}


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_launch_pause_and_resume_under_a_running_dispatcher_send_each_customer_once(sms_inbox, fake_provider):
    with time_machine.travel(NOON, tick=True):
        for i in range(30):
            reachable(sms_inbox, f"+336000001{i:02d}", name=f"Customer {i}", tz="Europe/Paris")
        campaign = broadcast(sms_inbox, launch=False)
        stop = threading.Event()
        errors: list[Exception] = []

        def dispatcher() -> None:
            try:
                while not stop.is_set():
                    dispatch_due()
                    time.sleep(0.005)
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                connection.close()

        running = threading.Thread(target=dispatcher)
        running.start()
        try:
            campaign_launch(campaign=campaign)
            broadcast_plan(campaign=campaign)  # the launch queued it too (eager): a replay plans nobody twice
            time.sleep(0.05)
            campaign_pause(campaign=campaign)
            time.sleep(0.1)  # a send in flight when the pause landed finishes; then nothing
            during = len(fake_provider.sent(r"/Messages\.json$"))
            time.sleep(0.3)
            assert len(fake_provider.sent(r"/Messages\.json$")) == during
            assert Campaign.objects.get(pk=campaign.pk).status == "paused"
            campaign_launch(campaign=Campaign.objects.get(pk=campaign.pk))  # resume
            deadline = time.monotonic() + 20
            while CampaignSend.objects.filter(campaign=campaign, status=SendStatus.PLANNED).exists():
                assert time.monotonic() < deadline, "the dispatcher did not finish"
                time.sleep(0.05)
        finally:
            stop.set()
            running.join()
    assert errors == []
    recipients = [r.form()["To"] for r in fake_provider.sent(r"/Messages\.json$")]
    assert len(recipients) == 30 and len(set(recipients)) == 30
    assert CampaignSend.objects.filter(campaign=campaign, status=SendStatus.SENT).count() == 30
    assert Message.objects.filter(direction="out").count() == 30


@pytest.mark.django_db
def test_resume_cancel_and_results_from_the_api(api, alice, bob, sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            reachable(sms_inbox, f"+3360000020{i}", tz="Asia/Tokyo")  # quiet hours: stays planned
        campaign = broadcast(sms_inbox)
        assert api(alice).post(f"/api/v1/campaigns/{campaign.pk}/resume/").json()["code"] == "not_paused"
        campaign_pause(campaign=campaign)
        assert api(bob).post(f"/api/v1/campaigns/{campaign.pk}/resume/").status_code == 403
        assert api(alice).post(f"/api/v1/campaigns/{campaign.pk}/resume/").json()["status"] == "running"
        cancelled = api(alice).post(f"/api/v1/campaigns/{campaign.pk}/cancel/").json()
        assert cancelled["status"] == "finished"
        assert CampaignSend.objects.filter(campaign=campaign, status=SendStatus.CANCELLED).count() == 3
        assert dispatch_due(now=NOON + timedelta(hours=12)) == {}
        results = api(alice).get(f"/api/v1/campaigns/{campaign.pk}/results/").json()
    assert results["stats"]["planned"] == 0 and results["stats"]["cancelled"] == 3
    assert {"read", "opt_outs", "orders_attributed", "revenue", "replies", "delivered"} <= set(results["stats"])


@pytest.mark.django_db
def test_a_triggered_campaigns_own_cap_plans_one_message_per_customer_per_period(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        campaign = triggered(sms_inbox, delay=0, event="quiz.completed", exceptions=(),
                             audience={"frequency_cap": {"limit": 1, "period_days": 7}})
        jane = reachable(sms_inbox, "+33600000300", tz="Europe/Paris")
        customer_event_publish(customer=jane, name="quiz.completed")
        customer_event_publish(customer=jane, name="quiz.completed")
    assert CampaignSend.objects.filter(campaign=campaign).count() == 1


@pytest.mark.django_db
def test_the_event_catalogue_lists_the_systems_events_and_those_integrations_posted(api, alice, sms_inbox):
    jane = reachable(sms_inbox, "+33600000400")
    CustomerEvent.objects.create(customer=jane, name="quiz.completed")
    events = {e["name"]: e for e in api(alice).get("/api/v1/campaigns/events/").json()}
    assert events["order.shipped"]["source"] == "system"
    assert events["quiz.completed"] == {"name": "quiz.completed", "description": "Posted by an integration",
                                         "source": "integration", "recent": 1}


@pytest.mark.django_db
def test_a_test_send_goes_to_the_users_own_address_with_their_own_variables(api, alice, email_inbox, commit):
    alice.first_name, alice.last_name = "Alice", "Martin"
    alice.save()
    response = api(alice).post("/api/v1/campaigns/test-send/", {
        "inbox": email_inbox.pk, "text": "Hello {{ customer.first_name }}!", "subject": "Spring sale"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["to"] == "alice@shop.example"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["alice@shop.example"] and sent.subject.startswith("[Test]")
    assert "Hello Alice!" in sent.body


@pytest.mark.django_db
def test_without_an_identity_of_their_own_the_test_send_says_how_to_get_one(api, alice, sms_inbox):
    response = api(alice).post("/api/v1/campaigns/test-send/", {"inbox": sms_inbox.pk, "text": "Hi"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "no_identity"
    assert "phone number" in response.json()["detail"]
