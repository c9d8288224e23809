"""Replies through Meta's Send API (faked on loopback): the exact request, errors, statuses."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from django.utils import timezone

from inbox.conversations.reply import message_deliver
from inbox.models import Conversation, Message
from inbox.providers.meta import error_classify
from tests.conftest import META_APP_SECRET, PAGE_ID, load_fixture

from . import meta_support
from .meta_support import IGSID, PSID, fixture_at, now_ms

# Shared fixtures, bound here so pytest finds them.
meta_post = meta_support.meta_post
queued = meta_support.queued
reply = meta_support.reply

pytestmark = pytest.mark.django_db

MESSAGES_PATH = f"/v24.0/{PAGE_ID}/messages$"
TOKEN = "EAAB-test-page-token"


@pytest.fixture
def conversation(meta_post, messenger_inbox) -> Conversation:
    """A customer wrote a minute ago: the window is open."""
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60)))
    return Conversation.objects.get(identity__external_id=PSID)


@pytest.fixture
def old_conversation(meta_post, messenger_inbox) -> Conversation:
    """The customer's last message is 30 hours old: only a human agent may reply, with the tag."""
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=30 * 3600)))
    return Conversation.objects.get(identity__external_id=PSID)


# --- Success -------------------------------------------------------------------------------------------


def test_a_reply_inside_the_window_posts_exactly_this_request(conversation, bob, reply, fake_provider):
    message = reply(conversation, bob, "Yes! All sizes are back.")

    [request] = fake_provider.sent(MESSAGES_PATH)
    assert request.method == "POST"
    assert request.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes! All sizes are back.", "metadata": f"inbox-message:{message.pk}"},
    }
    assert request.query["access_token"] == [TOKEN]
    proof = hmac.new(META_APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert request.query["appsecret_proof"] == [proof]
    assert message.status == "sent"
    assert message.external_id.startswith("m_fake")
    assert message.sent_at is not None
    assert (message.messaging_type, message.tag) == ("RESPONSE", "")


def test_a_human_agent_reply_after_24_hours_carries_the_tag(old_conversation, bob, reply, fake_provider):
    message = reply(old_conversation, bob, "Sorry for the wait: it shipped today.", tag="HUMAN_AGENT")

    [request] = fake_provider.sent(MESSAGES_PATH)
    assert request.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Sorry for the wait: it shipped today.", "metadata": f"inbox-message:{message.pk}"},
    }
    assert message.status == "sent"


def test_an_instagram_reply_goes_through_the_linked_page(meta_post, instagram_inbox, bob, reply, fake_provider):
    meta_post(fixture_at("meta/instagram_text.json", now_ms(seconds_ago=60)))
    message = reply(Conversation.objects.get(), bob, "Yes, we ship to Canada.")

    [request] = fake_provider.sent("/messages$")
    assert request.path == f"/v24.0/{PAGE_ID}/messages"
    assert request.json()["recipient"] == {"id": IGSID}
    assert request.query["access_token"] == ["EAAB-test-ig-token"]
    assert message.status == "sent"


def test_quick_replies_ride_on_the_text_and_each_attachment_goes_first_on_its_own(conversation, bob, reply, fake_provider):
    quick = [{"content_type": "text", "title": "Track order", "payload": "TRACK_ORDER"}]
    message = reply(
        conversation,
        bob,
        "Here is your receipt.",
        attachments=[{"url": "https://shop.example/receipt.pdf", "content_type": "application/pdf"}],
        payload={"quick_replies": quick},
    )

    first, second = (r.json() for r in fake_provider.sent(MESSAGES_PATH))
    metadata = f"inbox-message:{message.pk}"
    assert first["message"] == {
        "attachment": {"type": "file", "payload": {"url": "https://shop.example/receipt.pdf", "is_reusable": True}},
        "metadata": f"{metadata}/0",  # a part ahead of the text: its echo must not settle the message
    }
    assert second["message"] == {"text": "Here is your receipt.", "metadata": metadata, "quick_replies": quick}
    assert message.status == "sent"
    assert len(message.payload["attachment_message_ids"]) == 1
    assert message.payload["quick_replies"] == quick


