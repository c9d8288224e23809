"""Order actions through Shopify's GraphQL Admin API: each a row before it is a call, within the
role's limits, stated before it happens, audited and on the timeline, never done twice."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Order, OrderRefund
from inbox.models import AuditEntry, ConversationEvent, OrderAction, ShopifyStore
from inbox.orders.run import order_action_deliver
from tests.conftest import load_fixture
from tests.customers.conftest import SHOPIFY_SECRET, post_shopify, thread_with

pytestmark = pytest.mark.django_db

ORDER_GID = "gid://shopify/Order/5940139491234"
SHIRT = "13688971493691"
TOTE = "13688971526459"


@pytest.fixture(autouse=True)
def shopify_webhooks(settings):
    settings.SHOPIFY_WEBHOOK_SECRET = SHOPIFY_SECRET


@pytest.fixture
def store(fake_shopify):
    return ShopifyStore.objects.create(
        shop_domain=fake_shopify.shop, credentials={"access_token": fake_shopify.token}, name="Northwind Test",
        currency="USD", agent_refund_limit=Decimal("50.00"), lead_refund_limit=Decimal("250.00"),
    )


@pytest.fixture
def thread(email_inbox):
    """Jane wrote to the Support team's mailbox: Alice and Bob see her, Charlie does not."""
    return thread_with(inbox=email_inbox, channel="email", external_id="jane.doe@example.com",
                       texts=["The tote arrived torn, can I get my money back?"], name="Jane Doe")


def _synced(client, fake_shopify, fixture: str = "shopify/order_create.json", **changes) -> Order:
    payload = {**load_fixture(fixture), **changes}
    assert post_shopify(client, "orders/create", payload).status_code == 200
    fake_shopify.add_order(copy.deepcopy(payload))
    return Order.objects.get(source="shopify", external_id=str(payload["id"]))


@pytest.fixture
def order(client, fake_shopify, store, thread):
    return _synced(client, fake_shopify)


@pytest.fixture
def shipped(client, fake_shopify, store, thread):
    return _synced(client, fake_shopify, "shopify/order_fulfilled.json")


def refund(api, user, order, body=None):
    return api(user).post(f"/api/v1/orders/{order.pk}/refunds/", body or {}, format="json")


# --- Refunds ---------------------------------------------------------------------------------------


def test_a_refund_of_one_item_goes_to_shopify_as_refund_create_with_its_line_item_and_transaction(
    api, bob, order, fake_shopify, commit
):
    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}],
                                        "reason": "Tote arrived torn", "notify": True})

    assert response.status_code == 202, response.json()
    action = OrderAction.objects.get()
    assert response.json()["action"]["status"] == "sent"
    [call] = fake_shopify.calls_of("refundCreate")
    sent = call["variables"]["input"]
    assert sent["orderId"] == ORDER_GID
    assert sent["refundLineItems"] == [
        {"lineItemId": f"gid://shopify/LineItem/{TOTE}", "quantity": 1, "restockType": "NO_RESTOCK"}
    ]
    sale = fake_shopify.orders[ORDER_GID]["transactions"][0]
    assert sent["transactions"] == [
        {"orderId": ORDER_GID, "gateway": "shopify_payments", "kind": "REFUND", "amount": "25.00", "parentId": sale["id"]}
    ]
    assert sent["notify"] is True
    assert sent["note"].startswith("Tote arrived torn") and action.reference in sent["note"]
    assert call["variables"]["idempotencyKey"] == str(action.idempotency_key)
    assert call["version"] == "2026-10"
    # The refund is on the order at once, under Shopify's REST id (what its webhooks will carry).
    made = fake_shopify.orders[ORDER_GID]["refunds"][0]
    assert list(OrderRefund.objects.values_list("external_id", "amount")) == [(made["id"].rsplit("/", 1)[-1], Decimal("25.00"))]
    assert action.shopify_id == made["id"] and action.amount == Decimal("25.00")


