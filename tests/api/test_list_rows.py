"""The list answers its rows without DRF's field machinery (inbox.api.serializers.conversation_rows,
built by the realtime frames' builder): every row must equal ConversationSerializer's object for the
same conversation and agent, which is what the OpenAPI schema describes and the detail URL answers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from inbox.api.serializers import ConversationSerializer, conversation_rows
from inbox.conversations import selectors
from inbox.models import ConversationRead, ConversationStatus
from inbox.realtime import frames

from .conversation_factories import conversation_make, customer_says

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def _json(data):
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _sla_state(now):
    def at(delta):
        return (now + delta).isoformat()

    return {
        "policy": {"id": 7, "name": "VIP"},
        "targets": [
            {"target": "first_response", "started_at": at(-timedelta(hours=2)), "due_at": at(-timedelta(hours=1)),
             "met_at": at(-timedelta(minutes=90)), "stopped_at": None},
            {"target": "resolution", "started_at": at(-timedelta(hours=2)), "due_at": at(timedelta(minutes=30)),
             "met_at": None, "stopped_at": None},
        ],
    }


@pytest.fixture
def frozen():
    # One instant for the rows, the list and the serializer (seconds_left, window states).
    with time_machine.travel("2026-11-20 10:00:00+00:00", tick=False):
        yield


@pytest.fixture
def variety(frozen, messenger_inbox, email_inbox, sms_inbox, bob):
    now = timezone.now()
    rows = [
        # Window open, labels, unread and never opened by bob.
        conversation_make(messenger_inbox, name="Ada", customer_wrote_ago=timedelta(hours=1), assignee=bob,
                          labels=["vip", "refund"], unread_count=2, last_inbound_at=now - timedelta(hours=1)),
        # HUMAN_AGENT period, opened by bob after the customer wrote: read.
        conversation_make(messenger_inbox, name="Bo", customer_wrote_ago=timedelta(days=3), unread_count=1,
                          last_inbound_at=now - timedelta(days=3), priority="urgent"),
        # Window closed, an SLA policy with a met and a running target.
        conversation_make(messenger_inbox, customer_wrote_ago=timedelta(days=9), sla_state=_sla_state(now),
                          sla_next_due_at=now + timedelta(minutes=30)),
        # A comment thread (no window), opened by bob before the customer wrote again: unread.
        conversation_make(messenger_inbox, name="Cy", customer_wrote_ago=timedelta(minutes=5),
                          thread_key="comments:post_1", unread_count=3, last_inbound_at=now - timedelta(minutes=5)),
        # An email thread with a subject, snoozed.
        conversation_make(email_inbox, subject="Where is my parcel?", status=ConversationStatus.SNOOZED,
                          snoozed_until=now + timedelta(hours=3)),
        # SMS: a customer known by their phone number only.
        conversation_make(sms_inbox),
    ]
    customer_says(rows[4], "hello")
    ConversationRead.objects.create(user=bob, conversation=rows[1], read_at=now - timedelta(days=1))
    ConversationRead.objects.create(user=bob, conversation=rows[3], read_at=now - timedelta(hours=1))
    return rows


def test_every_list_row_equals_the_serializers_object_for_that_agent(api, bob, variety):
    listed = _json(api(bob).get(URL, {"page_size": 50}).json()["results"])
    assert len(listed) == len(variety)
    expected = {
        c.pk: _json(ConversationSerializer(c).data) for c in selectors.conversations_visible(user=bob)
    }
    for row in listed:
        assert row == expected[row["id"]]
    by_id = {row["id"]: row for row in listed}
    # The cases above are really there (a shape that lost a field would pass them all as null).
    assert by_id[variety[0].pk]["labels"] == ["refund", "vip"] and by_id[variety[0].pk]["unread"] is True
    assert by_id[variety[1].pk]["unread"] is False and by_id[variety[1].pk]["read_at"] is not None
    assert by_id[variety[3].pk]["unread"] is True and by_id[variety[3].pk]["thread"]["kind"] == "comments"
    assert by_id[variety[2].pk]["sla"]["targets"][1]["seconds_left"] == 1800
    assert {row["window"]["state"] for row in listed if row["window"]} == {"open", "human_agent", "closed"}
    # The customer as str(customer) names them: by name, email, phone, or "Customer <id>".
    names = {row["customer"]["name"] for row in listed}
    assert {"Ada", "Bo", "Cy"} <= names
    assert any("@" in n for n in names) and any(n.startswith("+1") for n in names)
    assert any(n.startswith("Customer ") for n in names)


def test_search_rows_carry_the_same_snippet_as_the_serializer_would(api, bob, variety):
    customer_says(variety[0], "my parcel never came")
    listed = api(bob).get(URL, {"q": "parcel"}).json()["results"]
    assert listed and all(row["snippet"] for row in listed)
    page = list(selectors.conversations_listed(user=bob).filter(pk__in=[row["id"] for row in listed]))
    snippets = selectors.search_snippets(page, q="parcel")
    for conversation in page:
        conversation.search_snippet = snippets.get(conversation.pk)
    rows = sorted(_json(conversation_rows(page)), key=lambda r: r["id"])
    assert rows == sorted(_json(ConversationSerializer(page, many=True).data), key=lambda r: r["id"])
    assert rows == sorted(listed, key=lambda r: r["id"])


def test_bulk_results_are_list_rows(api, bob, variety):
    response = api(bob).post(f"{URL}bulk/", {"ids": [variety[1].pk], "action": "resolve"}, format="json")
    assert response.status_code == 200, response.content
    row = response.json()["results"][0]["conversation"]
    fresh = selectors.conversations_visible(user=bob).get(pk=variety[1].pk)
    assert row["status"] == "resolved"
    assert {k: v for k, v in row.items() if k != "sla"} == {
        k: v for k, v in _json(ConversationSerializer(fresh).data).items() if k != "sla"
    }


def test_a_page_reads_labels_in_its_own_query_and_no_column_it_does_not_show(api, bob, variety):
    with CaptureQueriesContext(connection) as queries:
        assert api(bob).get(URL).status_code == 200
    page = [q["sql"] for q in queries if 'FROM "inbox_conversation"' in q["sql"]]
    assert len(page) == 1, page
    assert "customers_label" in page[0]  # the label names, as an array of the same query
    for column in ('"settings"', '"credentials"', '"notes"', '"reply_token"'):
        assert column not in page[0]
    assert not any('FROM "customers_label"' in q["sql"] for q in queries if q["sql"] not in page)


def test_a_frame_never_carries_an_agents_read_state_even_from_a_row_read_for_one(bob, variety):
    row = selectors.conversations_listed(user=bob).get(pk=variety[1].pk)
    assert getattr(row, selectors.READ_AT) is not None
    frame = frames.conversation_data(row)
    assert (frame["read_at"], frame["unread"], frame["snippet"]) == (None, None, None)
    mine = frames.conversation_data(row, viewer=True)
    assert mine["read_at"] is not None and mine["unread"] is False