def test_a_retried_delivery_after_success_never_posts_twice(conversation, bob, fake_provider, queued):
    message = queued(conversation, bob)
    assert message_deliver(message.pk) is None
    assert message_deliver(message.pk) is None

    assert len(fake_provider.sent(MESSAGES_PATH)) == 1
    message.refresh_from_db()
    assert message.status == "sent"


# --- Echoes and receipts of what we sent ------------------------------------------------------------


def test_the_echo_of_our_own_send_is_not_stored_twice(conversation, bob, reply, meta_post, fake_provider):
    message = reply(conversation, bob, "Yes! All sizes are back.")
    echo = fixture_at("meta/messenger_echo.json", now_ms())
    echo["entry"][0]["messaging"][0]["message"].update(
        mid=message.external_id, app_id=1517000000000001, metadata=f"inbox-message:{message.pk}", text=message.text
    )
    meta_post(echo)
    assert conversation.messages.count() == 2
    assert conversation.messages.filter(direction="out").get() == message


def test_an_echo_that_overtakes_our_send_gives_the_row_its_id_instead_of_a_twin(conversation, bob, meta_post, queued):
    message = queued(conversation, bob)  # sent, but the provider's answer was never recorded
    echo = fixture_at("meta/messenger_echo.json", now_ms())
    echo["entry"][0]["messaging"][0]["message"].update(metadata=f"inbox-message:{message.pk}", text=message.text)
    meta_post(echo)

    assert conversation.messages.filter(direction="out").count() == 1
    message.refresh_from_db()
    assert message.external_id == echo["entry"][0]["messaging"][0]["message"]["mid"]


def test_delivery_and_read_watermarks_move_statuses_forward_never_back(conversation, bob, reply, meta_post, fake_provider):
    first = reply(conversation, bob, "One")
    second = reply(conversation, bob, "Two")

    delivery = fixture_at("meta/messenger_delivery.json", now_ms() + 1000)
    delivery["entry"][0]["messaging"][0]["delivery"]["mids"] = [second.external_id]
    meta_post(delivery)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("delivered", "delivered")

    meta_post(fixture_at("meta/messenger_read.json", now_ms() + 2000))
    # A late delivery receipt must not undo "read".
    meta_post(fixture_at("meta/messenger_delivery.json", now_ms() + 3000))
    for message in (first, second):
        message.refresh_from_db()
        assert message.status == "read"
        assert message.delivered_at is not None and message.read_at is not None


def test_a_read_watermark_leaves_later_messages_alone(conversation, bob, reply, meta_post, fake_provider):
    before = now_ms()
    reply(conversation, bob, "Later")
    meta_post(fixture_at("meta/messenger_read.json", before - 1000))
    assert Message.objects.get(direction="out").status == "sent"


def test_instagram_seen_marks_that_message_and_earlier_ones_read(meta_post, instagram_inbox, bob, reply, fake_provider):
    meta_post(fixture_at("meta/instagram_text.json", now_ms(seconds_ago=60)))
    conversation = Conversation.objects.get()
    first = reply(conversation, bob, "One")
    seen_one = reply(conversation, bob, "Two")
    later = reply(conversation, bob, "Three")
    Message.objects.filter(pk=later.pk).update(created_at=timezone.now() + timezone.timedelta(seconds=5))

    seen = fixture_at("meta/instagram_seen.json", now_ms())
    seen["entry"][0]["messaging"][0]["read"]["mid"] = seen_one.external_id
    meta_post(seen)

    statuses = dict(Message.objects.filter(direction="out").values_list("pk", "status"))
    assert statuses == {first.pk: "read", seen_one.pk: "read", later.pk: "sent"}


# --- Errors ------------------------------------------------------------------------------------------


def test_metas_outside_the_window_error_fails_the_message_and_closes_the_window(conversation, bob, reply, fake_provider):
    fake_provider.script(MESSAGES_PATH, status=400, json_body=load_fixture("meta/error_outside_window.json"))
    message = reply(conversation, bob, "Still there?")

    assert message.status == "failed"
    assert message.error_code == "10"
    assert "outside of allowed window" in message.error_detail
    conversation.refresh_from_db()
    assert conversation.window_state(timezone.now()) == "closed"
    assert conversation.events.filter(kind="window").exists()


