"""Twilio webhooks end to end: real form bodies, real signatures, PostgreSQL, eager Celery."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from customers.models import ConsentEvent, Identity
from customers.selectors import is_opted_out
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.models import Conversation, InboundEvent, Message
from tests.conftest import SMS_NUMBER, TWILIO_AUTH_TOKEN, load_fixture, twilio_signature

FIXTURES = Path(__file__).parent.parent / "fixtures" / "twilio"
SMS_URL = "/webhooks/twilio/sms/"
STATUS_URL = "/webhooks/twilio/status/"
CUSTOMER = "+17067815146"
OUTBOUND_SID = "SM3c9a1f0e2d4b6a8c0e1f2a3b4c5d6e7f"


def form(name: str, **changes: str) -> str:
    """A Twilio fixture's form body (tests/fixtures/twilio/), with some fields changed (re-encoded as Twilio would)."""
    body = (FIXTURES / name).read_text()
    if not changes:
        return body
    return urlencode({**dict(parse_qsl(body, keep_blank_values=True)), **changes})


def post_twilio(client, path: str, body: str, *, signature: str | None = None, token: str = TWILIO_AUTH_TOKEN):
    params = dict(parse_qsl(body, keep_blank_values=True))
    sig = twilio_signature("http://testserver" + path, params, token) if signature is None else signature
    headers = {"HTTP_X_TWILIO_SIGNATURE": sig} if sig else {}
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded", **headers)


# --- Signatures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature, token",
    [("", TWILIO_AUTH_TOKEN), ("bm90IGEgc2lnbmF0dXJl", TWILIO_AUTH_TOKEN), (None, "someone-elses-token")],
    ids=["missing", "garbage", "wrong-token"],
)
def test_a_badly_signed_inbound_sms_is_refused_and_nothing_is_stored(client, sms_inbox, commit, signature, token):
    response = post_twilio(client, SMS_URL, form("inbound_sms.txt"), signature=signature, token=token)
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert not InboundEvent.objects.exists()
    assert not Message.objects.exists()


def test_a_signature_for_the_sms_url_does_not_open_the_status_url(client, sms_inbox, commit):
    body = form("status_sent.txt")
    sig = twilio_signature("http://testserver" + SMS_URL, dict(parse_qsl(body)))
    assert post_twilio(client, STATUS_URL, body, signature=sig).status_code == 403


def test_it_refuses_everything_while_twilio_is_not_configured(client, sms_inbox, settings, commit):
    settings.TWILIO_AUTH_TOKEN = ""
    assert post_twilio(client, SMS_URL, form("inbound_sms.txt")).status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_correctly_signed_request_for_another_account_is_a_bad_payload(client, sms_inbox, commit):
    body = form("inbound_sms.txt", AccountSid="AC00000000000000000000000000000000")
    response = post_twilio(client, SMS_URL, body)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload"
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [{"MessageSid": ""}, {"MessageSid": "not-a-sid"}, {"From": ""}, {"To": ""}, {"From": "hello"}, {"NumMedia": "x"}],
    ids=["no-sid", "bad-sid", "no-from", "no-to", "from-not-a-phone", "bad-num-media"],
)
def test_a_malformed_inbound_sms_is_a_400_and_nothing_is_stored(client, sms_inbox, commit, changes):
    response = post_twilio(client, SMS_URL, form("inbound_sms.txt", **changes))
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


# --- Inbound messages -------------------------------------------------------------------------------


def test_an_inbound_sms_makes_a_customer_a_conversation_and_a_message_once(client, sms_inbox, commit):
    body = form("inbound_sms.txt")
    response = post_twilio(client, SMS_URL, body)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response/>")

    identity = Identity.objects.get(channel="sms")
    assert identity.external_id == CUSTOMER
    conversation = Conversation.objects.get()
    assert (conversation.inbox, conversation.customer, conversation.channel) == (sms_inbox, identity.customer, "sms")
    message = Message.objects.get()
    assert (message.direction, message.status, message.text) == ("in", "received", "42")
    assert (message.external_id, message.segments, message.encoding) == ("SM5ab7891328b440f04b7c83b459fc85fd", 1, "gsm7")
    assert conversation.waiting_since == message.created_at

    # Twilio retries when it does not hear back in time: the replay changes nothing.
    assert post_twilio(client, SMS_URL, body).status_code == 200
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert InboundEvent.objects.get().processed_at is not None


