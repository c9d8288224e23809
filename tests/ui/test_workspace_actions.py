"""The workspace's round-2 actions in headless Chromium, against the real server: bulk actions on
ticked rows (each row's refusal shown), saved views in the queue's navigation with live counts,
Retry of a failed send with the provider's reason in words, per-agent unread, search snippets
with a one-click widening, @mentions highlighted and notified, and menus listing only what the
user may choose."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Conversation, Direction, Message, MessageStatus, SenderType
from tests.conftest import make_user
from tests.ui.test_browser import log_in, meta_webhook, wait_for
from tests.ui.test_pages import customer_writes

from .test_shell import _axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dave(team_a):
    """Another agent of Bob's team."""
    return make_user("dave", "agent", [team_a])


def queue(page):
    return page.get_by_role("list", name="Conversations")


def row(page, text: str):
    return queue(page).get_by_role("listitem").filter(has_text=text)


def open_tab(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def test_bulk_actions_assign_the_ticked_rows_and_report_each_refusal(browser_context, bob, dave, messenger_inbox, sms_inbox):
    from playwright.sync_api import expect

    ada = customer_writes(messenger_inbox, "24001", "Where is my parcel?", ago=timedelta(hours=3)).conversation
    grace = customer_writes(sms_inbox, "+17067815100", "Is the navy one in stock?", ago=timedelta(hours=2)).conversation
    linus = customer_writes(messenger_inbox, "24003", "Can I pay by invoice?", ago=timedelta(hours=1)).conversation
    page = browser_context().new_page()
    log_in(page, "bob")
    open_tab(page, "All")
    expect(queue(page).get_by_role("listitem")).to_have_count(3)
    bar = page.get_by_role("region", name="Bulk actions")
    expect(bar).to_be_hidden()

    for conversation in (ada, grace, linus):
        page.get_by_role("checkbox", name=f"Select {conversation.customer}").check()
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("3 selected")
    # Meanwhile Dave took Linus's conversation: Bob's bulk assign must not take it from him.
    Conversation.objects.filter(pk=linus.pk).update(assignee=dave)
    bar.get_by_role("button", name="Assign to me").click()

    expect(bar.get_by_role("status")).to_contain_text("Assigned 2 of 3. Not changed:")
    expect(bar.get_by_role("status")).to_contain_text("assigned to someone else")
    assert set(Conversation.objects.filter(assignee=bob).values_list("pk", flat=True)) == {ada.pk, grace.pk}
    assert Conversation.objects.get(pk=linus.pk).assignee == dave
    # What failed stays ticked, what succeeded is unticked.
    expect(page.get_by_role("checkbox", name=f"Select {linus.customer}")).to_be_checked()
    expect(page.get_by_role("checkbox", name=f"Select {ada.customer}")).not_to_be_checked()

    page.get_by_role("checkbox", name=f"Select {ada.customer}").check()
    page.get_by_role("checkbox", name=f"Select {linus.customer}").uncheck()
    bar.get_by_role("combobox", name="Snooze the selected until").select_option(label="Tomorrow, 9:00")
    expect(bar.get_by_role("status")).to_contain_text("Snoozed 1 of 1.")
    wait_for(lambda: Conversation.objects.get(pk=ada.pk).status == "snoozed")
    # Snoozed is not open: it leaves the list on screen.
    expect(row(page, "Where is my parcel?")).to_have_count(0)

    page.get_by_role("checkbox", name=f"Select {grace.customer}").check()
    bar.get_by_label("Label to add to the selected").fill("wholesale")
    bar.get_by_role("button", name="Add label").click()
    expect(bar.get_by_role("status")).to_contain_text("Labelled 1 of 1.")
    expect(row(page, "navy")).to_contain_text("wholesale")
    page.get_by_role("checkbox", name=f"Select {grace.customer}").check()
    bar.get_by_role("button", name="Resolve").click()
    expect(bar.get_by_role("status")).to_contain_text("Resolved 1 of 1.")
    wait_for(lambda: Conversation.objects.get(pk=grace.pk).status == "resolved")
    assert _axe(page) == []


def test_a_saved_view_appears_in_the_navigation_with_a_live_count_for_the_team(browser_context, daphne_server, bob,
                                                                               dave, sms_inbox, messenger_inbox, team_a):
    from playwright.sync_api import expect

    customer_writes(messenger_inbox, "24004", "Do you ship to Norway?", ago=timedelta(hours=2))
    customer_writes(sms_inbox, "+17067815101", "Hello!", ago=timedelta(hours=1))
    page = browser_context().new_page()
    log_in(page, "bob")
    open_tab(page, "Unassigned")
    page.get_by_role("combobox", name="Channel").select_option("messenger")
    expect(queue(page).get_by_role("listitem")).to_have_count(1)

    nav = page.get_by_role("navigation", name="Saved views")
    nav.get_by_role("button", name="Save these filters").click()
    nav.get_by_role("textbox", name="Name").fill("Unassigned Messenger")
    nav.get_by_role("combobox", name="Who sees it").select_option(label="My team: Support")
    nav.get_by_role("button", name="Save view").click()
    view = nav.get_by_role("button", name=re.compile("^Unassigned Messenger"))
    expect(view).to_contain_text("1")
    expect(view).to_have_attribute("aria-pressed", "true")

    # Dave, in the team, sees it; applying it sets the filters, and its count follows new conversations.
    other = browser_context().new_page()
    log_in(other, "dave")
    theirs = other.get_by_role("navigation", name="Saved views").get_by_role("button", name=re.compile("^Unassigned Messenger"))
    expect(theirs).to_contain_text("1")
    theirs.click()
    expect(other.get_by_role("combobox", name="Channel")).to_have_value("messenger")
    expect(queue(other).get_by_role("listitem")).to_have_count(1)
    expect(queue(other)).to_contain_text("Do you ship to Norway?")
    meta_webhook(daphne_server, "Do you have gift cards?", psid="24099")
    expect(theirs).to_contain_text("2", timeout=15_000)
    expect(queue(other).get_by_role("listitem")).to_have_count(2)
    # Changing a filter leaves the view.
    other.get_by_role("combobox", name="Channel").select_option("")
    expect(theirs).to_have_attribute("aria-pressed", "false")


def test_a_failed_send_says_why_in_words_and_retry_sends_the_same_message(browser_context, bob, messenger_inbox,
                                                                          _fake_server):
    from playwright.sync_api import expect

    conversation = customer_writes(messenger_inbox, "24005", "Is it shipped?", ago=timedelta(minutes=10)).conversation
    failed = Message.objects.create(
        conversation=conversation, inbox=messenger_inbox, direction=Direction.OUT, sender_type=SenderType.AGENT,
        author=bob, text="It left this morning.", status=MessageStatus.FAILED, error_code="500",
        error_detail="Graph API HTTP 500.", created_at=timezone.now(), messaging_type="RESPONSE",
    )
    _fake_server.reset()
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    message = page.get_by_role("list", name="Timeline").get_by_role("listitem").filter(has_text="It left this morning.")
    expect(message).to_contain_text("Not delivered: Messenger had a problem on its side and did not take the message")

    message.get_by_role("button", name="Retry").click()

    wait_for(lambda: Message.objects.get(pk=failed.pk).status == "sent")
    assert len(_fake_server.sent(r"/messages$")) == 1
    expect(message).not_to_contain_text("Not delivered")
    expect(message).to_contain_text("sent")
    assert Message.objects.filter(conversation=conversation, direction="out").count() == 1


def test_a_retry_the_window_no_longer_allows_is_refused_with_the_servers_sentence(browser_context, bob, messenger_inbox,
                                                                                   _fake_server):
    from playwright.sync_api import expect

    conversation = customer_writes(messenger_inbox, "24006", "Hello?", ago=timedelta(days=2)).conversation
    Message.objects.create(
        conversation=conversation, inbox=messenger_inbox, direction=Direction.OUT, sender_type=SenderType.AGENT,
        author=bob, text="Sorry for the wait", status=MessageStatus.FAILED, error_code="551",
        error_detail="This person isn't available right now.", created_at=timezone.now(), messaging_type="RESPONSE",
    )
    _fake_server.reset()
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    message = page.get_by_role("list", name="Timeline").get_by_role("listitem").filter(has_text="Sorry for the wait")
    expect(message).to_contain_text("Not delivered: This person isn't available right now.")
    message.get_by_role("button", name="Retry").click()
    expect(message).to_contain_text("Retry failed: The 24-hour messaging window has closed")
    assert _fake_server.sent() == []


def test_opening_a_thread_clears_its_unread_badge_for_that_agent_only(browser_context, daphne_server, alice, bob,
                                                                       messenger_inbox):
    from playwright.sync_api import expect

    conversation = customer_writes(messenger_inbox, "24007", "Are you open on Sunday?", ago=timedelta(minutes=1)).conversation
    Conversation.objects.filter(pk=conversation.pk).update(assignee=bob)
    bobs = browser_context().new_page()
    log_in(bobs, "bob")
    alices = browser_context().new_page()
    log_in(alices, "alice")
    open_tab(alices, "All")
    for page in (bobs, alices):
        expect(row(page, "Sunday")).to_contain_text("1 unread")

    row(bobs, "Sunday").get_by_role("link").click()
    bobs.wait_for_url(f"**/conversations/{conversation.pk}/")

    expect(row(bobs, "Sunday")).not_to_contain_text("unread")
    wait_for(lambda: conversation.reads.filter(user=bob).exists())
    alices.reload()
    open_tab(alices, "All")
    expect(row(alices, "Sunday")).to_contain_text("1 unread")
    # The customer's read receipt follows the inbox's etiquette (on answering), not Bob's opening.
    assert Conversation.objects.get(pk=conversation.pk).unread_count == 1
    # A new message while Bob is elsewhere makes it unread for him again, live.
    bobs.goto("/")
    expect(row(bobs, "Sunday")).not_to_contain_text("unread")
    meta_webhook(daphne_server, "Hello??", psid="24007")
    expect(row(bobs, "Hello??")).to_contain_text("2 unread")


def test_a_search_hit_shows_why_it_matched_and_one_click_searches_every_status(browser_context, bob, messenger_inbox,
                                                                               sms_inbox):
    from playwright.sync_api import expect

    customer_writes(messenger_inbox, "24008", "Do you have the NAVY sweater in M?", ago=timedelta(hours=1))
    done = customer_writes(sms_inbox, "+17067815103", "I loved the navy scarf, thanks", ago=timedelta(days=3)).conversation
    Conversation.objects.filter(pk=done.pk).update(status="resolved")
    page = browser_context().new_page()
    log_in(page, "bob")
    open_tab(page, "All")
    page.get_by_role("searchbox", name="Search conversations").fill("navy")
    hit = queue(page).get_by_role("listitem")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("NAVY")
    hint = page.get_by_text("Searching open conversations only.")
    expect(hint).to_be_visible()
    page.get_by_role("button", name="Search all statuses").click()
    expect(hit).to_have_count(2)
    expect(queue(page).get_by_role("listitem").filter(has_text="scarf").locator("mark")).to_have_text("navy")
    expect(hint).to_be_hidden()


def test_a_mention_in_a_note_is_highlighted_and_rings_the_mentioned_agents_bell(browser_context, alice, bob,
                                                                                 messenger_inbox):
    from playwright.sync_api import expect

    conversation = customer_writes(messenger_inbox, "24009", "I want a refund").conversation
    alices = browser_context().new_page()
    log_in(alices, "alice")
    bell = alices.get_by_role("button", name="Notifications")
    expect(bell).to_have_accessible_name("Notifications")

    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    page.get_by_role("radio", name="Private note").check()
    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("Refund over the limit, ")
    reply.press_sequentially("@ali")
    page.get_by_role("listbox", name="Mention someone").get_by_role("option", name="@alice").click()
    reply.press_sequentially("can you approve?")
    assert reply.input_value() == "Refund over the limit, @alice can you approve?"
    page.get_by_role("button", name="Add note").click()

    note = page.get_by_role("list", name="Timeline").get_by_role("listitem").filter(has_text="can you approve?")
    expect(note.locator(".mention")).to_have_text("@alice")
    expect(alices.get_by_role("button", name="Notifications, 1 unread")).to_be_visible()
    alices.get_by_role("button", name="Notifications, 1 unread").click()
    expect(alices.get_by_role("list", name="Notifications list")).to_contain_text("bob mentioned you")


def test_the_menus_offer_an_agent_only_what_they_may_choose_and_assign_to_me_works(browser_context, bob, dave,
                                                                                     messenger_inbox, team_b):
    from playwright.sync_api import expect

    free = customer_writes(messenger_inbox, "24010", "Hi there").conversation
    daves = customer_writes(messenger_inbox, "24011", "Hello again").conversation
    Conversation.objects.filter(pk=daves.pk).update(assignee=dave)
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{daves.pk}/")
    assignee = page.get_by_role("combobox", name="Assignee")
    expect(assignee).to_be_disabled()
    expect(page.get_by_role("button", name="Assign to me")).to_be_hidden()

    page.goto(f"/conversations/{free.pk}/")
    expect(assignee.locator("option")).to_have_count(2)
    assert assignee.locator("option").all_inner_texts() == ["Unassigned", "bob (me)"]
    team = page.get_by_role("combobox", name="Team")
    expect(team.locator("option")).to_have_text(["No team", "Support"])  # not Wholesale: not Bob's team
    page.get_by_role("button", name="Assign to me").click()
    wait_for(lambda: Conversation.objects.get(pk=free.pk).assignee_id == bob.pk)
    expect(page.get_by_role("button", name="Assign to me")).to_be_hidden()
    expect(assignee).to_have_value(str(bob.pk))