def test_the_preview_states_the_amount_items_restock_and_notification_and_sends_nothing(api, bob, order, fake_shopify):
    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "restock": True,
                                        "notify": False, "reason": "Torn", "preview": True})

    assert response.status_code == 200
    body = response.json()
    assert body["preview"] is True and body["amount"] == "25.00" and body["currency"] == "USD"
    assert body["summary"] == (
        "Refund 25.00 USD to the original payment method for order #1042: 1 × Canvas Tote. "
        "Items restocked: yes. Shopify emails the customer: no. Reason: Torn."
    )
    assert body["details"]["line_items"][0]["title"] == "Canvas Tote"
    assert body["confirmation"]
    assert fake_shopify.calls == [] and OrderAction.objects.count() == 0


def test_a_whole_order_refund_includes_every_item_and_the_shipping(api, alice, order, fake_shopify, commit):
    response = refund(api, alice, order, {"restock": True})

    assert response.status_code == 202
    sent = fake_shopify.calls_of("refundCreate")[0]["variables"]["input"]
    assert sent["shipping"] == {"fullRefund": True}
    assert {(x["lineItemId"].rsplit("/", 1)[-1], x["quantity"], x["restockType"]) for x in sent["refundLineItems"]} == {
        (SHIRT, 2, "CANCEL"), (TOTE, 1, "CANCEL")
    }
    assert sent["transactions"][0]["amount"] == "98.00"
    assert fake_shopify.refunded(ORDER_GID) == Decimal("98.00")


def test_a_returned_item_is_restocked_at_the_location_it_shipped_from(api, bob, shipped, fake_shopify, commit):
    refund(api, bob, shipped, {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "restock": True})

    [line] = fake_shopify.calls_of("refundCreate")[0]["variables"]["input"]["refundLineItems"]
    assert line == {"lineItemId": f"gid://shopify/LineItem/{TOTE}", "quantity": 1, "restockType": "RETURN",
                    "locationId": "gid://shopify/Location/61859905580"}


def test_a_money_only_refund_sends_no_items_and_the_amount_asked(api, bob, order, fake_shopify, commit):
    response = refund(api, bob, order, {"line_items": [], "amount": "10.00", "reason": "Goodwill for the delay"})

    assert response.json()["action"]["status"] == "sent"
    sent = fake_shopify.calls_of("refundCreate")[0]["variables"]["input"]
    assert sent["refundLineItems"] == [] and [t["amount"] for t in sent["transactions"]] == ["10.00"]
    assert "shipping" not in sent


def test_shopifys_user_errors_fail_the_action_with_its_message_and_record_no_refund(
    api, bob, order, fake_shopify, commit
):
    # Shopify already refunded the tote (from its own admin) and we have not heard yet.
    fake_shopify.orders[ORDER_GID]["lines"][f"gid://shopify/LineItem/{TOTE}"]["refunded"] = 1

    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})

    action = OrderAction.objects.get()
    assert response.status_code == 202 and response.json()["action"]["status"] == "failed"
    assert action.status == "failed" and action.error_code == "user_errors"
    assert "refundLineItems.0.quantity: Quantity cannot refund more items than were purchased" in action.error_detail
    assert action.response["userErrors"][0]["field"] == ["input", "refundLineItems", "0", "quantity"]
    assert OrderRefund.objects.count() == 0
    event = ConversationEvent.objects.get(kind="order_action")
    assert event.data["status"] == "failed" and "Quantity cannot refund" in event.data["shopify"]


def test_a_throttled_call_stays_queued_for_as_long_as_shopify_asks_then_refunds_once(
    api, bob, order, fake_shopify, commit
):
    fake_shopify.fault("order", "throttle")

    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})

    action = OrderAction.objects.get()
    assert response.json()["action"]["status"] == "queued"
    assert action.error_code == "rate_limited" and action.attempts == 1
    cost = action.response["error"]["cost"]
    assert cost["actualQueryCost"] is None and cost["throttleStatus"]["restoreRate"] == 100.0
    assert action.next_attempt_at >= timezone.now() + timedelta(seconds=0.5)
    assert fake_shopify.calls_of("refundCreate") == []

    order_action_deliver(action.pk)

    action.refresh_from_db()
    assert action.status == "sent" and action.attempts == 2
    assert len(fake_shopify.calls_of("refundCreate")) == 1 and fake_shopify.refunded(ORDER_GID) == Decimal("25.00")


