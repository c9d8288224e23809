"""Order actions from the customer panel in headless Chromium against daphne: the confirmation
states the exact effect before anything is sent; an imported order offers no action and says why."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Order
from customers.services import order_sync
from customers.shopify import order_data
from inbox.models import OrderAction, ShopifyStore
from tests.conftest import load_fixture
from tests.customers.conftest import thread_with
from tests.ui.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def jane(email_inbox, fake_shopify):
    conversation = thread_with(inbox=email_inbox, channel="email", external_id="jane.doe@example.com",
                               texts=["My tote arrived torn."], name="Jane Doe")
    ShopifyStore.objects.create(shop_domain=fake_shopify.shop, credentials={"access_token": fake_shopify.token},
                                currency="USD")
    payload = load_fixture("shopify/order_create.json")
    order_sync(data=order_data(payload))
    fake_shopify.add_order(payload)
    Order.objects.create(customer=conversation.customer, source="csv", external_id="A-77", number="A-77",
                         total=Decimal("40.00"), placed_at=timezone.now())
    return conversation


def test_a_refund_is_confirmed_in_words_then_done_by_shopify(browser_context, bob, jane, fake_shopify):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{jane.pk}/")
    panel = page.get_by_role("complementary", name="Customer")
    order = panel.get_by_role("listitem").filter(has_text="Order #1042")

    order.get_by_role("button", name="Refund…").click()
    dialog = page.get_by_role("dialog", name="Refund · order #1042")
    dialog.get_by_label("Refund", exact=True).select_option("line_items")
    dialog.get_by_label("Canvas Tote (25.00 each, 1 refundable)").fill("1")
    dialog.get_by_label("Reason (kept on the refund in Shopify)").fill("Torn on arrival")
    dialog.get_by_role("button", name="Review").click()

    expect(dialog.get_by_role("status")).to_contain_text(
        "This will happen: Refund 25.00 USD to the original payment method for order #1042: 1 × Canvas Tote. "
        "Items restocked: no. Shopify emails the customer: yes. Reason: Torn on arrival."
    )
    assert fake_shopify.calls_of("refundCreate") == []

    dialog.get_by_role("button", name="Confirm: refund · order #1042").click()

    expect(dialog.get_by_role("status")).to_contain_text("Shopify: done by Shopify.")
    assert len(fake_shopify.calls_of("refundCreate")) == 1
    assert OrderAction.objects.get().status == "sent"


def test_an_imported_order_offers_no_action_and_says_why(browser_context, bob, jane):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{jane.pk}/")
    imported = page.get_by_role("complementary", name="Customer").get_by_role("listitem").filter(has_text="Order #A-77")

    expect(imported).to_contain_text("was imported (csv), not synced from Shopify")
    expect(imported.get_by_role("button", name="Refund…")).to_have_count(0)
    expect(imported.get_by_role("button", name="Insert into reply")).to_be_visible()
