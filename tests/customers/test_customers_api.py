"""The customer panel's API: who sees whom, what a customer looks like, and the actions on one."""

from __future__ import annotations

import pytest

from customers.models import ConsentEvent, Customer, ErasureRecord, MergeRecord, Order
from tests.conftest import load_fixture

from .conftest import post_shopify, thread_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane(client, messenger_inbox):
    """Jane wrote to team A's page from the address she also orders with."""
    conversation = thread_with(inbox=messenger_inbox, channel="messenger", external_id="6543210987654321",
                               texts=["Where is my order #1042?"], name="Jane Doe")
    customer = conversation.customer
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))
    buyer = Order.objects.get().customer
    return customer, buyer


def test_charlie_gets_404_for_team_a_customer_and_does_not_list_it(api, jane, charlie):
    chatter, _buyer = jane

    assert api(charlie).get(f"/api/v1/customers/{chatter.pk}/").status_code == 404
    assert api(charlie).get(f"/api/v1/customers/{chatter.pk}/export/").status_code == 404
    assert api(charlie).post(f"/api/v1/customers/{chatter.pk}/erase/").status_code == 404
    response = api(charlie).get("/api/v1/customers/")
    assert chatter.pk not in [c["id"] for c in response.json()["results"]]
    assert response.status_code == 200


def test_the_detail_shows_identities_orders_with_items_consent_and_lifetime_value(api, jane, bob):
    chatter, buyer = jane
    api(bob).post(f"/api/v1/customers/{chatter.pk}/merge/", {"other": buyer.pk}, format="json")
    post_shopify(api(bob), "orders/fulfilled", load_fixture("shopify/order_fulfilled.json"))
    post_shopify(api(bob), "refunds/create", load_fixture("shopify/refund_create.json"))

    body = api(bob).get(f"/api/v1/customers/{chatter.pk}/").json()

    assert {i["channel"] for i in body["identities"]} == {"messenger", "email", "sms"}
    order = body["orders"][0]
    assert order["name"] == "#1042"
    assert [i["title"] for i in order["items"]] == ["Linen Shirt - M / Sand", "Canvas Tote"]
    assert order["total"] == "98.00" and order["refunded"] == "25.00"
    assert order["fulfillment_status"] == "fulfilled" and order["financial_status"] == "paid"
    assert order["tracking_number"] == "1Z999AA10123456784"
    assert order["summary"].startswith("Your order #1042 has shipped, tracking 1Z999AA10123456784: https://")
    assert body["lifetime_value"] == "73.00"
    assert body["consent"]["sms"]["marketing"] is None


def test_patch_changes_name_labels_and_timezone_and_refuses_a_made_up_zone(api, jane, bob):
    chatter, _buyer = jane
    url = f"/api/v1/customers/{chatter.pk}/"

    ok = api(bob).patch(url, {"name": "Jane D.", "labels": ["vip", "linen"], "timezone": "America/New_York"},
                        format="json")
    bad = api(bob).patch(url, {"timezone": "Mars/Olympus"}, format="json")

    assert ok.status_code == 200
    assert ok.json()["name"] == "Jane D." and sorted(ok.json()["labels"]) == ["linen", "vip"]
    assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "Mars/Olympus" in bad.json()["detail"]
    assert Customer.objects.get(pk=chatter.pk).timezone == "America/New_York"


def test_consent_is_recorded_and_shown_as_the_current_state(api, jane, bob):
    chatter, _buyer = jane
    url = f"/api/v1/customers/{chatter.pk}/consents/"

    api(bob).post(url, {"channel": "messenger", "purpose": "marketing", "granted": True, "source": "chat"}, format="json")
    response = api(bob).post(url, {"channel": "messenger", "purpose": "marketing", "granted": False}, format="json")
    bad = api(bob).post(url, {"channel": "fax", "purpose": "marketing", "granted": True}, format="json")

    assert response.status_code == 201
    assert response.json()["consent"]["messenger"]["marketing"]["granted"] is False
    assert ConsentEvent.objects.filter(customer=chatter).count() == 2
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_search_finds_a_customer_by_order_number_and_email(api, jane, bob):
    _chatter, buyer = jane

    by_number = api(bob).get("/api/v1/customers/", {"q": "#1042"}).json()["results"]
    by_email = api(bob).get("/api/v1/customers/", {"q": "jane.doe@"}).json()["results"]

    assert [c["id"] for c in by_number] == [buyer.pk]
    assert [c["id"] for c in by_email] == [buyer.pk]