def test_a_user_who_cannot_receive_messages_fails_the_message_for_good(conversation, bob, reply, fake_provider):
    fake_provider.script(MESSAGES_PATH, status=400, json_body=load_fixture("meta/error_user_unavailable.json"))
    message = reply(conversation, bob, "Hello?")
    assert (message.status, message.error_code, message.next_attempt_at) == ("failed", "551", None)
    conversation.refresh_from_db()
    assert conversation.window_state(timezone.now()) == "open"


def test_a_rate_limit_leaves_the_message_queued_for_a_later_attempt(conversation, bob, fake_provider, queued):
    fake_provider.script(MESSAGES_PATH, status=400, json_body=load_fixture("meta/error_rate_limit.json"))
    message = queued(conversation, bob)

    delay = message_deliver(message.pk)

    assert delay is not None
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.error_code == "613"
    assert message.next_attempt_at is not None
    assert message.external_id is None

    # The next attempt goes through.
    assert message_deliver(message.pk) is None
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(fake_provider.sent(MESSAGES_PATH)) == 2


def test_an_unreachable_graph_api_is_transient_and_the_token_never_shows(conversation, bob, settings, caplog, queued):
    settings.META_GRAPH_URL = "http://127.0.0.1:9/v24.0"  # discard port: nothing listens
    message = queued(conversation, bob)

    with caplog.at_level(logging.INFO):
        assert message_deliver(message.pk) is not None

    message.refresh_from_db()
    assert message.status == "queued"
    assert message.error_code == "connection"
    assert TOKEN not in message.error_detail
    assert TOKEN not in caplog.text


def test_an_inbox_without_a_token_fails_without_calling_meta(conversation, bob, fake_provider, queued):
    conversation.inbox.credentials = {}
    conversation.inbox.save()
    message = queued(conversation, bob)
    message_deliver(message.pk)
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "no_token")
    assert fake_provider.sent() == []


@pytest.mark.parametrize(
    "status, body, reason, transient, code",
    [
        (400, {"error": {"message": "(#10) outside window", "code": 10, "error_subcode": 2018278}}, "window_closed", False, "10"),
        (400, {"error": {"message": "(#551) unavailable", "code": 551}}, "blocked", False, "551"),
        (400, {"error": {"message": "unavailable", "code": 200, "error_subcode": 1545041}}, "blocked", False, "200"),
        (400, {"error": {"message": "(#100) No matching user found", "code": 100, "error_subcode": 2018001}},
         "invalid_recipient", False, "100"),
        (400, {"error": {"message": "(#100) Tag is no longer supported", "code": 100}}, "rejected", False, "100"),
        (400, {"error": {"message": "Error validating access token", "code": 190, "error_subcode": 460}}, "rejected", False, "190"),
        (400, {"error": {"message": "(#4) Application request limit reached", "code": 4}}, "rate_limited", True, "4"),
        (400, {"error": {"message": "(#17) User request limit reached", "code": 17}}, "rate_limited", True, "17"),
        (400, {"error": {"message": "(#32) Page request limit reached", "code": 32}}, "rate_limited", True, "32"),
        (400, {"error": {"message": "limit", "code": 80006}}, "rate_limited", True, "80006"),
        (400, {"error": {"message": "(#100) too many sends", "code": 100, "error_subcode": 2018022}}, "rate_limited", True, "100"),
        (500, {"error": {"message": "An unknown error occurred", "code": 1}}, "server_error", True, "1"),
        (503, {"error": {"message": "Service temporarily unavailable", "code": 2}}, "server_error", True, "2"),
        (502, None, "server_error", True, "502"),
        (429, None, "rate_limited", True, "429"),
        (404, None, "rejected", False, "404"),
    ],
)
def test_graph_errors_are_classified_by_whether_a_retry_can_help(status, body, reason, transient, code):
    error = error_classify(status=status, data=body)
    assert (error.reason, error.transient, error.code) == (reason, transient, code)
    if body:
        assert body["error"]["message"] in error.detail
