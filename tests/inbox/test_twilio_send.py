"""Replies over Twilio: the form Twilio receives, and what each of its answers does to the message."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest

from customers.models import ConsentEvent
from customers.selectors import is_opted_out
from customers.services import identity_resolve
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import message_deliver, reply_send
from inbox.conversations.threads import conversation_for_identity
from inbox.models import Message
from tests.conftest import SMS_NUMBER, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, load_fixture

CUSTOMER = "+17067815146"
MESSAGES_PATH = rf"^/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages\.json$"


@pytest.fixture
def conversation(sms_inbox):
    identity = identity_resolve(channel="sms", external_id=CUSTOMER).identity
    return conversation_for_identity(inbox=sms_inbox, identity=identity)


def _twilio_answers(fake, fixture: str, status: int, times: int | None = 1) -> None:
    fake.script(MESSAGES_PATH, status=status, json_body=load_fixture(fixture), times=times)


# --- What Twilio receives ---------------------------------------------------------------------------


def test_a_reply_posts_twilios_form_with_basic_auth_and_a_status_callback(conversation, bob, fake_provider, commit):
    _twilio_answers(fake_provider, "twilio/message_created.json", 201)
    reply = reply_send(conversation=conversation, author=bob, text="Your replacement ships today.")

    [request] = fake_provider.sent(MESSAGES_PATH)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form() == {
        "To": CUSTOMER,
        "From": SMS_NUMBER,
        "Body": "Your replacement ships today.",
        "StatusCallback": "http://testserver/webhooks/twilio/status/",
    }
    expected = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"

    reply.refresh_from_db()
    assert (reply.status, reply.external_id) == ("sent", "SM3c9a1f0e2d4b6a8c0e1f2a3b4c5d6e7f")
    assert (reply.segments, reply.encoding) == (1, "gsm7")
    assert reply.sent_at is not None


def test_a_long_reply_with_an_emoji_is_counted_as_ucs2_segments(conversation, bob, fake_provider, commit):
    reply = reply_send(conversation=conversation, author=bob, text="Merci 🙏 " + "x" * 100)
    reply.refresh_from_db()
    assert (reply.status, reply.encoding, reply.segments) == ("sent", "ucs2", 2)  # 110 code units / 67


def test_an_inbox_behind_a_messaging_service_sends_through_it(conversation, sms_inbox, bob, fake_provider, commit):
    sms_inbox.credentials = {"messaging_service_sid": "MG9752274e9e519418a7406176694466fa"}
    sms_inbox.save()
    reply_send(conversation=conversation, author=bob, text="Hi")
    form = fake_provider.sent(MESSAGES_PATH)[0].form()
    assert form["MessagingServiceSid"] == "MG9752274e9e519418a7406176694466fa"
    assert "From" not in form


def test_attachments_go_as_repeated_media_urls(conversation, bob, fake_provider, commit):
    attachments = [
        {"url": "https://cdn.shop.example/label.pdf", "content_type": "application/pdf"},
        {"url": "https://cdn.shop.example/box.jpg", "content_type": "image/jpeg"},
    ]
    reply = reply_send(conversation=conversation, author=bob, text="", attachments=attachments)
    body = parse_qs(fake_provider.sent(MESSAGES_PATH)[0].body.decode())
    assert body["MediaUrl"] == ["https://cdn.shop.example/label.pdf", "https://cdn.shop.example/box.jpg"]
    assert "Body" not in body
    reply.refresh_from_db()
    assert (reply.status, reply.segments) == ("sent", 1)


# --- Twilio's refusals ------------------------------------------------------------------------------


def test_twilios_21610_fails_the_reply_and_records_the_opt_out(conversation, bob, fake_provider, commit):
    _twilio_answers(fake_provider, "twilio/error_21610.json", 400)
    reply = reply_send(conversation=conversation, author=bob, text="Are you still there?")

    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == ("failed", "21610")
    assert reply.error_detail == "Attempt to send to unsubscribed recipient"
    assert reply.next_attempt_at is None
    assert len(fake_provider.sent(MESSAGES_PATH)) == 1  # permanent: never retried
    assert is_opted_out(customer=conversation.customer, channel="sms")
    assert ConsentEvent.objects.filter(source="provider_error", granted=False).count() == 2

    with pytest.raises(ReplyRefused) as refused:
        reply_send(conversation=conversation, author=bob, text="Hello?")
    assert refused.value.code == "opted_out"
    assert len(fake_provider.sent(MESSAGES_PATH)) == 1


def test_an_invalid_number_fails_the_reply_for_good(conversation, bob, fake_provider, commit):
    _twilio_answers(fake_provider, "twilio/error_21211.json", 400)
    reply = reply_send(conversation=conversation, author=bob, text="Hello")
    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == ("failed", "21211")
    assert not is_opted_out(customer=conversation.customer, channel="sms")


@pytest.mark.parametrize(
    "fixture, status, code",
    [("twilio/error_20429.json", 429, "20429"), ("twilio/error_500.json", 500, "20500")],
    ids=["rate-limited", "server-error"],
)
def test_a_transient_error_keeps_the_reply_queued_for_a_later_attempt(conversation, bob, fake_provider, fixture, status, code):
    # No `commit`: the reply stays queued and we drive delivery ourselves (an eager retry would raise).
    reply = reply_send(conversation=conversation, author=bob, text="Hello")
    _twilio_answers(fake_provider, fixture, status)

    retry_in = message_deliver(reply.pk)

    assert retry_in is not None and retry_in >= 0
    reply.refresh_from_db()
    assert (reply.status, reply.error_code, reply.send_attempts) == ("queued", code, 1)
    assert reply.next_attempt_at is not None
    assert reply.external_id is None

    # The next attempt goes through.
    assert message_deliver(reply.pk) is None
    reply.refresh_from_db()
    assert reply.status == "sent"
    assert reply.external_id.startswith("SM")
    assert reply.next_attempt_at is None
    assert len(fake_provider.sent(MESSAGES_PATH)) == 2


def test_an_unreachable_api_is_a_transient_timeout(conversation, bob, settings):
    settings.TWILIO_API_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    reply = reply_send(conversation=conversation, author=bob, text="Hello")
    assert message_deliver(reply.pk) is not None
    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == ("queued", "connection")


def test_a_delivery_retried_after_success_never_posts_twice(conversation, bob, fake_provider, commit):
    reply = reply_send(conversation=conversation, author=bob, text="Only once, please")
    reply.refresh_from_db()
    assert reply.status == "sent"

    assert message_deliver(reply.pk) is None
    assert message_deliver(reply.pk) is None
    assert len(fake_provider.sent(MESSAGES_PATH)) == 1
    assert Message.objects.get(pk=reply.pk).external_id == reply.external_id
