"""Email threading trusts headers and reply tokens only from the conversation's own customer.

In-Reply-To, References and reply+<token>@ addresses are the sender's word: anyone who saw a
customer's mail (a CC, a forward, a leaked thread) can quote them. A stranger quoting them gets a
conversation of their own; the customer's reply, from any of their addresses in any case, threads.
"""

from __future__ import annotations

import pytest

from customers.models import Identity
from inbox.conversations.reply import reply_send
from inbox.intake.mailbox import email_store
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db

MAIL = (
    "From: {sender}\r\n"
    "To: {to}\r\n"
    "Subject: {subject}\r\n"
    "Date: Tue, 10 Mar 2026 15:02:05 +0100\r\n"
    "Message-ID: <{mid}@mail.example>\r\n"
    "{extra}"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "{body}\r\n"
)


def receive(*, mid: str, sender: str = "Jane Doe <jane.doe@example.com>", to: str = "support@shop.example",
            subject: str = "Order #1001", extra: str = "", body: str = "Where is my lamp?") -> Message:
    raw = MAIL.format(sender=sender, to=to, subject=subject, mid=mid, extra=extra, body=body).encode()
    email_store(raw=raw, esp="test", fallback_key=mid)
    return Message.objects.get(email_message_id=f"<{mid}@mail.example>")


@pytest.fixture
def janes_thread(email_inbox, commit):
    return receive(mid="jane-first").conversation


def test_a_stranger_quoting_the_customers_message_id_gets_a_conversation_of_their_own(janes_thread):
    intruder = receive(
        mid="mallory-1", sender="Jane Doe <mallory@evil.example>", subject="Re: Order #1001",
        extra="In-Reply-To: <jane-first@mail.example>\r\nReferences: <jane-first@mail.example>\r\n",
        body="Please send the refund to my new card",
    )

    assert intruder.conversation != janes_thread
    assert intruder.conversation.customer != janes_thread.customer
    assert intruder.conversation.identity.external_id == "mallory@evil.example"
    assert list(janes_thread.messages.values_list("text", flat=True)) == ["Where is my lamp?"]


def test_a_stranger_quoting_our_reply_in_references_gets_a_conversation_of_their_own(janes_thread, bob):
    ours = reply_send(conversation=janes_thread, author=bob, text="It left our warehouse today.")
    ours.refresh_from_db()

    intruder = receive(mid="mallory-2", sender="mallory@evil.example",
                       extra=f"References: <unrelated@mail.example> {ours.email_message_id}\r\n")

    assert intruder.conversation != janes_thread
    assert Conversation.objects.count() == 2


def test_a_stranger_writing_to_the_reply_token_address_gets_a_conversation_of_their_own(janes_thread):
    address = f"reply+{janes_thread.reply_token}@shop.example"

    intruder = receive(mid="mallory-3", sender="mallory@evil.example", to=address)

    assert intruder.conversation != janes_thread
    assert intruder.conversation.inbox == janes_thread.inbox


def test_the_customers_own_reply_still_threads_by_headers_whatever_the_case_of_her_address(janes_thread, bob):
    ours = reply_send(conversation=janes_thread, author=bob, text="It left our warehouse today.")
    ours.refresh_from_db()

    reply = receive(mid="jane-second", sender="Jane <Jane.Doe@EXAMPLE.com>", subject="Thanks!",
                    extra=f"In-Reply-To: {ours.email_message_id}\r\n")

    assert reply.conversation == janes_thread


def test_the_customers_reply_to_the_token_address_threads_without_headers(janes_thread):
    address = f"reply+{janes_thread.reply_token}@shop.example"

    reply = receive(mid="jane-third", to=address, subject="and another thing")

    assert reply.conversation == janes_thread


def test_a_reply_from_another_address_of_the_same_customer_threads(janes_thread):
    Identity.objects.create(customer=janes_thread.customer, channel="email", external_id="jane@work.example")

    reply = receive(mid="jane-work", sender="jane@work.example",
                    extra="In-Reply-To: <jane-first@mail.example>\r\n")

    assert reply.conversation == janes_thread
