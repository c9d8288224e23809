"""Triggered campaigns fire once per triggering event (each order's shipment), never twice for one."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail

from campaigns.models import CampaignSend, SendStatus
from campaigns.services import dispatch_due, on_customer_event
from customers.models import CustomerEvent
from tests.conftest import load_fixture
from tests.customers.conftest import post_shopify, shopify_secret  # noqa: F401  (autouse: sets the Shopify secret)

from .helpers import reachable, triggered

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 13:00 in Paris


def fulfilled(order_id: int, number: str) -> dict:
    payload = copy.deepcopy(load_fixture("shopify/order_fulfilled.json"))
    payload.update(id=order_id, name=number, order_number=int(number.lstrip("#")))
    return payload


@pytest.fixture
def shipped_campaign(email_inbox):
    return triggered(
        email_inbox, event="order.shipped", delay=0, exceptions=(), purpose="transactional",
        subject="Order {{ order.number }} shipped", text="Hi {{ customer.first_name }}, order {{ order.number }} is on its way.",
    )


def test_each_orders_shipment_sends_its_own_message(client, email_inbox, shipped_campaign, fake_provider, commit):
    with time_machine.travel(NOON, tick=False):
        reachable(email_inbox, "jane.doe@example.com", tz="Europe/Paris")
        post_shopify(client, "orders/fulfilled", fulfilled(5940139491234, "#1042"))
        assert dispatch_due() == {"sent": 1}
        post_shopify(client, "orders/fulfilled", fulfilled(5940139499999, "#1043"))
        assert dispatch_due() == {"sent": 1}

    sends = CampaignSend.objects.filter(campaign=shipped_campaign).order_by("id")
    assert [s.status for s in sends] == [SendStatus.SENT, SendStatus.SENT]
    assert [s.trigger_key for s in sends] == [
        "order.shipped:shopify:5940139491234", "order.shipped:shopify:5940139499999"
    ]
    assert sorted(m.subject for m in mail.outbox) == ["Order 1042 shipped", "Order 1043 shipped"]


def test_a_replayed_shipment_or_a_re_delivered_event_sends_nothing_more(
    client, email_inbox, shipped_campaign, fake_provider, commit
):
    with time_machine.travel(NOON, tick=False):
        reachable(email_inbox, "jane.doe@example.com", tz="Europe/Paris")
        post_shopify(client, "orders/fulfilled", fulfilled(5940139491234, "#1042"))
        post_shopify(client, "orders/fulfilled", fulfilled(5940139491234, "#1042"))
        on_customer_event(event=CustomerEvent.objects.get(name="order.shipped"))
        assert dispatch_due() == {"sent": 1}
        assert dispatch_due() == {}
    assert CampaignSend.objects.filter(campaign=shipped_campaign).count() == 1
    assert len(mail.outbox) == 1


def test_events_without_a_dedupe_key_are_told_apart_by_their_id(sms_inbox, fake_provider, commit):
    from customers.services import customer_event_publish

    with time_machine.travel(NOON, tick=False):
        campaign = triggered(sms_inbox, event="review.requested", delay=0, exceptions=())
        jane = reachable(sms_inbox, "+33612345678", tz="Europe/Paris")
        first = customer_event_publish(customer=jane, name="review.requested")
        second = customer_event_publish(customer=jane, name="review.requested")
        on_customer_event(event=first)  # the first one heard again
    keys = list(CampaignSend.objects.filter(campaign=campaign).order_by("id").values_list("trigger_key", flat=True))
    assert keys == [f"event:{first.pk}", f"event:{second.pk}"]
