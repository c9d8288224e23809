"""Inbound email through django-anymail's webhooks (Mailgun, Postmark): stored once, threaded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from customers.models import Identity
from inbox.models import Conversation, Direction, InboundEvent, Message, MessageStatus
from inbox.providers.email import reply_strip

from ..conftest import MAILBOX

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
SIGNING_KEY = "key-test"
WEBHOOK_SECRET = "anymail:hook-secret-1"
MAILGUN_URL = "/webhooks/anymail/mailgun/inbound/"
POSTMARK_URL = "/webhooks/anymail/postmark/inbound/"


@pytest.fixture(autouse=True)
def anymail_settings(settings, tmp_path):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    # Postmark has no signing key: it is routed only when named.
    settings.ANYMAIL_INBOUND_ESPS = ["mailgun", "postmark"]
    settings.MEDIA_ROOT = tmp_path
    return settings


def basic_auth(secret: str = WEBHOOK_SECRET) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def mailgun_form(*, headers: dict[str, str] | None = None, token: str | None = None, **fields) -> dict[str, str]:
    """The fixture's form fields with some headers replaced, signed as Mailgun signs them."""
    form = json.loads((FIXTURES / "mailgun_inbound.json").read_text())
    pairs = json.loads(form["message-headers"])
    for name, value in (headers or {}).items():
        pairs = [p for p in pairs if p[0].lower() != name.lower()]
        if value is not None:
            pairs.append([name, value])
    form["message-headers"] = json.dumps(pairs)
    if token:
        form["token"] = token
    form.update(fields)
    digest = hmac.new(SIGNING_KEY.encode(), (form["timestamp"] + form["token"]).encode(), hashlib.sha256)
    form["signature"] = digest.hexdigest()
    return form


def post_mailgun(client, form: dict[str, str], *, auth: str | None = None):
    extra = {"HTTP_AUTHORIZATION": auth if auth is not None else basic_auth()} if auth != "" else {}
    return client.post(MAILGUN_URL, data=form, **extra)


def post_postmark(client, payload: dict, *, auth: str | None = None):
    return client.post(
        POSTMARK_URL, data=json.dumps(payload), content_type="application/json",
        HTTP_AUTHORIZATION=auth or basic_auth(),
    )


def test_mailgun_signature_matches_the_documented_example():
    digest = hmac.new(b"key-test", b"1770920772e0b5477167110d68991efc6b9f89f0a11066af27834600e123", hashlib.sha256)
    assert digest.hexdigest() == "097ff1603ce0947833a030fe6b23a46d9597fc9835f074f252b2e662274fb61c"


def test_a_signed_mailgun_post_becomes_a_conversation_with_the_customer_by_normalised_email(
    client, email_inbox, commit
):
    response = post_mailgun(client, mailgun_form())

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.direction == Direction.IN and message.status == MessageStatus.RECEIVED
    assert message.email_message_id == "<CAF3u1q9T+hX2p0Q@mail.gmail.com>"
    assert message.external_id == "<CAF3u1q9T+hX2p0Q@mail.gmail.com>"
    assert message.subject == "Where is my order #1001?"
    conversation = message.conversation
    assert conversation.inbox == email_inbox and conversation.channel == "email"
    assert conversation.subject == "Where is my order #1001?"
    assert conversation.identity.external_id == "jane.doe@example.com"
    assert conversation.customer.email == "jane.doe@example.com"
    assert conversation.customer.name == "Jane Doe"
    assert conversation.team == email_inbox.team
    assert InboundEvent.objects.get().processed_at is not None


def test_it_keeps_mailguns_stripped_text_without_the_quoted_history(client, email_inbox, commit):
    post_mailgun(client, mailgun_form())

    message = Message.objects.get()
    assert message.text.startswith("Hi,")
    assert "arrived yet" in message.text
    assert "wrote:" not in message.text and "> Thank you" not in message.text
    assert "gmail_quote" in message.html


def test_without_stripped_text_it_strips_the_quote_itself(client, email_inbox, commit):
    post_mailgun(client, mailgun_form(**{"stripped-text": ""}))

    text = Message.objects.get().text
    assert text == "Hi,\n\nI ordered a lamp last week and it has not arrived yet. Can you check?\n\nThanks,\nJane"


