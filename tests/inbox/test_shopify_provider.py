"""The Shopify edge reads Shopify's real answers (tests/fixtures/shopify/) and sends its real requests."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path

import pytest

from inbox.providers.shopify import API_VERSION, ShopifyAdmin, ShopifyError, shop_domain_clean

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shopify"
SHOP = "northwind-test.myshopify.com"
TOKEN = "shpat_test_0123456789abcdef"
PATH = f"/{SHOP}/admin/api/{API_VERSION}/graphql.json"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def admin(fake_provider, settings):
    settings.SHOPIFY_ADMIN_URL_TEMPLATE = fake_provider.url + "/{shop}/admin/api/{version}/graphql.json"
    return ShopifyAdmin(shop=SHOP, access_token=TOKEN)


def _refund(admin: ShopifyAdmin):
    request = fixture("refund_create_request.json")["variables"]
    return admin.refund_create(refund=request["input"], idempotency_key=request["idempotencyKey"])


def test_a_refund_goes_to_the_pinned_versions_endpoint_with_the_token_and_the_idempotent_directive(
    admin, fake_provider
):
    fake_provider.script(PATH, json_body=fixture("refund_create_success.json"))

    result = _refund(admin)

    [sent] = fake_provider.sent(PATH)
    assert sent.method == "POST" and sent.headers["X-Shopify-Access-Token"] == TOKEN
    assert sent.headers["Content-Type"] == "application/json"
    body = sent.json()
    assert "refundCreate(input: $input) @idempotent(key: $idempotencyKey)" in body["query"]
    assert body["variables"] == fixture("refund_create_request.json")["variables"]
    assert result.ok and result.payload["refund"]["legacyResourceId"] == "929361463"
    assert result.cost["throttleStatus"]["currentlyAvailable"] == 1990


def test_user_errors_are_read_with_their_field_paths(admin, fake_provider):
    fake_provider.script(PATH, json_body=fixture("refund_create_user_errors.json"))

    result = _refund(admin)

    assert not result.ok
    assert result.error_text() == (
        "input.transactions.0.amount: Refund amount $120.00 is greater than net payment received $98.00"
    )


def test_order_cancel_reads_its_own_user_errors_field(admin, fake_provider):
    fake_provider.script(PATH, json_body=fixture("order_cancel_user_errors.json"))

    result = admin.order_cancel(order_id="gid://shopify/Order/5940139491234", reason="CUSTOMER", refund=True,
                                restock=True, notify=True, staff_note="")

    assert result.user_errors == [
        {"field": ["orderId"], "message": "Cannot cancel an order that has already been canceled", "code": "INVALID"}
    ]
    assert fake_provider.sent(PATH)[0].json()["variables"]["refundMethod"] == {"originalPaymentMethodsRefund": True}


def test_throttled_is_transient_and_waits_as_long_as_the_bucket_needs_to_refill(admin, fake_provider):
    fake_provider.script(PATH, json_body=fixture("throttled.json"))

    with pytest.raises(ShopifyError) as caught:
        _refund(admin)

    error = caught.value
    assert error.transient and error.reason == "rate_limited" and error.code == "THROTTLED"
    # (752 requested - 152 available) / 100 restored per second
    assert error.retry_after == 6
    assert error.cost["actualQueryCost"] is None


def test_a_429_waits_as_retry_after_says(admin, fake_provider):
    fake_provider.script(PATH, status=429, json_body={"errors": "Exceeded 2 calls per second for api client."},
                         headers={"Retry-After": "2.0"})

    with pytest.raises(ShopifyError) as caught:
        _refund(admin)

    assert caught.value.transient and caught.value.retry_after == 2.0


@pytest.mark.parametrize("status, body, reason", [
    (401, fixture("unauthorized.json"), "unauthorized"),
    (402, {"errors": "Unavailable Shop"}, "shop_frozen"),
    (200, fixture("access_denied.json"), "forbidden"),
])
def test_a_refused_token_a_frozen_shop_and_a_missing_scope_are_permanent(admin, fake_provider, status, body, reason):
    fake_provider.script(PATH, status=status, json_body=body)

    with pytest.raises(ShopifyError) as caught:
        _refund(admin)

    assert caught.value.reason == reason and not caught.value.transient


def test_a_server_error_is_transient(admin, fake_provider):
    fake_provider.script(PATH, status=503, text="Service Unavailable")

    with pytest.raises(ShopifyError) as caught:
        _refund(admin)

    assert caught.value.transient and caught.value.reason == "server_error"


def test_no_answer_at_all_is_transient(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.SHOPIFY_ADMIN_URL_TEMPLATE = f"http://127.0.0.1:{port}/{{shop}}/admin/api/{{version}}/graphql.json"

    with pytest.raises(ShopifyError) as caught:
        _refund(ShopifyAdmin(shop=SHOP, access_token=TOKEN))

    assert caught.value.transient and caught.value.reason == "network"


def test_the_refund_read_back_gives_the_refunds_with_their_notes_and_the_suggested_transaction(admin, fake_provider):
    fake_provider.script(PATH, json_body=fixture("order_refund_state.json"))

    state = admin.refund_state(order_id="gid://shopify/Order/5940139491234", refund_line_items=None, full=True)

    [seen] = state.refunds
    assert (seen.legacy_id, seen.note, seen.amount) == ("929361463", "Tote arrived torn [inbox 3f2a9c1d7b4e]",
                                                         Decimal("25.00"))
    [suggested] = state.suggested_transactions
    assert suggested.parent_id == "gid://shopify/OrderTransaction/801038806"
    assert suggested.maximum_refundable == Decimal("73.00") and state.maximum_refundable == Decimal("73.00")
    variables = fake_provider.sent(PATH)[0].json()["variables"]
    assert variables == {"id": "gid://shopify/Order/5940139491234", "refundLineItems": None, "suggestFullRefund": True}


def test_a_discount_code_answer_carries_the_node_and_its_code(admin, fake_provider):
    fake_provider.script(PATH, json_body=fixture("discount_code_basic_create.json"))

    result = admin.discount_code_create(discount={"code": "SORRY-7KQ2M9XD"})

    assert result.ok
    assert result.payload["codeDiscountNode"]["codeDiscount"]["codes"]["nodes"] == [{"code": "SORRY-7KQ2M9XD"}]


@pytest.mark.parametrize("typed, clean", [
    ("northwind.myshopify.com", "northwind.myshopify.com"),
    ("https://Northwind-Test.myshopify.com/admin", "northwind-test.myshopify.com"),
])
def test_a_shop_domain_is_the_stores_myshopify_address(typed, clean):
    assert shop_domain_clean(typed) == clean


@pytest.mark.parametrize("typed", ["northwind.com", "evil.myshopify.com.attacker.example", "", "a b.myshopify.com",
                                   "127.0.0.1", "northwind.myshopify.com:8443"])
def test_anything_else_is_refused_as_a_shop_domain(typed):
    with pytest.raises(ValueError):
        shop_domain_clean(typed)