def test_a_refund_whose_answer_was_lost_is_found_by_reading_the_refunds_back_and_never_made_twice(
    api, bob, order, fake_shopify, commit
):
    # Shopify makes the refund, then the connection drops before its answer arrives.
    fake_shopify.fault("refundCreate", "drop")

    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})

    action = OrderAction.objects.get()
    assert response.json()["action"]["status"] == "queued" and action.error_code == "network"
    assert fake_shopify.refunded(ORDER_GID) == Decimal("25.00")

    order_action_deliver(action.pk)

    action.refresh_from_db()
    assert action.status == "sent" and action.response["recovered"] is True
    assert len(fake_shopify.calls_of("refundCreate")) == 1
    assert fake_shopify.refunded(ORDER_GID) == Decimal("25.00")
    assert action.shopify_id == fake_shopify.orders[ORDER_GID]["refunds"][0]["id"]
    assert OrderRefund.objects.count() == 1


def test_a_request_lost_before_shopify_saw_it_is_sent_again_with_the_same_idempotency_key(
    api, bob, order, fake_shopify, commit
):
    fake_shopify.fault("refundCreate", "drop_before")

    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
    action = OrderAction.objects.get()
    order_action_deliver(action.pk)

    action.refresh_from_db()
    first, second = fake_shopify.calls_of("refundCreate")
    assert first["variables"]["idempotencyKey"] == second["variables"]["idempotencyKey"] == str(action.idempotency_key)
    assert action.status == "sent" and fake_shopify.refunded(ORDER_GID) == Decimal("25.00")


def test_the_sweeper_retries_a_queued_action_once_its_time_has_come(api, bob, order, fake_shopify, commit):
    from inbox.tasks import sweep

    fake_shopify.fault("order", "unavailable")
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
    action = OrderAction.objects.get()
    assert action.status == "queued" and action.error_code == "server_error"
    OrderAction.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert sweep()["order_actions"] == 1

    action.refresh_from_db()
    assert action.status == "sent" and fake_shopify.refunded(ORDER_GID) == Decimal("25.00")


# --- Webhooks reconcile ---------------------------------------------------------------------------


def _refund_webhook(client, fake_shopify, made: dict, **changes):
    payload = {**load_fixture("shopify/refund_create.json"), "id": int(made["id"].rsplit("/", 1)[-1]),
               "note": made["note"], **changes}
    payload["transactions"][0]["amount"] = f"{made['amount']:.2f}"
    return post_shopify(client, "refunds/create", payload)


def test_shopifys_refunds_create_webhook_reconciles_the_action_instead_of_adding_a_refund(
    api, client, bob, order, fake_shopify, commit
):
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
    action = OrderAction.objects.get()

    assert _refund_webhook(client, fake_shopify, fake_shopify.orders[ORDER_GID]["refunds"][0]).status_code == 200

    action.refresh_from_db()
    assert action.status == "reconciled" and action.reconciled_at is not None
    assert OrderRefund.objects.count() == 1
    assert AuditEntry.objects.filter(action="order.refund.reconciled").count() == 1
    assert "confirmed by Shopify's webhook" in ConversationEvent.objects.get(kind="order_action").data["shopify"]


def test_a_webhook_for_a_refund_whose_answer_was_lost_hands_the_queued_row_its_refund(
    api, client, bob, order, fake_shopify, commit
):
    fake_shopify.fault("refundCreate", "drop")
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
    action = OrderAction.objects.get()
    made = fake_shopify.orders[ORDER_GID]["refunds"][0]

    _refund_webhook(client, fake_shopify, made)

    action.refresh_from_db()
    assert action.status == "reconciled" and action.shopify_id == made["id"]
    # The retry that was due finds nothing left to do: not even a question to Shopify.
    calls = len(fake_shopify.calls)
    order_action_deliver(action.pk)
    assert len(fake_shopify.calls) == calls and len(fake_shopify.calls_of("refundCreate")) == 1
    assert OrderRefund.objects.count() == 1


