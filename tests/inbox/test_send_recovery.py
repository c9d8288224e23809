"""Exactly once across an interrupted send: an attempt is on record (committed) before the provider
hears of it, and a queued row carrying that record is looked for at the provider (Twilio), waited
for as an echo (Meta) or re-sent as the same message (email) — never simply sent again."""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from customers.services import identity_resolve
from inbox.conversations.reply import message_deliver, reply_send
from inbox.conversations.threads import conversation_for_identity
from inbox.models import Conversation, Message
from inbox.providers.twilio import TwilioProvider
from tests.conftest import PAGE_ID, SMS_NUMBER, TWILIO_ACCOUNT_SID, load_fixture
from tests.fakes import TwilioMessages

from . import meta_support
from .meta_support import PSID, fixture_at, now_ms

meta_post = meta_support.meta_post
queued = meta_support.queued

pytestmark = pytest.mark.django_db

CUSTOMER = "+17067815146"
TWILIO_MESSAGES = rf"^/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages\.json$"
GRAPH_MESSAGES = f"/v24.0/{PAGE_ID}/messages$"


def interrupted(message: Message, *, seconds_ago: float = 5) -> Message:
    """As a worker killed mid-send leaves the row: queued, an attempt stamped, no provider id."""
    started = timezone.now() - timedelta(seconds=seconds_ago)
    Message.objects.filter(pk=message.pk).update(send_started_at=started, send_attempts=1)
    message.refresh_from_db()
    return message


# --- Twilio: ask for it first --------------------------------------------------------------------


@pytest.fixture
def sms_conversation(sms_inbox) -> Conversation:
    identity = identity_resolve(channel="sms", external_id=CUSTOMER).identity
    return conversation_for_identity(inbox=sms_inbox, identity=identity)


def twilio_page(*messages: dict, next_page_uri: str | None = None) -> dict:
    page = copy.deepcopy(load_fixture("twilio/messages_list.json"))
    page["messages"] = list(messages)
    page["next_page_uri"] = next_page_uri
    return page


def twilio_message(*, body: str, created, sid: str = "SM3c9a1f0e2d4b6a8c0e1f2a3b4c5d6e7f", to: str = CUSTOMER) -> dict:
    item = copy.deepcopy(load_fixture("twilio/messages_list.json")["messages"][0])
    item.update(sid=sid, body=body, to=to, date_created=format_datetime(created, usegmt=True).replace("GMT", "+0000"))
    return item


def test_an_interrupted_twilio_send_that_went_out_is_adopted_not_sent_again(sms_conversation, bob, fake_provider, queued):
    message = interrupted(queued(sms_conversation, bob, "Your replacement ships today."))
    fake_provider.script(
        TWILIO_MESSAGES, json_body=twilio_page(twilio_message(body=message.text, created=timezone.now() - timedelta(seconds=4)))
    )
    assert message_deliver(message.pk) is None

    [lookup] = fake_provider.sent(TWILIO_MESSAGES)
    assert lookup.method == "GET"
    assert {k: v[-1] for k, v in lookup.query.items()} == {"To": CUSTOMER, "From": SMS_NUMBER, "PageSize": "50"}
    message.refresh_from_db()
    assert (message.status, message.external_id) == ("sent", "SM3c9a1f0e2d4b6a8c0e1f2a3b4c5d6e7f")
    assert message.send_started_at is None


def test_an_interrupted_twilio_send_that_never_arrived_is_sent_once(sms_conversation, bob, fake_provider, queued):
    message = interrupted(queued(sms_conversation, bob, "Your replacement ships today."))
    older = timezone.now() - timedelta(hours=2)  # the same text, sent long before this attempt
    fake_provider.script(TWILIO_MESSAGES, json_body=twilio_page(
        twilio_message(body="Something else", created=timezone.now()),
        twilio_message(body=message.text, created=older, sid="SM" + "cd" * 16),
    ))
    assert message_deliver(message.pk) is None

    lookup, post = fake_provider.sent(TWILIO_MESSAGES)
    assert (lookup.method, post.method) == ("GET", "POST")
    message.refresh_from_db()
    assert message.status == "sent" and message.external_id != "SM" + "cd" * 16


def test_a_twilio_message_already_adopted_by_another_row_is_not_taken_twice(sms_conversation, bob, fake_provider, queued):
    first = queued(sms_conversation, bob, "On its way")
    Message.objects.filter(pk=first.pk).update(status="sent", external_id="SM3c9a1f0e2d4b6a8c0e1f2a3b4c5d6e7f")
    message = interrupted(queued(sms_conversation, bob, "On its way"))
    fake_provider.script(TWILIO_MESSAGES, json_body=twilio_page(twilio_message(body="On its way", created=timezone.now())))
    assert message_deliver(message.pk) is None
    assert [r.method for r in fake_provider.sent(TWILIO_MESSAGES)] == ["GET", "POST"]


