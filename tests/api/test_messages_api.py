"""The thread, replies and notes over /api/v1/conversations/{id}/messages/ and /notes/.

Replies are posted with their on-commit work run (the send task is eager in tests), against the
fake Graph and Twilio APIs: what the fake received is what a customer would get.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.services import consent_record
from inbox.models import Message
from tests.conftest import PAGE_ID

from .conversation_factories import conversation_make, customer_says


def thread_url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/"


@pytest.fixture
def post_committed(django_capture_on_commit_callbacks):
    """POST as the browser would, then run what the request queued for after its commit."""

    def post(client, url: str, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, format="json")

    return post


def in_window(messenger_inbox, ago=timedelta(minutes=10)):
    return conversation_make(messenger_inbox, customer_wrote_ago=ago)


# --- The thread ------------------------------------------------------------------------------------


def test_the_thread_is_newest_first_and_includes_private_notes(api, bob, messenger_inbox):
    conversation = in_window(messenger_inbox)
    now = timezone.now()
    first = customer_says(conversation, "Hi, my order is late", at=now - timedelta(minutes=3))
    second = customer_says(conversation, "Order #1042", at=now - timedelta(minutes=2))
    client = api(bob)
    note = client.post(f"/api/v1/conversations/{conversation.pk}/notes/", {"text": "Checking with the warehouse"},
                       format="json").json()

    results = client.get(thread_url(conversation)).json()["results"]
    assert [m["id"] for m in results] == [note["id"], second.pk, first.pk]
    assert [m["is_private"] for m in results] == [True, False, False]
    assert results[1]["sender"] == {"type": "customer", "id": conversation.customer_id}
    assert results[0]["sender"] == {"type": "agent", "id": bob.pk}


def test_older_messages_come_page_by_page_each_once(api, bob, messenger_inbox):
    conversation = in_window(messenger_inbox)
    at = timezone.now() - timedelta(hours=1)
    made = [customer_says(conversation, f"message {i}", at=at + timedelta(seconds=i // 2)) for i in range(7)]
    client = api(bob)

    seen, url = [], thread_url(conversation) + "?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [m["id"] for m in body["results"]]
        url = body["next"]
    assert seen == [m.pk for m in reversed(made)]


def _thread_queries(client, conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(thread_url(conversation), {"page_size": 50})
    assert response.status_code == 200
    return len(queries)


def test_the_thread_costs_the_same_number_of_queries_for_5_or_30_messages(api, bob, messenger_inbox):
    conversation = in_window(messenger_inbox)
    client = api(bob)
    for i in range(5):
        customer_says(conversation, f"hello {i}")
    few = _thread_queries(client, conversation)
    for i in range(25):
        customer_says(conversation, f"more {i}")
    assert _thread_queries(client, conversation) == few


# --- Replies ---------------------------------------------------------------------------------------


def test_a_reply_inside_the_window_is_sent_once_and_marked_sent(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox)
    response = post_committed(api(bob), thread_url(conversation), {"text": "Your parcel left today."})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["direction"], body["text"], body["sender"]) == ("out", "Your parcel left today.", {"type": "agent", "id": bob.pk})
    calls = fake_provider.sent()
    assert len(calls) == 1
    assert calls[0].path == f"/v24.0/{PAGE_ID}/messages"
    sent = calls[0].json()
    assert sent["message"]["text"] == "Your parcel left today."
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent
    message = Message.objects.get(pk=body["id"])
    assert message.status == "sent" and message.external_id.startswith("m_fake")


def test_a_reply_after_the_window_closed_is_refused_and_never_reaches_meta(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox, ago=timedelta(hours=30))
    response = post_committed(api(bob), thread_url(conversation), {"text": "Sorry for the wait"})

    assert response.status_code == 409
    assert response.json()["code"] == "window_closed"
    assert "HUMAN_AGENT" in response.json()["detail"]
    assert fake_provider.sent() == []
    assert not conversation.messages.exists()


def test_a_human_agent_reply_is_allowed_between_24_hours_and_7_days(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox, ago=timedelta(hours=30))
    response = post_committed(api(bob), thread_url(conversation), {"text": "Sorry for the wait", "tag": "HUMAN_AGENT"})

    assert response.status_code == 201, response.content
    assert response.json()["tag"] == "HUMAN_AGENT"
    (call,) = fake_provider.sent()
    assert (call.json()["messaging_type"], call.json()["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_after_7_days_even_a_human_agent_reply_is_refused(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox, ago=timedelta(days=7, hours=1))
    response = post_committed(api(bob), thread_url(conversation), {"text": "Still there?", "tag": "HUMAN_AGENT"})

    assert (response.status_code, response.json()["code"]) == (409, "window_closed")
    assert fake_provider.sent() == []


def test_a_retired_tag_is_a_400(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox, ago=timedelta(hours=30))
    response = post_committed(api(bob), thread_url(conversation), {"text": "Order shipped", "tag": "POST_PURCHASE_UPDATE"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_tag")
    assert fake_provider.sent() == []


def test_a_reply_over_the_channels_limit_is_too_long(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox)
    response = post_committed(api(bob), thread_url(conversation), {"text": "x" * 2001})

    assert (response.status_code, response.json()["code"]) == (400, "too_long")
    assert fake_provider.sent() == []
    assert not conversation.messages.exists()


def test_a_reply_to_a_customer_who_opted_out_is_refused(api, bob, sms_inbox, fake_provider, post_committed):
    conversation = conversation_make(sms_inbox)
    consent_record(customer=conversation.customer, channel="sms", purpose="transactional", granted=False, source="api")
    response = post_committed(api(bob), thread_url(conversation), {"text": "One more thing"})

    assert (response.status_code, response.json()["code"]) == (409, "opted_out")
    assert fake_provider.sent() == []


def test_an_sms_reply_goes_to_twilio(api, bob, sms_inbox, fake_provider, post_committed):
    conversation = conversation_make(sms_inbox)
    response = post_committed(api(bob), thread_url(conversation), {"text": "Your code is ready"})

    assert response.status_code == 201
    (call,) = fake_provider.sent()
    assert call.path.endswith("/Messages.json")
    assert call.form()["Body"] == "Your code is ready"
    assert call.form()["To"] == conversation.customer.phone


def test_quick_replies_go_under_the_text_on_messenger(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox)
    body = {"text": "Was this helpful?", "quick_replies": [{"title": "Yes", "payload": "HELPFUL_YES"}]}
    response = post_committed(api(bob), thread_url(conversation), body)

    assert response.status_code == 201, response.content
    (call,) = fake_provider.sent()
    assert call.json()["message"]["quick_replies"] == [{"content_type": "text", "title": "Yes", "payload": "HELPFUL_YES"}]


def test_quick_replies_are_refused_on_sms(api, bob, sms_inbox, fake_provider, post_committed):
    conversation = conversation_make(sms_inbox)
    body = {"text": "Was this helpful?", "quick_replies": [{"title": "Yes", "payload": "Y"}]}
    response = post_committed(api(bob), thread_url(conversation), body)

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert fake_provider.sent() == []


# --- Notes -----------------------------------------------------------------------------------------


def test_a_note_is_kept_private_and_never_sent(api, bob, messenger_inbox, fake_provider, post_committed):
    conversation = in_window(messenger_inbox)
    response = post_committed(api(bob), f"/api/v1/conversations/{conversation.pk}/notes/", {"text": "VIP, be nice"})

    assert response.status_code == 201
    assert response.json()["is_private"] is True
    assert fake_provider.sent() == []
    assert Message.objects.get(pk=response.json()["id"]).is_private