def test_an_orders_updated_webhook_listing_the_refund_reconciles_too(api, client, bob, order, fake_shopify, commit):
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
    made = fake_shopify.orders[ORDER_GID]["refunds"][0]
    payload = load_fixture("shopify/order_create.json")
    payload.update(updated_at="2025-03-05T11:00:05-05:00", financial_status="partially_refunded", refunds=[
        {"id": int(made["id"].rsplit("/", 1)[-1]), "note": made["note"], "created_at": "2025-03-05T11:00:00-05:00",
         "refund_line_items": [{"line_item_id": int(TOTE), "quantity": 1, "subtotal": 25.0, "total_tax": 0.0}],
         "transactions": [{"kind": "refund", "status": "success", "amount": "25.00"}]},
    ])

    post_shopify(client, "orders/updated", payload)

    assert OrderAction.objects.get().status == "reconciled"
    assert OrderRefund.objects.count() == 1


# --- Limits per role ---------------------------------------------------------------------------------


def test_an_agent_may_not_refund_more_than_the_agent_limit_and_nothing_is_sent(api, bob, order, fake_shopify):
    response = refund(api, bob, order, {})

    assert response.status_code == 403
    assert response.json() == {
        "code": "over_limit",
        "detail": "Agents may refund up to 50.00 USD per action; this is 98.00 USD. Ask a lead or a manager.",
    }
    assert fake_shopify.calls == [] and OrderAction.objects.count() == 0


def test_the_limit_is_refused_at_preview_time_too(api, bob, order, fake_shopify):
    response = refund(api, bob, order, {"preview": True})

    assert response.status_code == 403 and response.json()["code"] == "over_limit"


def test_a_manager_refunds_up_to_the_lead_limit_an_admin_without_limit(
    api, alice, admin_user, order, store, fake_shopify, commit
):
    store.lead_refund_limit = Decimal("90.00")
    store.save()

    assert refund(api, alice, order, {}).status_code == 403
    assert refund(api, admin_user, order, {}).status_code == 202
    assert fake_shopify.refunded(ORDER_GID) == Decimal("98.00")


def test_an_agent_may_not_create_a_discount_code_above_the_percent_limit(api, bob, order, fake_shopify):
    response = api(bob).post(f"/api/v1/customers/{order.customer_id}/discount-codes/",
                             {"value_type": "percentage", "value": "30"}, format="json")

    assert response.status_code == 403 and response.json()["code"] == "over_limit"
    assert fake_shopify.calls == []


# --- Visibility ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/v1/orders/{order}/refunds/", {"amount": "5.00", "line_items": []}),
    ("post", "/api/v1/orders/{order}/cancel/", {}),
    ("patch", "/api/v1/orders/{order}/shipping-address/",
     {"address1": "1 Main St", "city": "Salem", "zip": "97301", "country_code": "US"}),
    ("post", "/api/v1/orders/{order}/notifications/", {"kind": "order_status"}),
    ("post", "/api/v1/customers/{customer}/discount-codes/", {"value_type": "percentage", "value": "10"}),
    ("get", "/api/v1/orders/{order}/actions/", None),
    ("get", "/api/v1/customers/{customer}/order-actions/", None),
])
def test_an_agent_of_another_team_gets_404_for_the_order_and_nothing_is_sent(
    api, charlie, order, fake_shopify, method, path, body
):
    url = path.format(order=order.pk, customer=order.customer_id)
    response = getattr(api(charlie), method)(url, body, format="json") if body is not None else api(charlie).get(url)

    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert fake_shopify.calls == []


# --- Cancel, address, notifications, discount codes ------------------------------------------------