def test_the_twilio_lookup_follows_next_page_uri(sms_conversation, bob, fake_provider, queued):
    message = interrupted(queued(sms_conversation, bob, "Page two"))
    next_uri = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json?To=%2B17067815146&PageSize=50&PageToken=PA1"
    now = timezone.now()
    fake_provider.script(TWILIO_MESSAGES, json_body=twilio_page(twilio_message(body="other", created=now), next_page_uri=next_uri))
    fake_provider.script(TWILIO_MESSAGES, json_body=twilio_page(twilio_message(body="Page two", created=now, sid="SM" + "ab" * 16)))
    assert message_deliver(message.pk) is None
    first, second = fake_provider.sent(TWILIO_MESSAGES)
    assert second.method == "GET" and second.query["PageToken"] == ["PA1"]
    message.refresh_from_db()
    assert message.external_id == "SM" + "ab" * 16


def test_when_twilio_cannot_list_nothing_is_sent_and_the_lookup_is_retried(sms_conversation, bob, fake_provider, queued):
    message = interrupted(queued(sms_conversation, bob, "Hello"))
    fake_provider.script(TWILIO_MESSAGES, status=500, json_body=load_fixture("twilio/error_500.json"))
    delay = message_deliver(message.pk)
    assert delay is not None
    assert [r.method for r in fake_provider.sent(TWILIO_MESSAGES)] == ["GET"]
    message.refresh_from_db()
    assert message.status == "queued" and message.send_started_at is not None  # still to be looked for


def test_twilio_find_sent_reads_the_real_list_format(sms_conversation, bob, fake_provider, queued):
    message = queued(sms_conversation, bob, "Your replacement ships today.")
    fake_provider.script(TWILIO_MESSAGES, json_body=load_fixture("twilio/messages_list.json"))
    found = TwilioProvider().find_sent(message, since=datetime(2026, 11, 3, 14, 4, tzinfo=UTC))
    # The outbound one with our text; not the customer's inbound message in the same list.
    assert [f.external_id for f in found] == ["SM3c9a1f0e2d4b6a8c0e1f2a3b4c5d6e7f"]


def test_a_twilio_send_interrupted_by_a_kill_reaches_twilio_once_across_the_retry(
    sms_conversation, bob, fake_provider, queued, monkeypatch
):
    """The process dies right after Twilio took the message (before our commit): the next
    attempt finds it in Twilio's list and adopts it."""
    twilio = TwilioMessages()
    monkeypatch.setattr(fake_provider, "default_responder", twilio)
    message = queued(sms_conversation, bob, "Shipped!")

    class Killed(BaseException):
        pass

    real_send = TwilioProvider.send

    def send_then_die(self, *args, **kwargs):
        real_send(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(TwilioProvider, "send", send_then_die)
    with pytest.raises(Killed):
        message_deliver(message.pk)
    monkeypatch.setattr(TwilioProvider, "send", real_send)
    message.refresh_from_db()
    assert message.status == "queued" and message.send_started_at is not None  # the stamp outlived the kill

    assert message_deliver(message.pk) is None
    assert len(twilio.sent_to(CUSTOMER)) == 1
    message.refresh_from_db()
    assert (message.status, message.external_id) == ("sent", twilio.sent_to(CUSTOMER)[0]["sid"])


# --- Meta: the echo settles it --------------------------------------------------------------------


@pytest.fixture
def conversation(meta_post, messenger_inbox) -> Conversation:
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60)))
    return Conversation.objects.get(identity__external_id=PSID)


def echo_of(message: Message, *, mid: str, metadata: str | None = None) -> dict:
    echo = fixture_at("meta/messenger_echo.json", now_ms())
    echo["entry"][0]["messaging"][0]["message"].update(
        mid=mid, text=message.text, metadata=metadata or f"inbox-message:{message.pk}"
    )
    return echo


def test_an_interrupted_meta_send_waits_for_its_echo_instead_of_sending_again(
    conversation, bob, fake_provider, queued, meta_post, settings
):
    settings.META_ECHO_GRACE_SECONDS = 60
    message = interrupted(queued(conversation, bob, "It shipped"), seconds_ago=5)
    delay = message_deliver(message.pk)
    assert delay is not None and 50 < delay <= 55
    assert fake_provider.sent(GRAPH_MESSAGES) == []
    message.refresh_from_db()
    assert message.next_attempt_at == message.send_started_at + timedelta(seconds=60)

    meta_post(echo_of(message, mid="m_echo_of_interrupted"))
    message.refresh_from_db()
    assert (message.status, message.external_id) == ("sent", "m_echo_of_interrupted")
    assert message.send_started_at is None and message.next_attempt_at is None
    assert conversation.messages.filter(direction="out").count() == 1  # no twin

    assert message_deliver(message.pk) is None
    assert fake_provider.sent(GRAPH_MESSAGES) == []


