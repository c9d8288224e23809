"""The customer side panel in headless Chromium against daphne: orders, labels, consent, merge,
and finding a customer by order number from the search box."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import ConsentEvent, Customer, Order, OrderItem
from tests.ui.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRACKING = "1Z999AA10123456784"
TRACKING_URL = "https://track.example.com/1Z999AA10123456784"
SUMMARY = f"Your order #1042 has shipped, tracking {TRACKING}: {TRACKING_URL}"


def order_for(customer: Customer, number: str, *, days_ago: int = 3, **fields) -> Order:
    order = Order.objects.create(
        customer=customer, external_id=f"gid-{number}", number=number, currency="USD", total=Decimal("29.00"),
        financial_status="paid", placed_at=timezone.now() - timedelta(days=days_ago), **fields,
    )
    OrderItem.objects.create(order=order, title="Blue mug", sku="MUG-B", quantity=2, price=Decimal("12.00"))
    OrderItem.objects.create(order=order, title="Gift wrap", quantity=1, price=Decimal("5.00"))
    return order


@pytest.fixture
def jane(sms_inbox):
    """Jane texts the shop; she bought order #1042, shipped with tracking."""
    from customers.services import identity_resolve
    from inbox.conversations.threads import conversation_for_identity

    identity = identity_resolve(channel="sms", external_id="+17067815146").identity
    conversation = conversation_for_identity(inbox=sms_inbox, identity=identity)
    Customer.objects.filter(pk=identity.customer_id).update(name="Jane Doe", email="jane@shop-customer.example")
    order_for(
        identity.customer, "1042", fulfillment_status="fulfilled", tracking_number=TRACKING, tracking_url=TRACKING_URL
    )
    return conversation


def test_the_panel_shows_an_order_and_inserts_its_summary_at_the_cursor(browser_context, bob, jane):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{jane.pk}/")
    panel = page.get_by_role("complementary", name="Customer")
    order = panel.get_by_role("list", name="Orders").get_by_role("listitem").filter(has_text="Order #1042")

    expect(order).to_contain_text("Blue mug × 2 · $12.00")  # money in the page's language (format.money)
    expect(order).to_contain_text("Gift wrap × 1 · $5.00")
    expect(order).to_contain_text("Total $29.00")
    expect(order).to_contain_text("Payment: paid · Fulfilment: fulfilled")
    expect(order.get_by_role("link", name=TRACKING)).to_have_attribute("href", TRACKING_URL)
    expect(panel).to_contain_text("Lifetime value: $29.00 · 1 order")

    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("Hi Jane. Thanks for waiting!")
    reply.evaluate("box => box.setSelectionRange(8, 8)")  # right after "Hi Jane."
    order.get_by_role("button", name="Insert into reply").click()

    expected = f"Hi Jane. {SUMMARY} Thanks for waiting!"
    expect(reply).to_have_value(expected)
    expect(reply).to_be_focused()
    # The SMS counter follows the inserted text, not just what was typed.
    expect(page.locator("#sms-counter")).to_contain_text(f"{len(expected)}/160 · 1 segment")


def test_labels_notes_and_consent_edited_in_the_panel_persist(browser_context, bob, jane):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{jane.pk}/")
    panel = page.get_by_role("complementary", name="Customer")

    panel.get_by_label("Customer labels").fill("vip, gift buyer")
    panel.get_by_label("Customer notes").fill("Prefers texts after 6 pm")
    panel.get_by_role("button", name="Save customer").click()
    expect(panel.get_by_role("status")).to_have_text("Saved.")

    panel.get_by_label("Consent channel").select_option("sms")
    panel.get_by_label("Consent purpose").select_option("marketing")
    panel.get_by_label("Consent decision").select_option("Withdrawn")
    panel.get_by_role("button", name="Record consent").click()
    expect(panel.get_by_role("status")).to_have_text("Recorded: SMS marketing withdrawn.")

    page.reload()
    expect(panel.get_by_label("Customer labels")).to_have_value("gift buyer, vip")
    expect(panel.get_by_label("Customer notes")).to_have_value("Prefers texts after 6 pm")
    sms_row = panel.get_by_role("table", name="Consent").get_by_role("row").filter(has_text="SMS")
    expect(sms_row.get_by_role("cell").first).to_have_text("withdrawn")
    consent = ConsentEvent.objects.get(customer_id=jane.customer_id)
    assert (consent.channel, consent.purpose, consent.granted, consent.source) == ("sms", "marketing", False, "agent")


def test_merging_a_suggested_duplicate_brings_its_orders_into_the_panel(browser_context, bob, jane):
    from playwright.sync_api import expect

    # The same person, known to the shop from an older web order under the same email.
    duplicate = Customer.objects.create(name="J. Doe", email="jane@shop-customer.example")
    order_for(duplicate, "977", days_ago=40, fulfillment_status="fulfilled")
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{jane.pk}/")
    panel = page.get_by_role("complementary", name="Customer")
    suggestion = panel.get_by_role("list", name="Possible duplicates").get_by_role("listitem").filter(has_text="J. Doe")
    expect(suggestion).to_contain_text("same email")
    expect(panel.get_by_role("list", name="Orders")).not_to_contain_text("Order #977")

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    suggestion.get_by_role("button", name="Merge into this customer").click()

    orders = panel.get_by_role("list", name="Orders")
    expect(orders).to_contain_text("Order #977")
    expect(orders).to_contain_text("Order #1042")
    expect(panel).to_contain_text("Lifetime value: $58.00 · 2 orders")
    expect(panel.get_by_role("list", name="Possible duplicates")).to_have_count(0)
    assert "Merge J. Doe into Jane Doe?" in dialogs[0]
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == jane.customer_id


def test_searching_an_order_number_links_to_the_buyers_latest_conversation(browser_context, bob, jane):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")  # lands on "Mine": Jane's unassigned conversation is not listed
    page.get_by_role("searchbox", name="Search conversations").fill("#1042")

    found = page.get_by_role("list", name="Orders found")
    found.get_by_role("link", name="Order #1042 → Jane Doe").click()

    page.wait_for_url(f"**/conversations/{jane.pk}/")
    expect(page.get_by_role("heading", name="Jane Doe", level=1)).to_be_visible()
    expect(page.get_by_role("complementary", name="Customer")).to_contain_text("Order #1042")
    page.get_by_role("searchbox", name="Search conversations").fill("hello")
    expect(found).to_be_hidden()
