"""The macro picker in headless Chromium: "#" in the Reply box, search and keys, a preview that
changes nothing, then the run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox.models import Conversation, Macro
from tests.api.conversation_factories import conversation_make
from tests.ui.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_picks_a_macro_with_the_keyboard_previews_it_and_runs_it(
    browser_context, daphne_server, alice, bob, team_a, messenger_inbox, _fake_server
):
    from playwright.sync_api import expect

    conversation = conversation_make(messenger_inbox, name="Jane Doe", customer_wrote_ago=timedelta(minutes=5))
    Macro.objects.create(name="Refund issued", team=team_a, created_by=alice, usage_count=3, actions=[
        {"type": "reply", "text": "Hi {{ customer.first_name }}, your refund is on its way."},
        {"type": "labels", "add": ["refund"]},
        {"type": "status", "status": "resolved"},
    ])
    Macro.objects.create(name="Where is my order", team=team_a, created_by=alice,
                         actions=[{"type": "reply", "text": "Checking!"}])
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    expect(page.get_by_text("Messaging window closes in")).to_be_visible()  # the thread is loaded

    reply = page.get_by_role("textbox", name="Reply")
    reply.click()
    reply.press_sequentially("#ref")
    picker = page.get_by_role("listbox", name="Macros")
    expect(picker.get_by_role("option")).to_have_count(1)
    expect(picker.get_by_role("option").first).to_contain_text("#Refund issued")
    reply.press("Enter")

    dialog = page.get_by_role("dialog", name="Macro: Refund issued")
    expect(dialog).to_contain_text("Hi Jane, your refund is on its way.")
    expect(dialog).to_contain_text("Labels: add refund")
    expect(dialog).to_contain_text("Resolve")
    expect(reply).to_have_value("")
    assert Conversation.objects.get(pk=conversation.pk).status == "open"  # the preview changed nothing

    dialog.get_by_role("button", name="Run macro").click()
    expect(dialog).to_be_hidden()
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text("Hi Jane, your refund is on its way.")
    expect(timeline).to_contain_text("applied the macro “Refund issued”")
    conversation.refresh_from_db()
    assert conversation.status == "resolved" and conversation.label_names == ["refund"]
    assert Macro.objects.get(name="Refund issued").usage_count == 4


def test_the_bulk_bar_runs_a_macro_on_the_ticked_conversations(
    browser_context, daphne_server, alice, bob, team_a, messenger_inbox, _fake_server
):
    from playwright.sync_api import expect

    first = conversation_make(messenger_inbox, name="Ann Lee", customer_wrote_ago=timedelta(minutes=5))
    second = conversation_make(messenger_inbox, name="Ben Ode", customer_wrote_ago=timedelta(minutes=4))
    Macro.objects.create(name="Tag as wholesale", team=team_a, created_by=alice,
                         actions=[{"type": "labels", "add": ["wholesale"]}])
    page = browser_context().new_page()
    log_in(page, "bob")
    page.get_by_role("button", name="Unassigned").click()
    page.get_by_role("checkbox", name="Select Ann Lee").check()
    page.get_by_role("checkbox", name="Select Ben Ode").check()
    page.once("dialog", lambda dialog: dialog.accept())
    menu = page.get_by_role("combobox", name="Run a macro on the selected")
    menu.focus()
    expect(menu.locator("option", has_text="Tag as wholesale")).to_have_count(1)
    menu.select_option(label="Tag as wholesale")

    expect(page.get_by_role("region", name="Bulk actions")).to_contain_text("Ran the macro on 2 of 2.")
    assert Conversation.objects.get(pk=first.pk).label_names == ["wholesale"]
    assert Conversation.objects.get(pk=second.pk).label_names == ["wholesale"]