def test_without_an_echo_within_the_grace_period_the_meta_send_is_made_once(conversation, bob, fake_provider, queued, settings):
    settings.META_ECHO_GRACE_SECONDS = 60
    message = interrupted(queued(conversation, bob, "It shipped"), seconds_ago=61)
    assert message_deliver(message.pk) is None
    assert len(fake_provider.sent(GRAPH_MESSAGES)) == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.send_started_at is None, (message.error_code, message.error_detail)


def test_the_echo_of_an_attachment_sent_ahead_of_the_text_does_not_settle_the_message(
    conversation, bob, fake_provider, queued, meta_post, settings
):
    settings.META_ECHO_GRACE_SECONDS = 60
    attachments = [{"url": "https://shop.example/receipt.pdf", "content_type": "application/pdf"}]
    message = interrupted(queued(conversation, bob, "Here is your receipt.", attachments=attachments), seconds_ago=61)
    # The attachment went out before the kill; its echo names part 0 of the message.
    meta_post(echo_of(message, mid="m_receipt_part", metadata=f"inbox-message:{message.pk}/0"))
    message.refresh_from_db()
    assert message.status == "queued" and message.external_id is None
    assert message.payload["parts_delivered"] == {"0": "m_receipt_part"}

    assert message_deliver(message.pk) is None
    [text] = fake_provider.sent(GRAPH_MESSAGES)  # only the text: the receipt is not sent twice
    assert text.json()["message"]["text"] == "Here is your receipt."
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.payload["attachment_message_ids"] == ["m_receipt_part"]


def test_a_read_timeout_keeps_the_attempt_on_record_so_the_retry_waits_for_the_echo(
    conversation, bob, fake_provider, queued, settings, monkeypatch
):
    settings.PROVIDER_HTTP_TIMEOUT = 0.3
    settings.META_ECHO_GRACE_SECONDS = 60

    def slow(recorded):
        time.sleep(0.6)  # Meta took it, but its answer comes too late
        return 200, {"recipient_id": PSID, "message_id": "m_late"}

    monkeypatch.setattr(fake_provider, "default_responder", slow)
    message = queued(conversation, bob, "It shipped")
    assert message_deliver(message.pk) is not None
    message.refresh_from_db()
    assert message.status == "queued" and message.send_started_at is not None
    assert message_deliver(message.pk) is not None  # within the grace period: no second POST
    assert len(fake_provider.sent(GRAPH_MESSAGES)) == 1


# --- Email: the same Message-ID ------------------------------------------------------------------


def test_an_email_resent_after_an_interruption_carries_the_same_message_id(email_inbox, bob, queued, monkeypatch):
    identity = identity_resolve(channel="email", external_id="jane.doe@example.com").identity
    conversation = conversation_for_identity(inbox=email_inbox, identity=identity)
    message = queued(conversation, bob, "Your refund is on its way.")

    from inbox.providers.email import EmailProvider

    class Killed(BaseException):
        pass

    real_send = EmailProvider.send

    def send_then_die(self, *args, **kwargs):
        real_send(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(EmailProvider, "send", send_then_die)
    with pytest.raises(Killed):
        message_deliver(message.pk)
    monkeypatch.setattr(EmailProvider, "send", real_send)
    message.refresh_from_db()
    stored_id = message.email_message_id
    assert stored_id.startswith("<") and message.status == "queued"  # made before the first attempt

    assert message_deliver(message.pk) is None
    first, second = mail.outbox
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"] == stored_id
    message.refresh_from_db()
    assert (message.status, message.external_id) == ("sent", stored_id)


# --- The attempt is on record before the provider hears of it -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_attempt_is_committed_before_the_provider_is_called(
    meta_post, messenger_inbox, bob, fake_provider, monkeypatch
):
    monkeypatch.setattr("inbox.conversations.reply.message_dispatch", lambda message_id: None)
    meta_post(fixture_at("meta/messenger_text.json", now_ms(seconds_ago=60)))
    conversation = Conversation.objects.get(identity__external_id=PSID)
    message = reply_send(conversation=conversation, author=bob, text="It shipped")
    seen: dict = {}

    def look_from_another_connection(recorded):
        def read():
            from django.db import connections

            try:
                seen["row"] = Message.objects.values("send_started_at", "send_attempts", "status").get(pk=message.pk)
            finally:
                connections.close_all()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(10)
        return 200, {"recipient_id": PSID, "message_id": "m_committed_first"}

    monkeypatch.setattr(fake_provider, "default_responder", look_from_another_connection)
    assert connection.in_atomic_block is False
    assert message_deliver(message.pk) is None
    assert seen["row"]["send_started_at"] is not None
    assert (seen["row"]["send_attempts"], seen["row"]["status"]) == (1, "queued")
    message.refresh_from_db()
    assert message.status == "sent" and message.send_started_at is None
