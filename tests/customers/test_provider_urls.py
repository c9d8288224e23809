"""A tracking URL from Shopify or a CSV import becomes a link only when it is http(s)."""

from __future__ import annotations

import copy

import pytest
from django.utils import timezone

from customers.csv_import import ImportFailed, csv_import
from customers.links import http_url_or_blank
from customers.models import Customer, Order
from tests.conftest import load_fixture

from .conftest import post_shopify

pytestmark = pytest.mark.django_db

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "https://",
    "http:///no-host",
    "https://track.example/a b",
    "https://track.example/\nx",
]


@pytest.mark.parametrize("url", UNSAFE)
def test_only_http_urls_with_a_host_are_kept(url):
    assert http_url_or_blank(url) == ""


def test_a_normal_tracking_url_is_kept():
    url = "https://www.ups.com/WebTracking?trackNums=1Z999AA10123456784"
    assert http_url_or_blank(url) == url
    assert http_url_or_blank("http://track.example/1") == "http://track.example/1"


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "data:text/html,x", "https://"])
def test_a_shopify_order_with_a_non_http_tracking_url_is_stored_without_it(client, url):
    payload = copy.deepcopy(load_fixture("shopify/order_fulfilled.json"))
    for fulfillment in payload["fulfillments"]:
        fulfillment["tracking_url"] = url
        fulfillment["tracking_urls"] = [url]

    assert post_shopify(client, "orders/fulfilled", payload).status_code == 200

    order = Order.objects.get(source="shopify")
    assert order.tracking_url == ""
    assert order.tracking_number == "1Z999AA10123456784"


def test_a_csv_row_with_a_non_http_tracking_url_is_refused():
    rows = (
        "order_number,placed_at,email,total,tracking_number,tracking_url\n"
        "3001,2025-02-01,jane@example.com,5.00,T1,https://\n"
    )
    with pytest.raises(ImportFailed) as failed:
        csv_import(stream=rows.encode())

    assert any(error.get("column") == "tracking_url" or "tracking_url" in str(error) for error in failed.value.errors)
    assert not Order.objects.exists()


def test_the_api_never_hands_out_a_stored_javascript_url(api, admin_user):
    customer = Customer.objects.create(name="Jane Doe", email="jane@example.com")
    # Stored before the check existed.
    Order.objects.create(customer=customer, external_id="1", number="1042", placed_at=timezone.now(),
                         tracking_number="T1", tracking_url="javascript:alert(document.cookie)")

    detail = api(admin_user).get(f"/api/v1/customers/{customer.pk}/").json()
    lookup = api(admin_user).get("/api/v1/orders/?number=1042").json()

    assert detail["orders"][0]["tracking_url"] == ""
    assert lookup["results"][0]["tracking_url"] == ""