def test_an_mms_keeps_its_text_and_both_media(client, sms_inbox, commit):
    assert post_twilio(client, SMS_URL, form("inbound_mms.txt")).status_code == 200
    message = Message.objects.get()
    assert message.text == "Here is the damaged box and my receipt"
    assert [a["content_type"] for a in message.attachments] == ["image/jpeg", "application/pdf"]
    assert message.attachments[0]["url"].startswith("https://api.twilio.com/2010-04-01/Accounts/")
    assert message.attachments[0]["url"].endswith("/Media/ME1a2b3c4d5e6f708192a3b4c5d6e7f809")


def test_a_text_with_an_emoji_is_recorded_as_ucs2(client, sms_inbox, commit):
    post_twilio(client, SMS_URL, form("inbound_sms.txt", Body="Thanks 👍"))
    assert Message.objects.get().encoding == "ucs2"


def test_an_sms_to_a_number_no_inbox_owns_is_acknowledged_and_not_stored_as_a_conversation(client, sms_inbox, commit):
    response = post_twilio(client, SMS_URL, form("inbound_sms.txt", To="+14155550000"))
    assert response.status_code == 200
    assert not Conversation.objects.exists()
    assert InboundEvent.objects.get().processed_at is not None


# --- Keywords and consent ---------------------------------------------------------------------------


def test_stop_is_stored_and_withdraws_consent_so_replies_are_refused(client, sms_inbox, bob, fake_provider, commit):
    post_twilio(client, SMS_URL, form("inbound_sms.txt"))
    assert post_twilio(client, SMS_URL, form("inbound_stop.txt")).status_code == 200

    stop = Message.objects.get(external_id="SM7d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6")
    assert (stop.text, stop.payload) == ("STOP", {"keyword": "STOP"})
    customer = stop.conversation.customer
    assert is_opted_out(customer=customer, channel="sms")
    withdrawal = ConsentEvent.objects.filter(customer=customer, channel="sms").first()
    assert (withdrawal.granted, withdrawal.source) == (False, "sms_keyword")
    assert withdrawal.proof["keyword"] == "STOP"

    with pytest.raises(ReplyRefused) as refused:
        reply_send(conversation=stop.conversation, author=bob, text="Sorry to see you go")
    assert (refused.value.status, refused.value.code) == (409, "opted_out")
    assert fake_provider.sent() == []
    assert not Message.objects.filter(direction="out").exists()


def test_a_replayed_stop_records_the_withdrawal_once(client, sms_inbox, commit):
    body = form("inbound_stop.txt")
    post_twilio(client, SMS_URL, body)
    post_twilio(client, SMS_URL, body)
    assert ConsentEvent.objects.filter(granted=False).count() == 2  # transactional + marketing, once each


@pytest.mark.parametrize("word", ["unsubscribe", " Quit ", "STOPALL", "optout", "Cancel", "end", "revoke"])
def test_every_opt_out_keyword_withdraws_consent(client, sms_inbox, commit, word):
    post_twilio(client, SMS_URL, form("inbound_stop.txt", Body=word))
    assert is_opted_out(customer=Message.objects.get().conversation.customer, channel="sms")


def test_stop_inside_a_sentence_is_just_a_message(client, sms_inbox, commit):
    post_twilio(client, SMS_URL, form("inbound_stop.txt", Body="please stop the order"))
    message = Message.objects.get()
    assert message.payload == {}
    assert not is_opted_out(customer=message.conversation.customer, channel="sms")


def test_start_restores_consent(client, sms_inbox, bob, fake_provider, commit):
    post_twilio(client, SMS_URL, form("inbound_stop.txt"))
    post_twilio(client, SMS_URL, form("inbound_start.txt"))  # "start " in lower case

    conversation = Conversation.objects.get()
    assert not is_opted_out(customer=conversation.customer, channel="sms")
    assert Message.objects.get(external_id="SM8e2f3a4b5c6d7e8f90a1b2c3d4e5f6a7").payload == {"keyword": "START"}
    reply = reply_send(conversation=conversation, author=bob, text="Welcome back!")
    reply.refresh_from_db()
    assert reply.status == "sent"
    assert len(fake_provider.sent(r"/Messages\.json$")) == 1


