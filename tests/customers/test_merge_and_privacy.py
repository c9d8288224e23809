"""Merging two records of one person, and the privacy export and erasure."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from customers.models import ConsentEvent, Customer, ErasureRecord, Identity, MergeRecord, Order
from customers.services import consent_record, customer_erase, customer_merge
from inbox.models import Conversation, InboundEvent, Message
from tests.conftest import load_fixture

from .conftest import post_shopify, thread_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane_twice(client, messenger_inbox):
    """Jane wrote on Messenger (one record) and bought on Shopify (another record)."""
    chat = thread_with(inbox=messenger_inbox, channel="messenger", external_id="6543210987654321",
                       texts=["Where is my order?", "It was #1042"], name="Jane Doe")
    post_shopify(client, "orders/create", load_fixture("shopify/order_create.json"))
    buyer = Order.objects.get().customer
    consent_record(customer=buyer, channel="email", purpose="marketing", granted=True, source="checkout")
    return chat.customer, buyer, chat


def test_merge_moves_every_message_order_identity_and_consent_and_keeps_an_audit(jane_twice, alice):
    chatter, buyer, chat = jane_twice
    messages_before = set(Message.objects.values_list("id", flat=True))

    record = customer_merge(kept=chatter, other=buyer, by=alice)

    chatter.refresh_from_db()
    buyer.refresh_from_db()
    assert buyer.merged_into_id == chatter.pk
    assert list(Order.objects.values_list("customer_id", flat=True)) == [chatter.pk]
    assert set(Message.objects.filter(conversation__customer=chatter).values_list("id", flat=True)) == messages_before
    assert set(Conversation.objects.values_list("customer_id", flat=True)) == {chatter.pk}
    assert set(Identity.objects.values_list("customer_id", flat=True)) == {chatter.pk}
    assert Identity.objects.filter(customer=chatter).count() == 3
    assert ConsentEvent.objects.get().customer_id == chatter.pk
    assert chatter.email == "jane.doe@example.com"
    assert MergeRecord.objects.get() == record
    assert record.merged_snapshot["orders"] == ["1042"]
    assert record.by == alice


def test_a_merged_customer_cannot_be_merged_again(jane_twice):
    chatter, buyer, _chat = jane_twice
    customer_merge(kept=chatter, other=buyer)

    from customers.services import MergeRefused

    with pytest.raises(MergeRefused):
        customer_merge(kept=chatter, other=buyer)


def test_the_export_holds_profile_identities_consent_orders_and_messages(jane_twice):
    chatter, buyer, _chat = jane_twice
    customer_merge(kept=chatter, other=buyer)
    from customers.selectors import customer_export

    export = customer_export(customer=chatter)

    json.dumps(export)  # plain JSON all the way down
    assert export["profile"]["email"] == "jane.doe@example.com"
    assert {i["external_id"] for i in export["identities"]} == {
        "6543210987654321", "jane.doe@example.com", "+15415550142",
    }
    assert export["orders"][0]["number"] == "1042"
    assert [i["title"] for i in export["orders"][0]["items"]] == ["Linen Shirt - M / Sand", "Canvas Tote"]
    assert export["consent_ledger"][0]["source"] == "checkout"
    threads = export["inbox.conversation"]
    assert [m["text"] for m in threads[0]["messages"]] == ["Where is my order?", "It was #1042"]


def _rows_mentioning(values: list[str]) -> list[str]:
    """Every table and column in the database whose text holds one of `values`."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        for table, column in cursor.fetchall():
            for value in values:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s', [f"%{value}%"]
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column}: {value}")
    return found


def test_erasure_leaves_no_personal_data_anywhere_and_keeps_an_audit(jane_twice, alice):
    chatter, buyer, chat = jane_twice
    customer_merge(kept=chatter, other=buyer, by=alice)
    InboundEvent.objects.create(provider="meta", dedupe_key="m_Gh8Qp2LxV0aZ", kind="message", payload={
        "sender": {"id": "6543210987654321"}, "recipient": {"id": "104857600000001"},
        "timestamp": 1740843005000, "message": {"mid": "m_Gh8Qp2LxV0aZ", "text": "Where is my order?"},
    })
    personal = ["Jane", "jane.doe@example.com", "5550142", "6543210987654321", "Where is my order", "Elm Street"]
    assert _rows_mentioning(personal)  # the check can see them before

    customer_erase(customer=chatter, by=alice)

    assert _rows_mentioning(personal) == []
    chatter.refresh_from_db()
    assert chatter.erased_at is not None and chatter.name == "" and chatter.email == "" and chatter.phone == ""
    assert Message.objects.filter(conversation=chat).count() == 2
    assert set(Message.objects.values_list("text", flat=True)) == {""}
    assert not Identity.objects.filter(customer=chatter).exclude(external_id__startswith="erased-").exists()
    audit = ErasureRecord.objects.get()
    assert audit.customer_id == chatter.pk and audit.by == alice
    assert Order.objects.get().total  # the books keep the amount
    assert Customer.objects.filter(pk=buyer.pk, erased_at__isnull=False).exists()
