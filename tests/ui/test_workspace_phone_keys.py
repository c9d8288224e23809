"""The workspace, round 2, in headless Chromium: one pane at a time on a phone, a list that always
matches its filters (an older, slower answer never replaces a newer one), keyboard shortcuts,
errors in words next to what failed with a Retry, snooze presets and the one date format."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Conversation
from tests.ui.test_browser import log_in, wait_for
from tests.ui.test_pages import customer_writes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIST_REQUEST = re.compile(r"/api/v1/conversations/\?")


@pytest.fixture
def two_conversations(messenger_inbox, sms_inbox):
    """A Messenger and an SMS conversation in Bob's team, both unassigned and open."""
    messenger = customer_writes(messenger_inbox, "2467001", "Where is my parcel?", ago=timedelta(hours=2)).conversation
    sms = customer_writes(sms_inbox, "+17067815146", "Do you have the navy one in M?", ago=timedelta(hours=1)).conversation
    return messenger, sms


def rows(page):
    return page.get_by_role("list", name="Conversations").get_by_role("listitem")


def test_on_a_phone_the_workspace_shows_one_pane_at_a_time_with_back_buttons(browser_context, bob, two_conversations):
    from playwright.sync_api import expect

    messenger, _ = two_conversations
    page = browser_context().new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "bob")
    page.get_by_role("button", name="Unassigned").click()
    queue = page.get_by_role("list", name="Conversations")
    thread = page.get_by_role("main", name="Conversation")
    customer = page.get_by_role("complementary", name="Customer")
    expect(rows(page)).to_have_count(2)
    expect(thread).to_be_hidden()
    expect(customer).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen

    queue.get_by_role("link").filter(has_text="Messenger").click()
    page.wait_for_url(f"**/conversations/{messenger.pk}/")
    expect(thread).to_be_visible()
    expect(queue).to_be_hidden()
    reply = page.get_by_role("textbox", name="Reply")
    send = page.get_by_role("button", name="Send")
    expect(reply).to_be_in_viewport()
    box = send.bounding_box()
    assert box["y"] + box["height"] <= 844  # the composer stays on screen, at the bottom
    # Every control of the pane is at least 44 px tall: a thumb, not a mouse pointer.
    small = page.evaluate("""() => [...document.querySelectorAll('#thread-pane button, #thread-pane select, #thread-pane input, #thread-pane a, #thread-pane textarea')]
        .filter(e => e.offsetParent !== null && e.type !== 'radio' && e.type !== 'checkbox')
        .map(e => [e.id || e.textContent.trim(), e.getBoundingClientRect().height])
        .filter(([, h]) => h < 44)""")
    assert small == []

    page.get_by_role("button", name="Customer").click()
    expect(customer).to_be_visible()
    expect(thread).to_be_hidden()
    expect(customer).to_contain_text("Identities")
    page.get_by_role("button", name="Conversation").click()
    expect(thread).to_be_visible()
    page.get_by_role("button", name="Conversations").click()
    expect(queue).to_be_visible()
    expect(thread).to_be_hidden()


def test_on_a_desktop_the_three_panes_stay_side_by_side(browser_context, bob, two_conversations):
    from playwright.sync_api import expect

    messenger, _ = two_conversations
    page = browser_context().new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, "bob")
    page.goto(f"/conversations/{messenger.pk}/")
    for landmark in (page.get_by_role("region", name="Queue"), page.get_by_role("main", name="Conversation"),
                     page.get_by_role("complementary", name="Customer")):
        expect(landmark).to_be_visible()
    expect(page.get_by_role("button", name="Conversations")).to_be_hidden()


