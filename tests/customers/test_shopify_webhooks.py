"""Shopify order webhooks: signed, stored once, newest state wins, orders join the right person."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from customers.models import (
    ConsentEvent,
    Customer,
    CustomerEvent,
    Identity,
    Order,
    OrderRefund,
    WebhookReceipt,
)
from customers.selectors import consent_state, lifetime_value
from customers.signals import customer_event
from inbox.models import InboundEvent
from tests.conftest import load_fixture

from .conftest import post_shopify, shopify_events_process, shopify_hmac, thread_with

pytestmark = pytest.mark.django_db


def test_it_stores_a_new_order_with_items_and_attaches_it_to_a_new_customer(client):
    response = post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))

    assert response.status_code == 200
    order = Order.objects.get(source="shopify", external_id="5940139491234")
    assert order.number == "1042"
    assert order.total == Decimal("98.00")
    assert order.financial_status == "paid"
    assert [(i.title, i.sku, i.quantity, i.price) for i in order.items.order_by("id")] == [
        ("Linen Shirt - M / Sand", "SHIRT-LIN-M-SND", 2, Decimal("32.00")),
        ("Canvas Tote", "TOTE-CNV", 1, Decimal("25.00")),
    ]
    customer = order.customer
    assert customer.name == "Jane Doe"
    assert customer.email == "jane.doe@example.com"
    assert set(customer.identities.values_list("channel", "external_id")) == {
        ("email", "jane.doe@example.com"),
        ("sms", "+15415550142"),
    }


def test_an_order_joins_the_customer_who_already_wrote_from_that_address(client, email_inbox):
    conversation = thread_with(inbox=email_inbox, channel="email", external_id="jane.doe@example.com", texts=["hi"])

    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))

    assert Order.objects.get().customer_id == conversation.customer_id
    assert Customer.objects.count() == 1


def test_a_replayed_delivery_is_handled_once(client, commit):
    payload = load_fixture("shopify/order_create.json")
    heard = []

    def listener(sender, event, **kwargs):
        heard.append(event.name)

    customer_event.connect(listener)
    try:
        first = post_shopify(client, "orders/create", payload, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        again = post_shopify(client, "orders/create", payload, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    finally:
        customer_event.disconnect(listener)

    assert first.json() == {"status": "accepted"}
    assert again.status_code == 200 and again.json() == {"status": "accepted"}
    assert Order.objects.count() == 1
    assert WebhookReceipt.objects.count() == 1
    assert InboundEvent.objects.filter(provider="shopify").count() == 1
    assert Order.objects.get().items.count() == 2
    assert sorted(heard) == ["order.created", "order.paid"]


def test_an_older_update_arriving_late_does_not_undo_the_newer_one(client):
    post_shopify(client, "orders/fulfilled", load_fixture("shopify/order_fulfilled.json"))
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))

    order = Order.objects.get()
    assert order.fulfillment_status == "fulfilled"
    assert order.tracking_number == "1Z999AA10123456784"
    assert order.source_updated_at.isoformat() == "2025-03-02T14:15:00+00:00"


def test_a_fulfilled_order_carries_its_tracking_and_publishes_shipped_once(client, commit):
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))
    post_shopify(client, "orders/updated", load_fixture("shopify/order_fulfilled.json"))
    post_shopify(client, "orders/fulfilled", load_fixture("shopify/order_fulfilled.json"))

    order = Order.objects.get()
    assert order.tracking_url.startswith("https://www.ups.com/")
    assert list(CustomerEvent.objects.filter(name="order.shipped").values_list("properties__tracking_number", flat=True)) == [
        "1Z999AA10123456784"
    ]
    assert CustomerEvent.objects.filter(name="order.created").count() == 1


def test_a_delivered_shipment_is_published_as_delivered(client):
    payload = load_fixture("shopify/order_fulfilled.json")
    payload["fulfillments"][0]["shipment_status"] = "delivered"
    payload["updated_at"] = "2025-03-04T09:00:00-05:00"

    post_shopify(client, "orders/updated", payload)

    assert CustomerEvent.objects.filter(name="order.delivered", customer=Order.objects.get().customer).exists()


def test_a_refund_lowers_lifetime_value_once_even_when_listed_again_in_the_order(client):
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))
    refund = load_fixture("shopify/refund_create.json")
    post_shopify(client, "refunds/create", refund)
    updated = load_fixture("shopify/order_fulfilled.json")
    updated["refunds"] = [refund]
    updated["financial_status"] = "partially_refunded"
    updated["updated_at"] = "2025-03-05T11:00:05-05:00"
    post_shopify(client, "orders/updated", updated)

    order = Order.objects.get()
    assert OrderRefund.objects.filter(order=order).count() == 1
    assert lifetime_value(order.customer.orders.all()) == Decimal("73.00")
    assert CustomerEvent.objects.filter(name="order.refunded").count() == 1


def test_a_cancelled_order_no_longer_counts_towards_lifetime_value(client):
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))
    cancelled = load_fixture("shopify/order_create.json")
    cancelled.update(cancelled_at="2025-03-01T12:00:00-05:00", cancel_reason="customer",
                     updated_at="2025-03-01T12:00:01-05:00", financial_status="voided")
    post_shopify(client, "orders/cancelled", cancelled)

    customer = Order.objects.get().customer
    assert lifetime_value(customer.orders.all()) == Decimal("0")
    assert CustomerEvent.objects.filter(name="order.cancelled").exists()


@pytest.mark.parametrize(
    "hmac_header",
    ["", "not-base64", shopify_hmac(b"{}"), shopify_hmac(b"x", secret="another-secret")],
    ids=["missing", "garbage", "other-body", "other-secret"],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(client, hmac_header):
    response = post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"), hmac_header=hmac_header)

    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert not WebhookReceipt.objects.exists()
    assert not InboundEvent.objects.exists()


def test_without_a_configured_secret_every_delivery_is_refused(client, settings):
    body = b'{"id": 1}'
    settings.SHOPIFY_WEBHOOK_SECRET = ""

    response = post_shopify(client, "orders/create", body, hmac_header=shopify_hmac(body, secret=""))

    assert response.status_code == 403
    assert not WebhookReceipt.objects.exists()
    assert not InboundEvent.objects.exists()


def test_a_signed_but_malformed_order_is_a_400_and_leaves_no_receipt(client):
    payload = copy.deepcopy(load_fixture("shopify/order_create.json"))
    payload["total_price"] = "ninety-eight"

    response = post_shopify(client, "orders/create", payload)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload"
    assert not WebhookReceipt.objects.exists()
    assert not Customer.objects.exists()
    assert not InboundEvent.objects.exists()


def test_an_unknown_topic_is_acknowledged_and_ignored(client):
    response = post_shopify(client, "products/update", {"id": 632910392, "title": "IPod Nano - 8GB"})

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert not InboundEvent.objects.exists()


def test_a_customer_update_records_marketing_consent_and_tags(client):
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))
    post_shopify(client, "customers/update", load_fixture("shopify/customer_update.json"))
    post_shopify(client, "customers/update", load_fixture("shopify/customer_update.json"))

    customer = Customer.objects.get()
    assert consent_state(customer=customer, channel="email", purpose="marketing") is True
    assert consent_state(customer=customer, channel="sms", purpose="marketing") is False
    assert ConsentEvent.objects.count() == 2
    assert set(customer.labels.values_list("name", flat=True)) == {"VIP", "linen"}
    assert Identity.objects.filter(customer=customer).count() == 2


# --- Stored, then processed in the worker --------------------------------------------------------------


def test_the_webhook_only_stores_the_delivery_and_processing_keeps_the_order(client):
    response = post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"),
                            webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", process=False)

    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    event = InboundEvent.objects.get()
    assert (event.provider, event.kind, event.dedupe_key) == ("shopify", "orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    assert event.payload["id"] == 5940139491234 and event.processed_at is None
    assert not Order.objects.exists() and not WebhookReceipt.objects.exists()

    assert shopify_events_process() == [event.pk]

    event.refresh_from_db()
    assert event.processed_at is not None and event.error == ""
    assert Order.objects.get(source="shopify", external_id="5940139491234").items.count() == 2
    assert WebhookReceipt.objects.get().webhook_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


def test_with_the_worker_dispatch_an_acknowledged_delivery_is_processed_after_commit(client, commit):
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"), process=False)

    assert InboundEvent.objects.get().processed_at is not None
    assert Order.objects.count() == 1


def test_a_redelivery_stores_nothing_more_and_changes_nothing(client):
    payload = load_fixture("shopify/order_create.json")
    post_shopify(client, "orders/create", payload, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    order = Order.objects.get()
    # The order changed in the shop since; a late retry of the first delivery must not undo that.
    Order.objects.filter(pk=order.pk).update(financial_status="refunded")

    again = post_shopify(client, "orders/create", payload, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                         process=False)

    assert again.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert shopify_events_process() == []
    assert Order.objects.get().financial_status == "refunded"


def test_an_update_processed_later_updates_the_order(client):
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"), process=False)
    post_shopify(client, "orders/fulfilled", load_fixture("shopify/order_fulfilled.json"), process=False)

    assert len(shopify_events_process()) == 2

    order = Order.objects.get()
    assert order.fulfillment_status == "fulfilled"
    assert order.tracking_number == "1Z999AA10123456784"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [("refunds/create", {"id": 1, "transactions": []}), ("customers/update", {"email": "a@example.com"})],
    ids=["refund-without-order", "customer-without-id"],
)
def test_a_signed_delivery_its_topic_cannot_read_is_a_400_and_nothing_is_stored(client, topic, payload):
    response = post_shopify(client, topic, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload"
    assert not InboundEvent.objects.exists()


def test_a_delivery_the_database_cannot_store_is_a_503_so_shopify_retries(client, monkeypatch):
    from django.db import OperationalError

    from inbox.intake import webhooks

    def down(**kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(webhooks, "events_store", down)

    response = post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert not Order.objects.exists()