def test_cancel_sends_order_cancel_with_the_reason_refund_restock_and_notification(
    api, admin_user, order, fake_shopify, commit
):
    response = api(admin_user).post(f"/api/v1/orders/{order.pk}/cancel/",
                                    {"reason": "inventory", "restock": True, "notify": False,
                                     "staff_note": "Out of totes"}, format="json")

    assert response.status_code == 202 and response.json()["action"]["status"] == "sent"
    [call] = fake_shopify.calls_of("orderCancel")
    assert call["variables"] == {
        "orderId": ORDER_GID, "reason": "INVENTORY", "refundMethod": {"originalPaymentMethodsRefund": True},
        "restock": True, "notifyCustomer": False, "staffNote": "Out of totes",
    }
    action = OrderAction.objects.get()
    assert action.amount == Decimal("98.00") and action.shopify_id.startswith("gid://shopify/Job/")


def test_the_orders_cancelled_webhook_reconciles_the_cancel(api, client, admin_user, order, fake_shopify, commit):
    api(admin_user).post(f"/api/v1/orders/{order.pk}/cancel/", {}, format="json")
    payload = load_fixture("shopify/order_create.json")
    payload.update(cancelled_at="2026-12-01T12:00:00Z", cancel_reason="customer", updated_at="2026-12-01T12:00:01Z")

    post_shopify(client, "orders/cancelled", payload)

    assert OrderAction.objects.get().status == "reconciled"


def test_an_order_already_shipped_cannot_be_cancelled_or_readdressed(api, admin_user, shipped, fake_shopify):
    cancel = api(admin_user).post(f"/api/v1/orders/{shipped.pk}/cancel/", {}, format="json")
    address = api(admin_user).patch(f"/api/v1/orders/{shipped.pk}/shipping-address/",
                                    {"address1": "1 Main St", "city": "Salem", "zip": "97301", "country_code": "US"},
                                    format="json")

    assert cancel.status_code == 409 and cancel.json()["code"] == "already_fulfilled"
    assert address.status_code == 409 and address.json()["code"] == "already_fulfilled"
    assert fake_shopify.calls == []


def test_the_shipping_address_goes_to_shopify_as_order_update(api, bob, order, fake_shopify, commit):
    response = api(bob).patch(f"/api/v1/orders/{order.pk}/shipping-address/", {
        "first_name": "Jane", "last_name": "Doe", "address1": "48 Oak Avenue", "address2": "Apt 3", "city": "Eugene",
        "province_code": "or", "country_code": "us", "zip": "97401", "phone": "+15415550142",
    }, format="json")

    assert response.status_code == 202 and response.json()["action"]["status"] == "sent"
    [call] = fake_shopify.calls_of("orderUpdate")
    assert call["variables"]["input"] == {"id": ORDER_GID, "shippingAddress": {
        "firstName": "Jane", "lastName": "Doe", "address1": "48 Oak Avenue", "address2": "Apt 3", "city": "Eugene",
        "provinceCode": "OR", "countryCode": "US", "zip": "97401", "phone": "+15415550142",
    }}