def test_an_older_slower_list_answer_never_replaces_the_newer_filters_rows(browser_context, bob, two_conversations):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.get_by_role("button", name="All", exact=True).click()
    expect(rows(page)).to_have_count(2)
    held = []

    def slow_messenger(route):
        if "channel=messenger" in route.request.url:
            held.append(route)  # answered only after the newer request's rows are shown
        else:
            route.continue_()

    page.route(LIST_REQUEST, slow_messenger)
    channel = page.get_by_label("Channel")
    channel.select_option("messenger")
    for _ in range(100):  # the route handler runs while Playwright is called: wait through it
        if held:
            break
        page.wait_for_timeout(50)
    assert held
    expect(rows(page)).to_have_count(0)  # the old rows do not pretend to match the new filter
    expect(page.locator("#list-skeleton")).to_be_visible()
    channel.select_option("sms")
    expect(rows(page)).to_have_count(1)
    expect(rows(page)).to_contain_text("SMS")

    for route in held:  # the Messenger answer arrives late (if the browser still wants it at all)
        try:
            route.continue_()
        except Exception:  # the page aborted that request: exactly what it should do
            pass
    page.wait_for_timeout(700)
    expect(rows(page)).to_have_count(1)
    expect(rows(page)).to_contain_text("SMS")
    expect(rows(page)).not_to_contain_text("Messenger")
    expect(page.locator("#list-skeleton")).to_be_hidden()


def test_a_list_that_fails_to_load_says_why_next_to_it_and_retries(browser_context, bob, two_conversations):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.route(LIST_REQUEST, lambda route: route.fulfill(status=503, content_type="application/json", body="{}"))
    page.get_by_role("button", name="All", exact=True).click()
    error = page.locator("#list-error")
    expect(error).to_contain_text("Could not load conversations: The server is unavailable just now.")
    expect(error).not_to_contain_text("503")
    page.unroute(LIST_REQUEST)
    error.get_by_role("button", name="Retry").click()
    expect(rows(page)).to_have_count(2)
    expect(error).to_be_hidden()


def test_a_refused_send_shows_the_servers_reason_in_words_and_a_server_error_offers_retry(
    browser_context, bob, two_conversations, fake_provider
):
    from playwright.sync_api import expect

    messenger, _ = two_conversations
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{messenger.pk}/")
    sending = re.compile(rf"/api/v1/conversations/{messenger.pk}/messages/$")
    refusal = {"code": "opted_out", "detail": "The customer asked not to be contacted on Messenger."}
    page.route(sending, lambda route: route.fulfill(status=409, content_type="application/json", body=json.dumps(refusal)))
    page.get_by_role("textbox", name="Reply").fill("Your parcel left today.")
    page.get_by_role("button", name="Send").click()
    error = page.locator("#composer-error")
    expect(error).to_have_text("Not sent: The customer asked not to be contacted on Messenger.")
    expect(error.get_by_role("button", name="Retry")).to_have_count(0)  # trying again cannot help

    page.unroute(sending)
    page.route(sending, lambda route: route.fulfill(status=500, content_type="text/html", body="<h1>Server Error</h1>"))
    page.get_by_role("button", name="Send").click()
    expect(error).to_contain_text("Not sent: Something went wrong on the server. Try again in a moment.")
    expect(error).not_to_contain_text("500")
    page.unroute(sending)
    error.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("Your parcel left today.")
    expect(page.get_by_role("textbox", name="Reply")).to_have_value("")


