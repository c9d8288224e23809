"""The composer's file upload in headless Chromium against daphne: attach, see the chip, send."""

from __future__ import annotations

import base64
import urllib.request

import pytest

from inbox.models import Conversation, Message
from tests.conftest import PAGE_ID
from tests.ui.test_browser import log_in, meta_webhook, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A 1×1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_an_agent_attaches_a_picture_and_the_customer_gets_it_with_the_text(
    browser_context, daphne_server, bob, messenger_inbox, _fake_server
):
    from playwright.sync_api import expect

    graph = rf"/{PAGE_ID}/messages"
    before = len(_fake_server.sent(graph))
    meta_webhook(daphne_server, "Can you show me the colour?")
    conversation = wait_for(lambda: Conversation.objects.filter(inbox=messenger_inbox).first())
    page = browser_context().new_page()
    log_in(page, "bob")
    page.goto(f"/conversations/{conversation.pk}/")
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text("Can you show me the colour?")

    # A program is refused, and the composer says so; nothing is attached.
    page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" + b"\0" * 64}]
    )
    expect(page.get_by_role("alert")).to_contain_text("Could not attach setup.exe")
    page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "swatch.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(page.get_by_role("alert")).to_have_text("")
    chips = page.get_by_role("list", name="Attached files")
    expect(chips).to_contain_text("swatch.png")
    expect(page.get_by_role("button", name="Remove swatch.png")).to_be_visible()

    page.get_by_role("textbox", name="Reply").fill("Here it is.")
    page.get_by_role("button", name="Send").click()
    # The sent file is ours, so the thread shows it as a thumbnail named after the file.
    expect(timeline.get_by_role("img", name="swatch.png")).to_be_visible()
    expect(chips).to_be_hidden()

    message = wait_for(lambda: Message.objects.filter(conversation=conversation, direction="out").first())
    assert [(a["name"], a["content_type"], a["size"]) for a in message.attachments] == [("swatch.png", "image/png", len(PNG))]
    sent = wait_for(lambda: len(_fake_server.sent(graph)) >= before + 2 and _fake_server.sent(graph))
    attachment = sent[-2].json()["message"]["attachment"]
    assert attachment["type"] == "image"
    assert sent[-1].json()["message"]["text"] == "Here it is."
    # Meta fetches the file from the signed public URL without any session.
    with urllib.request.urlopen(attachment["payload"]["url"], timeout=10) as response:
        assert response.read() == PNG
