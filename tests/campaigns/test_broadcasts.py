"""Broadcasts: set-based planning, audience, no duplicates, email unsubscribe, the API and page."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client

from campaigns import composition
from campaigns.models import Campaign, CampaignSend, SendStatus
from campaigns.services import broadcast_plan, campaign_stats, dispatch_due, send_dispatch
from customers.models import ConsentEvent, ConsentPurpose, Customer, CustomerEvent, Identity, Label, Order
from customers.selectors import consent_state

from .helpers import broadcast, postgresql_only, reachable

NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@postgresql_only
@pytest.mark.django_db
def test_a_ten_thousand_customer_broadcast_is_planned_in_a_bounded_number_of_queries(sms_inbox, django_assert_max_num_queries):
    n = 10_000
    customers = Customer.objects.bulk_create(
        [Customer(name=f"C {i}", timezone=("Europe/Paris", "America/New_York", "")[i % 3]) for i in range(n)]
    )
    Identity.objects.bulk_create(
        [Identity(customer=c, channel="sms", external_id=f"+1415555{i:04d}") for i, c in enumerate(customers)]
    )
    vip = Label.objects.create(name="vip")
    vip.customers.add(*customers[: n // 2])
    campaign = broadcast(sms_inbox, launch=False, audience={"labels": ["vip"]})
    with django_assert_max_num_queries(6):
        created = broadcast_plan(campaign=campaign, now=NOON)
    assert created == n // 2
    assert CampaignSend.objects.filter(campaign=campaign, status=SendStatus.PLANNED).count() == n // 2
    # Planning again (a retried task) adds nobody twice.
    broadcast_plan(campaign=campaign, now=NOON)
    assert CampaignSend.objects.filter(campaign=campaign).count() == n // 2


@pytest.mark.django_db
def test_dispatching_twice_sends_each_customer_once(sms_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            reachable(sms_inbox, f"+3361234567{i}", tz="Europe/Paris")
        campaign = broadcast(sms_inbox)
        assert dispatch_due() == {"sent": 3}
        assert dispatch_due() == {}
        for send in CampaignSend.objects.all():
            assert send_dispatch(send_id=send.pk) == "busy_or_done"
    assert len(fake_provider.sent(r"/Messages\.json$")) == 3
    assert campaign_stats(campaign=campaign)["sent"] == 3


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_send_the_same_campaign_message_twice(sms_inbox, fake_provider):
    with time_machine.travel(NOON, tick=True):
        for i in range(6):
            reachable(sms_inbox, f"+3361234567{i}", tz="Europe/Paris")
        broadcast(sms_inbox)
        barrier = threading.Barrier(3)
        errors = []

        def worker():
            try:
                barrier.wait()
                dispatch_due(now=NOON + timedelta(seconds=1))
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert CampaignSend.objects.filter(status=SendStatus.SENT).count() == 6
    bodies = [r.form()["To"] for r in fake_provider.sent(r"/Messages\.json$")]
    assert sorted(bodies) == sorted(set(bodies)) and len(bodies) == 6


@pytest.mark.django_db
def test_the_audience_can_be_people_who_bought_recently_or_spent_more_than_an_amount(sms_inbox):
    recent = reachable(sms_inbox, "+33612345670")
    old = reachable(sms_inbox, "+33612345671")
    reachable(sms_inbox, "+33612345672")
    Order.objects.create(customer=recent, external_id="1", number="1", total=Decimal("250"), placed_at=NOON - timedelta(days=10))
    Order.objects.create(customer=old, external_id="2", number="2", total=Decimal("40"), placed_at=NOON - timedelta(days=200))
    from campaigns.audience import audience_queryset

    def members(audience):
        return set(audience_queryset(inbox=sms_inbox, channel="sms", audience=audience, now=NOON))

    assert members({"bought_within_days": 90}) == {recent}
    assert members({"lifetime_value_gt": "100"}) == {recent}
    assert members({"lifetime_value_gt": "10"}) == {recent, old}


@pytest.mark.django_db
def test_marketing_email_carries_one_click_unsubscribe_that_works_without_cookies(email_inbox, commit):
    with time_machine.travel(NOON, tick=False):
        jane = reachable(email_inbox, "jane@example.com", tz="Europe/Paris")
        broadcast(email_inbox, subject="Spring sale for {{ customer.first_name }}", sender_name="Shop Team")
        assert dispatch_due() == {"sent": 1}
    [email] = mail.outbox
    assert email.subject == "Spring sale for Jane"
    assert email.from_email.startswith("Shop Team")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = email.extra_headers["List-Unsubscribe"].strip("<>")
    assert url in email.body
    path = url.removeprefix("http://testserver")
    client = Client(enforce_csrf_checks=True)
    assert client.get(path).status_code == 200
    assert consent_state(customer=jane, channel="email", purpose=ConsentPurpose.MARKETING) is True
    response = client.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert consent_state(customer=jane, channel="email", purpose=ConsentPurpose.MARKETING) is False
    assert ConsentEvent.objects.filter(customer=jane, source="email_unsubscribe").count() == 1


@pytest.mark.django_db
def test_a_forged_unsubscribe_token_changes_nothing(email_inbox):
    jane = reachable(email_inbox, "jane@example.com")
    token = composition.unsubscribe_token(customer_id=jane.pk)
    response = Client().post(f"/u/{token[:-2]}xx/")
    assert response.status_code == 400
    assert consent_state(customer=jane, channel="email", purpose=ConsentPurpose.MARKETING) is True


@pytest.mark.django_db
def test_messenger_marketing_outside_the_24h_window_is_skipped_as_window_closed(messenger_inbox, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        reachable(messenger_inbox, "2467001000000001", tz="Europe/Paris")
        campaign = broadcast(messenger_inbox)
        assert dispatch_due() == {"skipped:window_closed": 1}
    assert campaign_stats(campaign=campaign)["skipped"]["window_closed"] == 1
    assert fake_provider.sent("/messages") == []


# --- API ------------------------------------------------------------------------------------------


def campaign_body(inbox, **extra):
    return {"name": "Spring", "kind": "broadcast", "channel": inbox.kind, "inbox": inbox.pk,
            "text": "Hi {{ customer.first_name }}", "audience": {"labels": ["vip"]}, **extra}


@pytest.mark.django_db
def test_managers_create_and_launch_campaigns_agents_only_read_and_others_get_404(api, alice, bob, charlie, sms_inbox, commit):
    vip = Label.objects.create(name="vip")
    jane = reachable(sms_inbox, "+33612345670")
    jane.labels.add(vip)
    response = api(alice).post("/api/v1/campaigns/", campaign_body(sms_inbox), format="json")
    assert response.status_code == 201, response.json()
    campaign_id = response.json()["id"]
    assert response.json()["stats"]["planned"] == 0
    assert api(bob).post("/api/v1/campaigns/", campaign_body(sms_inbox), format="json").status_code == 403
    assert api(bob).get(f"/api/v1/campaigns/{campaign_id}/").status_code == 200
    assert api(bob).post(f"/api/v1/campaigns/{campaign_id}/launch/").status_code == 403
    assert api(charlie).get(f"/api/v1/campaigns/{campaign_id}/").status_code == 404
    audience = api(alice).get(f"/api/v1/campaigns/{campaign_id}/audience/").json()
    assert audience["size"] == 1 and audience["eligible"] == 1
    launched = api(alice).post(f"/api/v1/campaigns/{campaign_id}/launch/").json()
    assert launched["status"] == "running"
    assert launched["stats"]["planned"] == 1
    assert set(launched["stats"]["skipped"]) >= {"no_consent", "capped", "quiet_hours", "window_closed", "no_identity"}
    paused = api(alice).post(f"/api/v1/campaigns/{campaign_id}/pause/").json()
    assert paused["status"] == "paused"


@pytest.mark.django_db
def test_bad_campaigns_are_refused_with_a_code(api, alice, sms_inbox, email_inbox):
    client = api(alice)
    bad = [
        campaign_body(sms_inbox, text="Hi {% if %}"),
        campaign_body(sms_inbox, kind="triggered"),
        campaign_body(email_inbox),  # no subject
        campaign_body(sms_inbox, send_window={"start": "21:00", "end": "09:00"}),
        campaign_body(sms_inbox, audience={"spent": 3}),
        campaign_body(sms_inbox, channel="email"),
    ]
    for body in bad:
        response = client.post("/api/v1/campaigns/", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid"
    assert Campaign.objects.count() == 0


@pytest.mark.django_db
def test_the_preview_counts_sms_segments_and_adds_the_opt_out_line(api, alice, sms_inbox):
    response = api(alice).post(
        "/api/v1/campaigns/preview/", {"channel": "sms", "inbox": sms_inbox.pk, "text": "x" * 150}, format="json"
    )
    data = response.json()
    assert data["text"].endswith("Reply STOP to opt out")
    assert data["segments"] == 2 and data["warnings"]
    assert data["audience"] == {"size": 0, "eligible": 0}


@pytest.mark.django_db
def test_posting_an_event_triggers_campaigns(api, admin_user, sms_inbox, commit):
    with time_machine.travel(NOON, tick=False):
        jane = reachable(sms_inbox, "+33612345670", tz="Europe/Paris")
        from .helpers import triggered

        campaign = triggered(sms_inbox, event="quiz.completed", delay=0, exceptions=())
        response = api(admin_user).post(
            "/api/v1/events/", {"customer": jane.pk, "name": "quiz.completed", "properties": {"score": 3}}, format="json"
        )
        assert response.status_code == 201
        assert CustomerEvent.objects.get(customer=jane).properties == {"score": 3}
        assert CampaignSend.objects.get(campaign=campaign).status == SendStatus.PLANNED
        assert api(admin_user).post("/api/v1/events/", {"customer": jane.pk, "name": "Bad Name!"}, format="json").status_code == 400


@pytest.mark.django_db
def test_the_campaigns_page_lists_campaigns_and_the_builder_creates_one_then_shows_its_page(client, alice, bob, sms_inbox):
    broadcast(sms_inbox, launch=False)
    client.force_login(alice)
    page = client.get("/campaigns/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sale" in html and 'href="/campaigns/new/?kind=broadcast"' in html and "<script>" not in html
    builder_page = client.get("/campaigns/new/").content.decode()
    assert 'id="campaign-form"' in builder_page and 'for="c-text"' in builder_page and "csrfmiddlewaretoken" in builder_page
    created = client.post("/campaigns/new/", {"name": "Form made", "kind": "broadcast", "inbox": sms_inbox.pk, "text": "Hello"})
    made = Campaign.objects.get(name="Form made")
    # Created, it leads to its own page, never back to a form that forgot the inbox and kind.
    assert created.status_code == 302 and created["Location"] == f"/campaigns/{made.pk}/"
    assert client.get(created["Location"]).status_code == 200
    refused = client.post("/campaigns/new/", {"name": "x", "kind": "triggered", "inbox": sms_inbox.pk, "text": ""})
    assert refused.status_code == 400
    assert f'value="{sms_inbox.pk}" data-channel="sms" selected' in refused.content.decode()
    client.force_login(bob)
    assert 'href="/campaigns/new/' not in client.get("/campaigns/").content.decode()
    assert client.get("/campaigns/new/").status_code == 403
    assert client.post("/campaigns/", {"name": "x", "inbox": sms_inbox.pk, "text": "x"}).status_code == 403