def test_help_is_stored_with_its_keyword_and_changes_no_consent(client, sms_inbox, commit):
    post_twilio(client, SMS_URL, form("inbound_sms.txt", Body="help"))
    message = Message.objects.get()
    assert message.payload == {"keyword": "HELP"}
    assert not ConsentEvent.objects.exists()


# --- Status callbacks -------------------------------------------------------------------------------


@pytest.fixture
def sent_reply(client, sms_inbox, bob, fake_provider, commit):
    """An agent's reply that Twilio accepted as SM3c9a… (its real 201 answer)."""
    post_twilio(client, SMS_URL, form("inbound_sms.txt"))
    fake_provider.script(r"/Messages\.json$", status=201, json_body=load_fixture("twilio/message_created.json"))
    reply = reply_send(conversation=Conversation.objects.get(), author=bob, text="Your replacement ships today.")
    reply.refresh_from_db()
    assert (reply.status, reply.external_id) == ("sent", OUTBOUND_SID)
    return reply


def test_status_callbacks_move_a_reply_from_sent_to_delivered(client, sent_reply, commit):
    response = post_twilio(client, STATUS_URL, form("status_sent.txt"))
    assert response.status_code in (200, 204)
    response = post_twilio(client, STATUS_URL, form("status_delivered.txt"))
    assert response.status_code in (200, 204)
    sent_reply.refresh_from_db()
    assert sent_reply.status == "delivered"
    assert sent_reply.delivered_at is not None


def test_a_late_sent_callback_never_moves_a_delivered_reply_back(client, sent_reply, commit):
    post_twilio(client, STATUS_URL, form("status_delivered.txt"))
    post_twilio(client, STATUS_URL, form("status_sent.txt"))
    sent_reply.refresh_from_db()
    assert sent_reply.status == "delivered"
    assert InboundEvent.objects.filter(kind="status", processed_at__isnull=False).count() == 2


def test_an_undelivered_callback_fails_the_reply_with_twilios_code_and_a_human_reason(client, sent_reply, commit):
    post_twilio(client, STATUS_URL, form("status_undelivered.txt"))
    sent_reply.refresh_from_db()
    assert (sent_reply.status, sent_reply.error_code) == ("failed", "30003")
    assert "Unreachable" in sent_reply.error_detail


def test_queued_and_sending_callbacks_change_nothing(client, sent_reply, commit):
    for status in ("queued", "sending"):
        post_twilio(client, STATUS_URL, form("status_sent.txt", MessageStatus=status, SmsStatus=status))
    sent_reply.refresh_from_db()
    assert sent_reply.status == "sent"


def test_a_replayed_status_callback_is_stored_once(client, sent_reply, commit):
    post_twilio(client, STATUS_URL, form("status_delivered.txt"))
    post_twilio(client, STATUS_URL, form("status_delivered.txt"))
    assert InboundEvent.objects.filter(kind="status").count() == 1


def test_a_status_callback_without_a_status_is_a_400(client, sent_reply, commit):
    body = form("status_sent.txt", MessageStatus="")
    assert post_twilio(client, STATUS_URL, body).status_code == 400


def test_a_callback_for_a_message_not_yet_known_is_kept_for_a_retry(client, sms_inbox, commit):
    post_twilio(client, STATUS_URL, form("status_delivered.txt"))
    event = InboundEvent.objects.get(kind="status")
    # Our send may not have committed the sid yet: the sweeper tries again later.
    assert event.processed_at is None
    assert "MessageNotYetKnown" in event.error


def test_the_inbound_sms_is_the_same_sms_inbox(sms_inbox):
    # Guard for the fixtures above: they text the number the sms_inbox fixture owns.
    assert sms_inbox.external_id == SMS_NUMBER == dict(parse_qsl(form("inbound_sms.txt")))["To"]