def test_keyboard_shortcuts_move_open_reply_assign_snooze_resolve_and_never_fire_while_typing(
    browser_context, bob, two_conversations
):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.get_by_role("button", name="All", exact=True).click()
    expect(rows(page)).to_have_count(2)
    first, second = (int(rows(page).nth(i).get_attribute("data-id")) for i in range(2))

    page.locator("body").press("j")
    expect(rows(page).nth(0)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("j")
    expect(rows(page).nth(1)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("k")
    expect(rows(page).nth(0)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/conversations/{first}/")
    expect(page.get_by_role("list", name="Timeline").get_by_role("listitem")).not_to_have_count(0)

    reply = page.get_by_role("textbox", name="Reply")
    page.keyboard.press("r")
    expect(reply).to_be_focused()
    page.keyboard.type("jk as?")  # typed into the box, not taken as shortcuts
    expect(reply).to_have_value("jk as?")
    expect(rows(page).nth(0)).to_have_class(re.compile(r"\bcursor\b"))
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    expect(page.get_by_role("radio", name="Private note")).to_be_checked()
    expect(reply).to_be_focused()
    page.keyboard.press("Escape")

    page.keyboard.press("a")
    wait_for(lambda: Conversation.objects.get(pk=first).assignee_id == bob.pk)
    expect(page.get_by_role("button", name="Assign to me")).to_be_hidden()
    page.keyboard.press("s")
    menu = page.get_by_role("group", name="Snooze until")
    expect(menu.get_by_role("button")).to_contain_text(["1 hour", "Tomorrow, 9:00", "Next week (Monday 9:00)"])
    menu.get_by_role("button", name=re.compile(r"^1 hour")).click()
    snoozed = wait_for(lambda: Conversation.objects.filter(pk=first, status="snoozed").first())
    assert abs(snoozed.snoozed_until - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=2)
    expect(page.locator("#snoozed-until")).to_contain_text("Snoozed until")
    page.keyboard.press("e")
    wait_for(lambda: Conversation.objects.get(pk=first).status == "resolved")
    assert Conversation.objects.get(pk=second).status == "open"  # only the open one was touched

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    for key in ("j", "k", "Enter", "r", "n", "a", "e", "s", "/", "?"):
        expect(dialog.locator("dt kbd", has_text=re.compile(rf"^{re.escape(key)}$")).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Search conversations")).to_be_focused()


def test_an_agent_is_offered_only_himself_in_the_assignee_menu(browser_context, alice, bob, two_conversations):
    from playwright.sync_api import expect

    messenger, _ = two_conversations
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{messenger.pk}/")
    expect(page.get_by_label("Assignee").locator("option")).to_have_text(["Unassigned", "bob (me)"])


def test_snooze_presets_and_durations_follow_the_agents_zone_and_one_format(chromium, daphne_server, bob):
    context = chromium.new_context(base_url=daphne_server, timezone_id="Europe/Paris", locale="en-US")
    try:
        page = context.new_page()
        log_in(page, "bob")
        presets = page.evaluate("""async () => {
            const { snoozePresets } = await import('/static/inbox/workspace/snooze.js');
            const at = (s) => snoozePresets(new Date(s)).map(p => [p.id, p.until.getDay(), p.until.getHours(), p.until.getMinutes(), p.until.getDate()]);
            return { mondayMorning: at('2026-03-02T10:00:00'), mondayEvening: at('2026-03-02T20:00:00'), sunday: at('2026-03-08T11:30:00') };
        }""")
        assert presets["mondayMorning"] == [["1h", 1, 11, 0, 2], ["tonight", 1, 18, 0, 2], ["tomorrow", 2, 9, 0, 3], ["next-week", 1, 9, 0, 9]]
        assert [p[0] for p in presets["mondayEvening"]] == ["1h", "tomorrow", "next-week"]  # no "tonight" after 17:00
        assert presets["sunday"][-1] == ["next-week", 1, 9, 0, 9]
        formats = page.evaluate("""async () => {
            const f = await import('/static/app/format.js');
            return [f.duration(45e3), f.duration(12 * 60e3), f.duration((2 * 60 + 5) * 60e3), f.durationSeconds(22.8 * 86400),
                    f.timeZone(), f.absolute('2026-12-01T19:24:13Z')];
        }""")
        assert formats[:4] == ["45 s", "12 min", "2 h 5 min", "22 d 19 h"]
        assert formats[4] == "Europe/Paris"
        assert "08:24:13 PM" in formats[5] and "2026" in formats[5]  # 19:24 UTC is 20:24 in Paris
    finally:
        context.close()