@pytest.mark.parametrize(
    "auth, signature",
    [
        ("", None),  # no basic auth at all
        (basic_auth("anymail:wrong"), None),
        (None, "0" * 64),  # right auth, forged signature
    ],
    ids=["missing-basic-auth", "wrong-basic-auth", "bad-signature"],
)
def test_it_refuses_bad_auth_or_signature_and_stores_nothing(client, email_inbox, commit, auth, signature):
    form = mailgun_form()
    if signature:
        form["signature"] = signature

    response = post_mailgun(client, form, auth=auth)

    assert 400 <= response.status_code < 500
    assert response.json()["code"] == "bad_signature"
    assert not InboundEvent.objects.exists() and not Message.objects.exists()


def test_it_refuses_everything_while_no_webhook_secret_is_set(client, email_inbox, commit, settings):
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}

    response = post_mailgun(client, mailgun_form())

    assert response.status_code == 403
    assert response.json()["code"] == "not_configured"
    assert not InboundEvent.objects.exists()


def test_the_same_message_id_posted_twice_is_stored_once(client, email_inbox, commit):
    first = post_mailgun(client, mailgun_form(token="a" * 50))
    # Mailgun's retry carries a fresh token; the Message-ID is what makes it the same mail.
    second = post_mailgun(client, mailgun_form(token="b" * 50))

    assert first.status_code == second.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_a_malformed_mailgun_post_is_a_400_not_a_500(client, email_inbox, commit):
    form = mailgun_form()
    form["message-headers"] = "not json"

    response = post_mailgun(client, form)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload"
    assert not InboundEvent.objects.exists()


def test_mail_for_an_address_no_inbox_owns_is_acknowledged_and_not_stored(client, email_inbox, commit):
    form = mailgun_form(headers={"To": "someone@elsewhere.example"}, recipient="someone@elsewhere.example")

    response = post_mailgun(client, form)

    assert response.status_code == 200
    # The request stores it unparsed; the worker finds no inbox owns it and drops it.
    assert InboundEvent.objects.get().processed_at is not None
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_it_answers_503_when_the_database_cannot_store(client, email_inbox, settings):
    """A real lock held by another connection, and a short lock timeout: the INSERT fails."""
    params = connection.get_connection_params()
    dsn = {k: params[k] for k in ("host", "port", "user", "dbname") if params.get(k)}
    with psycopg.connect(**dsn) as other:
        other.execute("LOCK TABLE inbox_inboundevent IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")
        response = post_mailgun(client, mailgun_form())
        other.rollback()

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert not InboundEvent.objects.exists()


def test_a_postmark_inbound_json_becomes_a_message_with_its_attachment(client, email_inbox, commit, settings):
    payload = json.loads((FIXTURES / "postmark_inbound.json").read_text())

    response = post_postmark(client, payload)

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.email_message_id == "<CAGXpo2WKfxHWZ5UFYCR3H_J9SNMG+5AXUovfEFL6DjWBJSyZaA@mail.gmail.com>"
    assert message.text == "Hello, could you send me a return label? The mug arrived broken (photo attached).\n\nJane"
    assert message.conversation.customer.email == "jane.doe@example.com"
    [attachment] = message.attachments
    assert attachment["name"] == "broken-mug.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["size"] == 70
    stored = Path(settings.MEDIA_ROOT) / attachment["url"].removeprefix(settings.MEDIA_URL)
    assert stored.read_bytes().startswith(b"\x89PNG")


def test_postmark_with_a_wrong_password_stores_nothing(client, email_inbox, commit):
    payload = json.loads((FIXTURES / "postmark_inbound.json").read_text())

    response = post_postmark(client, payload, auth=basic_auth("anymail:guess"))

    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


# --- Threading -------------------------------------------------------------------------------------


def _conversation_of(message_id: str) -> Conversation:
    return Message.objects.get(email_message_id=message_id).conversation


def test_a_reply_with_in_reply_to_our_message_id_lands_in_the_same_conversation(client, email_inbox, commit, bob):
    from inbox.conversations.reply import reply_send

    post_mailgun(client, mailgun_form())
    conversation = Conversation.objects.get()
    ours = reply_send(conversation=conversation, author=bob, text="It left our warehouse today.")
    ours.refresh_from_db()
    assert ours.email_message_id

    # The customer's client keeps the headers but changes the subject.
    form = mailgun_form(
        token="c" * 50,
        headers={
            "Message-Id": "<second-reply@mail.gmail.com>",
            "In-Reply-To": ours.email_message_id,
            "References": f"<CAF3u1q9T+hX2p0Q@mail.gmail.com> {ours.email_message_id}",
            "Subject": "Thanks!",
        },
    )
    post_mailgun(client, form)

    assert _conversation_of("<second-reply@mail.gmail.com>") == conversation
    assert Conversation.objects.count() == 1
    reply = Message.objects.get(email_message_id="<second-reply@mail.gmail.com>")
    assert reply.email_in_reply_to == ours.email_message_id


