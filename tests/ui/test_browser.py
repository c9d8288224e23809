"""The workspace in headless Chromium against daphne: what an agent sees and does, live.

Inbound messages reach the app the way Meta sends them: a signed webhook POSTed to daphne.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Conversation, Message
from tests.conftest import PAGE_ID, meta_signature

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PSID = "24670010000001"
_mids = iter(range(1, 10_000))


def meta_webhook(base_url: str, text: str, *, at=None, psid: str = PSID) -> None:
    """A customer's Messenger message, as Meta posts it (signed with the app secret)."""
    at = at or timezone.now()
    ms = int(at.timestamp() * 1000)
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": ms,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": PAGE_ID},
                            "timestamp": ms,
                            "message": {"mid": f"m_browser_{next(_mids)}_{ms}", "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()
    request = urllib.request.Request(
        base_url + "/webhooks/meta/",
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def wait_for(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_an_agent_answers_and_sees_the_customer_reply_without_reloading(
    browser_context, daphne_server, bob, messenger_inbox, _fake_server
):
    from playwright.sync_api import expect

    meta_webhook(daphne_server, "Hi, where is my order #1042?", at=timezone.now() - timedelta(hours=2, minutes=48))
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=messenger_inbox).first())
    page = browser_context().new_page()
    log_in(page, "bob")

    page.get_by_role("button", name="Unassigned").click()
    conversations = page.get_by_role("list", name="Conversations")
    conversations.get_by_role("link").filter(has_text="Messenger").first.click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text("Hi, where is my order #1042?")
    # Written 2 h 48 min ago: the 24-hour window has about 21 h 12 min left.
    expect(page.get_by_text(re.compile(r"Messaging window closes in 21 h 1[12] min"))).to_be_visible()

    page.get_by_role("textbox", name="Reply").fill("It left the warehouse this morning.")
    page.get_by_role("button", name="Send").click()
    expect(timeline).to_contain_text("It left the warehouse this morning.")
    expect(page.get_by_role("textbox", name="Reply")).to_have_value("")
    sent = wait_for(lambda: _fake_server.sent(rf"/{PAGE_ID}/messages"))
    assert sent[-1].json()["message"]["text"] == "It left the warehouse this morning."
    # The provider accepted it: the status moves on in the open thread, pushed over the socket.
    expect(timeline.locator("li.out").last).to_contain_text("sent")

    meta_webhook(daphne_server, "Great, thanks! Can you make it express?")
    expect(timeline).to_contain_text("Great, thanks! Can you make it express?", timeout=5_000)
    assert page.url.endswith(f"/conversations/{conversation.pk}/")  # no reload, no navigation


def test_a_new_conversation_appears_in_the_queue_live(browser_context, daphne_server, bob, messenger_inbox):
    from playwright.sync_api import expect

    page = browser_context().new_page()
    log_in(page, "bob")
    page.get_by_role("button", name="Unassigned").click()
    expect(page.locator("#connection")).to_have_text("Live")
    conversations = page.get_by_role("list", name="Conversations")
    expect(conversations.get_by_role("listitem")).to_have_count(0)

    meta_webhook(daphne_server, "Do you ship to Canada?", psid="24670010000777")

    expect(conversations.get_by_role("listitem")).to_have_count(1, timeout=5_000)
    expect(conversations).to_contain_text("Messenger")


def test_outside_24_hours_the_agent_may_reply_only_as_a_human_agent(browser_context, bob, messenger_inbox, daphne_server):
    from playwright.sync_api import expect

    meta_webhook(daphne_server, "Hello?", at=timezone.now() - timedelta(hours=30))
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=messenger_inbox).first())
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")

    expect(page.get_by_text(re.compile(r"HUMAN_AGENT tag, or not at all"))).to_be_visible()
    send = page.get_by_role("button", name="Send")
    expect(send).to_be_disabled()
    page.get_by_label(re.compile(r"Reply as a human agent")).check()
    expect(send).to_be_enabled()
    page.get_by_role("textbox", name="Reply").fill("Sorry for the wait, it is sorted.")
    send.click()
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("HUMAN_AGENT")
    assert Message.objects.get(conversation=conversation, direction="out").tag == "HUMAN_AGENT"


