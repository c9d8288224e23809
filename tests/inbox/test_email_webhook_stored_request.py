"""An inbound email webhook stores the ESP's request as it came; the worker has anymail parse it.

The request runs anymail's validators (basic auth, Mailgun's signature) and a few cheap checks,
stores the request and answers; building the message is the worker's (inbox/intake/esp_requests.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import TextField
from django.db.models.functions import Cast

from customers.models import Customer
from customers.services import customer_erase
from inbox.intake.store import event_process
from inbox.models import Conversation, InboundEvent, Message

from .test_email_inbound import MAILGUN_URL, anymail_settings, basic_auth, mailgun_form, post_mailgun  # noqa: F401

MESSAGE_ID = "<CAF3u1q9T+hX2p0Q@mail.gmail.com>"
RAW_MIME = (
    "Message-ID: <raw.mime.1@mail.example>\r\nFrom: Jane Doe <jane.doe@example.com>\r\nTo: support@shop.example\r\n"
    "Subject: Raw and simple\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello from body-mime.\r\n"
)


def _mime_form(**fields) -> dict[str, str]:
    form = mailgun_form(**fields)
    for name in ("message-headers", "body-plain", "body-html", "stripped-text", "stripped-html"):
        form.pop(name, None)
    form["body-mime"] = RAW_MIME
    return form


@pytest.mark.parametrize("encoding", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_the_request_stores_the_form_unparsed_and_the_worker_makes_the_message(client, email_inbox, db, encoding):
    form = mailgun_form()
    if encoding == "multipart/form-data":
        response = post_mailgun(client, form)
    else:
        response = client.post(MAILGUN_URL, data=urlencode(form), content_type=encoding, HTTP_AUTHORIZATION=basic_auth())

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.processed_at is None and event.dedupe_key == MESSAGE_ID
    payload = event.payload
    assert payload["esp"] == "mailgun" and payload["content_type"].startswith(encoding)
    assert "raw" not in payload and "body" not in payload  # not parsed into MIME in the request
    fields = dict(payload["form"])
    assert fields["recipient"] == "support@shop.example" and fields["sender"] == "jane.doe@example.com"
    assert not Message.objects.exists()

    event_process(event.pk)

    message = Message.objects.get()
    assert message.email_message_id == message.external_id == MESSAGE_ID
    assert message.subject == "Where is my order #1001?"
    assert message.text.startswith("Hi,") and "wrote:" not in message.text  # Mailgun's stripped-text
    assert message.conversation.customer.email == "jane.doe@example.com"
    assert message.conversation.customer.name == "Jane Doe"
    event.refresh_from_db()
    assert event.processed_at is not None and event.error == ""


def test_a_redelivery_is_stored_once_and_received_once(client, email_inbox, commit):
    first = post_mailgun(client, mailgun_form(token="c" * 50))
    second = post_mailgun(client, mailgun_form(token="d" * 50))

    assert first.status_code == second.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Message.objects.count() == 1


def test_a_raw_mime_post_is_keyed_by_its_message_id_and_received(client, email_inbox, commit):
    for token in ("e" * 50, "f" * 50):
        assert post_mailgun(client, _mime_form(token=token)).status_code == 200

    assert InboundEvent.objects.get().dedupe_key == "<raw.mime.1@mail.example>"
    message = Message.objects.get()
    assert message.subject == "Raw and simple" and message.text == "Hello from body-mime."


def test_a_multipart_post_keeps_its_files_and_the_worker_stores_the_attachment(client, email_inbox, db, settings):
    pdf = b"%PDF-1.4\r\n%\xe2\xe3\xcf\xd3\r\n\x00\x01binary\n%%EOF\n"
    form = mailgun_form(**{"attachment-count": "1"})
    form["attachment-1"] = SimpleUploadedFile("invoice 1001.pdf", pdf, content_type="application/pdf")

    assert post_mailgun(client, form).status_code == 200
    event = InboundEvent.objects.get()
    [stored] = event.payload["files"]
    assert stored["field"] == "attachment-1" and stored["name"] == "invoice 1001.pdf"

    event_process(event.pk)

    [attachment] = Message.objects.get().attachments
    assert attachment["name"] == "invoice 1001.pdf" and attachment["size"] == len(pdf)
    assert (Path(settings.MEDIA_ROOT) / attachment["stored"]).read_bytes() == pdf


@pytest.mark.parametrize("auth, signature", [(basic_auth("anymail:wrong"), None), (None, "0" * 64)],
                         ids=["wrong-basic-auth", "bad-signature"])
def test_a_bad_signature_is_refused_before_anything_is_stored(client, email_inbox, db, auth, signature):
    form = mailgun_form()
    if signature:
        form["signature"] = signature

    response = post_mailgun(client, form, auth=auth)

    assert response.status_code == 400 and response.json()["code"] == "bad_signature"
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("change", [
    {"message-headers": "not json"},
    {"message-headers": json.dumps([["Subject", 5]])},
    {"message-headers": json.dumps({"Subject": "a dict"})},
    {"timestamp": "soon"},  # (signed as given: the signature covers it)
    {"event": "delivered"},
    {"attachment-count": "two"},
], ids=["not-json", "not-text", "not-pairs", "timestamp", "tracking-event", "attachment-count"])
def test_input_the_cheap_checks_catch_is_still_a_400_with_nothing_stored(client, email_inbox, db, change):
    response = post_mailgun(client, mailgun_form(**change))

    assert response.status_code == 400 and response.json()["code"] == "bad_payload"
    assert not InboundEvent.objects.exists()


def test_a_request_anymail_cannot_parse_later_is_dropped_by_the_worker_not_retried(client, email_inbox, db):
    # Passes the request's cheap checks; anymail refuses a header with a line break when it builds the message.
    form = mailgun_form(headers={"Subject": "two\nlines"})
    assert post_mailgun(client, form).status_code == 200
    event = InboundEvent.objects.get()

    event_process(event.pk)

    event.refresh_from_db()
    assert event.processed_at is not None and event.error == ""
    assert not Message.objects.exists() and not Conversation.objects.exists()


@pytest.mark.parametrize("processed", [False, True], ids=["unprocessed", "processed"])
def test_an_erasure_finds_and_redacts_the_stored_request(client, email_inbox, db, processed):
    pdf = b"%PDF-1.4 jane.doe@example.com\x00"
    form = mailgun_form(**{"attachment-count": "1"})
    form["attachment-1"] = SimpleUploadedFile("a.pdf", pdf, content_type="application/pdf")
    post_mailgun(client, form)
    event = InboundEvent.objects.get()
    event_process(event.pk)
    customer = Customer.objects.get(email="jane.doe@example.com")
    if not processed:
        InboundEvent.objects.filter(pk=event.pk).update(processed_at=None)

    customer_erase(customer=customer)

    event.refresh_from_db()
    assert event.payload == {"redacted": True} and event.processed_at is not None
    texts = InboundEvent.objects.annotate(text=Cast("payload", TextField())).values_list("text", flat=True)
    assert not any("jane.doe" in t.lower() for t in texts)


def test_a_json_post_is_stored_as_its_body_text_and_an_erasure_finds_it(client, email_inbox, db):
    payload = json.loads((Path(__file__).parent.parent / "fixtures" / "email" / "postmark_inbound.json").read_text())
    response = client.post("/webhooks/anymail/postmark/inbound/", data=json.dumps(payload),
                           content_type="application/json", HTTP_AUTHORIZATION=basic_auth())
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert json.loads(event.payload["body"]) == payload
    event_process(event.pk)
    assert Message.objects.get().attachments[0]["name"] == "broken-mug.png"

    customer_erase(customer=Customer.objects.get(email="jane.doe@example.com"))

    event.refresh_from_db()
    assert event.payload == {"redacted": True}