def test_the_tracking_notification_is_resent_through_fulfillment_tracking_info_update(
    api, bob, shipped, fake_shopify, commit
):
    response = api(bob).post(f"/api/v1/orders/{shipped.pk}/notifications/", {"kind": "tracking"}, format="json")

    assert response.status_code == 202 and response.json()["action"]["status"] == "sent"
    [call] = fake_shopify.calls_of("fulfillmentTrackingInfoUpdate")
    assert call["variables"] == {
        "fulfillmentId": "gid://shopify/Fulfillment/4255962349612", "notifyCustomer": True,
        "trackingInfoInput": {"number": "1Z999AA10123456784", "company": "UPS",
                              "url": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z999AA10123456784"},
    }
    assert fake_shopify.emails == [{"kind": "shipping_update", "order": ORDER_GID,
                                    "fulfillment": "gid://shopify/Fulfillment/4255962349612"}]


def test_the_order_status_notification_is_the_invoice_email(api, bob, order, fake_shopify, commit):
    response = api(bob).post(f"/api/v1/orders/{order.pk}/notifications/", {"kind": "order_status"}, format="json")

    assert response.status_code == 202
    assert [c["variables"] for c in fake_shopify.calls_of("orderInvoiceSend")] == [{"orderId": ORDER_GID}]
    assert fake_shopify.emails == [{"kind": "invoice", "order": ORDER_GID, "to": "Jane.Doe@Example.com"}]


def test_a_tracking_notification_without_a_shipment_is_refused(api, bob, order, fake_shopify):
    response = api(bob).post(f"/api/v1/orders/{order.pk}/notifications/", {"kind": "tracking"}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "no_tracking"


def test_a_discount_code_is_for_this_customer_only_and_usable_once(api, bob, order, fake_shopify, commit):
    response = api(bob).post(f"/api/v1/customers/{order.customer_id}/discount-codes/",
                             {"value_type": "percentage", "value": "10", "ends_in_days": 14}, format="json")

    assert response.status_code == 202
    action = response.json()["action"]
    assert action["status"] == "sent" and action["code"].startswith("SORRY-")
    [call] = fake_shopify.calls_of("discountCodeBasicCreate")
    sent = call["variables"]["basicCodeDiscount"]
    assert sent["code"] == action["code"] and sent["usageLimit"] == 1 and sent["appliesOncePerCustomer"] is True
    assert sent["context"] == {"customers": {"add": ["gid://shopify/Customer/6147919642668"]}}
    assert sent["customerGets"] == {"value": {"percentage": 0.1}, "items": {"all": True}}


def test_a_discount_code_whose_answer_was_lost_is_looked_up_not_made_again(api, bob, order, fake_shopify, commit):
    fake_shopify.fault("discountCodeBasicCreate", "drop")
    api(bob).post(f"/api/v1/customers/{order.customer_id}/discount-codes/",
                  {"value_type": "fixed_amount", "value": "15.00"}, format="json")
    action = OrderAction.objects.get()
    assert action.status == "queued"

    order_action_deliver(action.pk)

    action.refresh_from_db()
    assert action.status == "sent" and action.response["recovered"] is True
    assert len(fake_shopify.calls_of("discountCodeBasicCreate")) == 1
    assert list(fake_shopify.discounts) == [action.params["code"]]


# --- Audit, timeline, confirmation ---------------------------------------------------------------------


def test_every_action_leaves_an_audit_entry_and_a_timeline_entry_with_who_what_amount_and_shopifys_answer(
    api, bob, order, thread, fake_shopify, commit
):
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "reason": "Torn"})
    action = OrderAction.objects.get()

    requested, outcome = AuditEntry.objects.filter(action__startswith="order.refund").order_by("id")
    assert (requested.action, requested.actor_name, requested.data["amount"]) == ("order.refund", "bob", "25.00")
    assert (outcome.action, outcome.actor_name) == ("order.refund.sent", "bob")
    assert outcome.data["shopify_id"] == action.shopify_id and outcome.data["answer"]["payload"]["refund"]["id"]
    event = ConversationEvent.objects.get(kind="order_action")
    assert event.conversation_id == thread.pk and event.actor == bob
    assert event.data["amount"] == "25.00" and event.data["status"] == "sent" and event.data["order"] == "1042"
    assert event.data["summary"].startswith("Refund 25.00 USD") and action.shopify_id in event.data["shopify"]


def test_a_confirmation_of_another_plan_is_refused(api, bob, order, fake_shopify):
    shown = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "preview": True}).json()

    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "restock": True,
                                        "confirmation": shown["confirmation"]})

    assert response.status_code == 409 and response.json()["code"] == "plan_changed"
    assert fake_shopify.calls == []


def test_a_second_refund_while_the_first_is_with_shopify_is_refused(api, bob, order, fake_shopify, commit):
    fake_shopify.fault("order", "unavailable")
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})

    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})

    assert response.status_code == 409 and response.json()["code"] == "in_progress"


# --- Shops without Shopify ---------------------------------------------------------------------------