def test_the_sms_counter_follows_the_text_as_the_agent_types(browser_context, bob, sms_inbox, daphne_server):
    from playwright.sync_api import expect

    from customers.services import identity_resolve
    from inbox.conversations.threads import conversation_for_identity

    identity = identity_resolve(channel="sms", external_id="+17067815146").identity
    conversation = conversation_for_identity(inbox=sms_inbox, identity=identity)
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    reply = page.get_by_role("textbox", name="Reply")
    counter = page.locator("#sms-counter")

    reply.fill("a" * 160)
    expect(counter).to_contain_text("1 segment")
    expect(counter).to_contain_text("GSM-7")
    reply.press("End")
    reply.type("b")
    expect(counter).to_contain_text("2 segments")
    reply.fill("Merci ❤")
    expect(counter).to_contain_text("UCS-2")
    reply.fill("€" * 80)  # extension characters cost two septets each
    expect(counter).to_contain_text("160/160 · 1 segment")


def test_the_browser_counts_segments_exactly_as_the_server_does(browser_context, bob, daphne_server):
    from inbox.sms import segments

    samples = ["", "a" * 160, "a" * 161, "a" * 306, "a" * 307, "€" * 81, "a" * 152 + "€b", "ж" * 71, "😀" * 36, "Hi 👋 " * 20]
    page = browser_context().new_page()
    log_in(page, "bob")
    in_browser = page.evaluate(
        "samples => samples.map(s => { const r = window.SmsSegments.count(s); return [r.encoding, r.segments, r.units]; })",
        samples,
    )
    assert in_browser == [[s.encoding, s.segments, s.units] for s in map(segments, samples)]


def test_two_agents_see_each_other_on_the_same_thread(browser_context, daphne_server, alice, bob, messenger_inbox):
    from playwright.sync_api import expect

    meta_webhook(daphne_server, "Is anyone there?")
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=messenger_inbox).first())
    bob_page, alice_page = browser_context().new_page(), browser_context().new_page()
    log_in(bob_page, "bob")
    log_in(alice_page, "alice")

    bob_page.goto(f"/conversations/{conversation.pk}/")
    expect(bob_page.locator("#connection")).to_have_text("Live")
    alice_page.goto(f"/conversations/{conversation.pk}/")

    expect(bob_page.get_by_text("alice is also viewing this conversation.")).to_be_visible(timeout=5_000)
    expect(alice_page.get_by_text("bob is also viewing this conversation.")).to_be_visible(timeout=5_000)

    alice_page.get_by_role("textbox", name="Reply").press_sequentially("On it")
    expect(bob_page.get_by_text("alice is typing a reply here.")).to_be_visible(timeout=5_000)


def test_an_agent_of_another_team_gets_404_and_no_live_updates(browser_context, daphne_server, bob, charlie, messenger_inbox):
    from playwright.sync_api import expect

    meta_webhook(daphne_server, "Private matter")
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=messenger_inbox).first())
    page = browser_context().new_page()
    log_in(page, "charlie")

    response = page.goto(f"/conversations/{conversation.pk}/")
    assert response.status == 404
    page.goto("/")
    page.get_by_role("button", name="All").click()
    expect(page.locator("#connection")).to_have_text("Live")
    meta_webhook(daphne_server, "Second private message")
    meta_webhook(daphne_server, "Someone new", psid="24670010000999")
    page.wait_for_timeout(1_500)
    expect(page.get_by_role("list", name="Conversations").get_by_role("listitem")).to_have_count(0)


def test_after_a_dropped_connection_the_page_says_so_and_catches_up_over_rest(
    browser_context, daphne_server, bob, messenger_inbox
):
    from playwright.sync_api import expect

    meta_webhook(daphne_server, "First question")
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=messenger_inbox).first())
    sockets, server_back = [], {"up": True}

    def route(ws):
        # While the "server" is down, every reconnection attempt is refused.
        sockets.append(ws)
        if server_back["up"]:
            ws.connect_to_server()
        else:
            ws.close(code=1012, reason="restarting")

    page = browser_context().new_page()
    page.route_web_socket(re.compile(r"/ws/inbox/$"), route)
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    status = page.locator("#connection")
    expect(status).to_have_text("Live")

    server_back["up"] = False
    sockets[-1].close(code=1012, reason="restarting")
    expect(status).to_have_text("Reconnecting…")
    # Said while the page was away: the channel layer does not replay it.
    meta_webhook(daphne_server, "Hello? Anyone?")
    wait_for(lambda: Message.objects.filter(text="Hello? Anyone?").exists())
    page.wait_for_timeout(500)
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).not_to_contain_text("Hello? Anyone?")

    server_back["up"] = True
    expect(status).to_have_text("Live", timeout=20_000)
    expect(timeline).to_contain_text("Hello? Anyone?")
    assert len(sockets) >= 3  # it kept trying, backing off, until the server answered