def test_a_reply_to_the_reply_token_address_threads_without_any_headers(client, email_inbox, commit):
    post_mailgun(client, mailgun_form())
    conversation = Conversation.objects.get()
    address = f"reply+{conversation.reply_token}@shop.example"

    form = mailgun_form(
        token="d" * 50,
        headers={"Message-Id": "<no-headers@mail.example>", "To": address, "Subject": "and another thing"},
        recipient=address,
    )
    post_mailgun(client, form)

    assert _conversation_of("<no-headers@mail.example>") == conversation


def test_a_new_subject_from_the_same_customer_opens_a_new_conversation_for_the_same_customer(
    client, email_inbox, commit
):
    post_mailgun(client, mailgun_form())
    form = mailgun_form(
        token="e" * 50,
        headers={"Message-Id": "<new-topic@mail.gmail.com>", "Subject": "Gift wrapping?",
                 "From": "jane.doe@example.com"},
    )
    post_mailgun(client, form)

    first = _conversation_of("<CAF3u1q9T+hX2p0Q@mail.gmail.com>")
    second = _conversation_of("<new-topic@mail.gmail.com>")
    assert first != second
    assert first.customer == second.customer
    assert second.subject == "Gift wrapping?"
    assert Identity.objects.filter(channel="email").count() == 1


def test_an_auto_reply_is_stored_but_sets_nothing_off(client, email_inbox, commit):
    from inbox import signals

    heard = []

    def listener(sender, message, **kwargs):
        heard.append(message)

    signals.message_received.connect(listener)
    try:
        post_mailgun(client, mailgun_form(headers={"Auto-Submitted": "auto-replied"}))
        post_mailgun(client, mailgun_form(token="f" * 50, headers={"Message-Id": "<human@mail.gmail.com>"}))
    finally:
        signals.message_received.disconnect(listener)

    auto = Message.objects.get(email_message_id="<CAF3u1q9T+hX2p0Q@mail.gmail.com>")
    assert auto.payload["auto_submitted"] is True
    assert [m.email_message_id for m in heard] == ["<human@mail.gmail.com>"]


def test_addresses_are_matched_whatever_their_case(client, email_inbox, commit):
    form = mailgun_form(headers={"To": "Shop <SUPPORT@Shop.Example>"}, recipient="SUPPORT@Shop.Example")

    post_mailgun(client, form)

    assert Message.objects.get().inbox.external_id == MAILBOX


# --- Quote stripping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Yes please.\n\nOn Mon, 9 Mar 2026 at 10:12, Shop <s@shop.example> wrote:\n> Shall we?\n", "Yes please."),
        # Gmail wraps a long attribution over two lines.
        ("Sure.\n\nOn Mon, 9 Mar 2026 at 10:12, Shop Support Team\n<support@shop.example> wrote:\n> Hi\n", "Sure."),
        ("Fine by me.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\n\nHello", "Fine by me."),
        ("Agreed.\n\nFrom: Shop Support <support@shop.example>\nSent: Monday, 9 March 2026 10:12\nTo: Jane\n",
         "Agreed."),
        ("> quoted first\nmy answer below\n> more quote", "my answer below"),
        ("Nothing quoted here.", "Nothing quoted here."),
    ],
)
def test_reply_strip_keeps_only_the_new_text(text, expected):
    assert reply_strip(text) == expected


def test_a_mailgun_attachment_is_kept_byte_for_byte(client, email_inbox, commit, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pdf = b"%PDF-1.4\r\n%\xe2\xe3\xcf\xd3\r\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
    form = mailgun_form(**{"attachment-count": "1"})
    form["attachment-1"] = SimpleUploadedFile("invoice 1001.pdf", pdf, content_type="application/pdf")

    post_mailgun(client, form)

    [attachment] = Message.objects.get().attachments
    assert attachment["name"] == "invoice 1001.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(pdf)
    stored = Path(settings.MEDIA_ROOT) / attachment["url"].removeprefix(settings.MEDIA_URL)
    assert stored.read_bytes() == pdf