def test_without_a_connected_store_actions_are_refused_and_the_panel_says_so(
    api, client, bob, thread, fake_shopify
):
    order = _synced(client, fake_shopify)

    response = refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
    panel = api(bob).get(f"/api/v1/customers/{order.customer_id}/order-actions/").json()

    assert response.status_code == 409 and response.json()["code"] == "not_connected"
    assert panel["store"] is None
    assert panel["orders"][str(order.pk)]["refund"] == {
        "possible": False, "reason": "No Shopify store is connected: an admin connects one under Integrations."
    }


def test_an_imported_order_cannot_be_acted_on_and_the_panel_says_why(api, bob, store, thread, fake_shopify):
    order = Order.objects.create(customer=thread.customer, source="csv", external_id="A-77", number="A-77",
                                 total=Decimal("40.00"), placed_at=timezone.now())

    response = refund(api, bob, order, {"amount": "10.00", "line_items": []})
    panel = api(bob).get(f"/api/v1/customers/{order.customer_id}/order-actions/").json()

    assert response.status_code == 409 and response.json()["code"] == "not_shopify_order"
    refund_option = panel["orders"][str(order.pk)]["refund"]
    assert refund_option["possible"] is False and "imported (csv)" in refund_option["reason"]
    assert panel["discount_code"]["possible"] is False


def test_the_panel_offers_what_a_shopify_order_allows_with_the_users_limit(api, bob, order):
    panel = api(bob).get(f"/api/v1/customers/{order.customer_id}/order-actions/").json()

    options = panel["orders"][str(order.pk)]
    assert panel["limits"] == {"refund": "50.00", "discount_percent": 20, "currency": "USD"}
    assert options["refund"]["possible"] is True and options["refund"]["refundable"] == "98.00"
    assert [(x["id"], x["refundable_quantity"], x["unit_amount"]) for x in options["refund"]["line_items"]] == [
        (SHIRT, 2, "32.00"), (TOTE, 1, "25.00")
    ]
    assert options["cancel"]["possible"] is True and options["notification"]["kinds"] == ["order_status"]
    assert panel["discount_code"] == {"possible": True}


def test_erasing_the_customer_keeps_the_amounts_and_outcome_but_not_the_address_or_reason(
    api, bob, admin_user, order, fake_shopify, commit
):
    from customers.services import customer_erase

    api(bob).patch(f"/api/v1/orders/{order.pk}/shipping-address/",
                   {"address1": "48 Oak Avenue", "city": "Eugene", "zip": "97401", "country_code": "US"}, format="json")
    refund(api, bob, order, {"line_items": [{"line_item_id": TOTE, "quantity": 1}], "reason": "Jane's dog chewed it"})

    customer_erase(customer=order.customer, by=admin_user)

    address, money_back = OrderAction.objects.order_by("id")
    assert address.params == {"address": "(erased)"} and "48 Oak" not in address.summary and address.response == {}
    assert money_back.params["reason"] == "(erased)" and money_back.amount == Decimal("25.00")
    assert money_back.status == "sent" and "chewed" not in money_back.summary
    for event in ConversationEvent.objects.filter(kind="order_action"):
        assert "48 Oak" not in event.data["summary"] and "chewed" not in event.data["summary"]


def test_an_order_action_in_a_callers_transaction_that_rolls_back_leaves_nothing_and_sends_nothing(
    bob, order, fake_shopify, commit
):
    from django.db import transaction

    from inbox.orders.actions import order_action

    with pytest.raises(RuntimeError), transaction.atomic():
        outcome = order_action(kind="refund", actor=bob, order=order,
                               params={"line_items": [{"line_item_id": TOTE, "quantity": 1}]})
        assert outcome.action is not None
        raise RuntimeError("a later step of the macro failed")

    assert OrderAction.objects.count() == 0 and ConversationEvent.objects.filter(kind="order_action").count() == 0
    assert not AuditEntry.objects.filter(action__startswith="order.").exists()
    assert fake_shopify.calls == []