def test_orders_lookup_by_number_names_the_customer(api, jane, bob):
    _chatter, buyer = jane

    response = api(bob).get("/api/v1/orders/", {"number": "1042"})
    missing = api(bob).get("/api/v1/orders/")

    assert response.status_code == 200
    [order] = response.json()["results"]
    assert order["customer"] == {"id": buyer.pk, "name": "Jane Doe"}
    assert missing.status_code == 400 and missing.json()["code"] == "number_required"


def test_orders_of_a_team_a_customer_are_invisible_to_charlie(api, jane, bob, charlie):
    chatter, buyer = jane
    api(bob).post(f"/api/v1/customers/{chatter.pk}/merge/", {"other": buyer.pk}, format="json")

    assert api(charlie).get("/api/v1/orders/", {"number": "1042"}).json()["results"] == []


def test_merge_suggestions_find_the_same_email_on_two_customers_and_merge_joins_them(api, jane, bob, email_inbox):
    chatter, buyer = jane
    # A record typed in by hand earlier, with the address Jane orders with:
    other = Customer.objects.create(name="J. Doe", email="jane.doe@example.com")

    suggestions = api(bob).get(f"/api/v1/customers/{buyer.pk}/merge-suggestions/").json()["results"]
    assert [(s["customer"]["id"], s["reasons"]) for s in suggestions] == [
        (other.pk, ["same_email"]),  # certain evidence first
        (chatter.pk, ["same_name_with_order"]),  # the Messenger chat with the buyer's name
    ]

    merged = api(bob).post(f"/api/v1/customers/{buyer.pk}/merge/", {"other": other.pk}, format="json")
    assert merged.status_code == 200
    assert MergeRecord.objects.filter(kept=buyer, merged_customer_id=other.pk).exists()
    again = api(bob).post(f"/api/v1/customers/{buyer.pk}/merge/", {"other": other.pk}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_merged"


def test_a_customer_cannot_be_merged_with_one_the_agent_cannot_see(api, jane, charlie, team_b):
    chatter, _buyer = jane
    from inbox.models import Inbox

    wholesale = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550100", team=team_b)
    mine = thread_with(inbox=wholesale, channel="sms", external_id="+14155550199", texts=["hello"]).customer

    response = api(charlie).post(f"/api/v1/customers/{mine.pk}/merge/", {"other": chatter.pk}, format="json")

    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not MergeRecord.objects.exists()


def test_only_managers_and_admins_export_and_erase(api, jane, alice, bob):
    chatter, _buyer = jane

    assert api(bob).post(f"/api/v1/customers/{chatter.pk}/erase/").status_code == 403
    assert api(bob).get(f"/api/v1/customers/{chatter.pk}/export/").status_code == 403
    export = api(alice).get(f"/api/v1/customers/{chatter.pk}/export/")
    assert export.status_code == 200
    assert export.json()["inbox.conversation"][0]["messages"][0]["text"] == "Where is my order #1042?"

    erased = api(alice).post(f"/api/v1/customers/{chatter.pk}/erase/")
    assert erased.status_code == 200
    assert ErasureRecord.objects.filter(customer_id=chatter.pk).exists()
    assert api(alice).get(f"/api/v1/customers/{chatter.pk}/").json()["name"] == ""
    assert api(alice).post(f"/api/v1/customers/{chatter.pk}/erase/").status_code == 409
