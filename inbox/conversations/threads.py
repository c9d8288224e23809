"""Conversations as threads: found or made for a person in an inbox, and what a message in or out
does to the thread's row (last message, waiting since, unread, the window)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from customers.models import Customer, Identity
from inbox.conversations.window import window_opened
from inbox.models import META_CHANNELS, PREVIEW_CHARS, Conversation, Inbox, Message
from inbox.realtime import publish as realtime


def conversation_for_identity(*, inbox: Inbox, identity: Identity, subject: str = "", thread_key: str = "") -> Conversation:
    """The chat/SMS thread of this identity in this inbox, created when new (race-safe).

    `thread_key` names another thread with the same person (a post's comments); "" is the DM thread.
    """
    return conversation_find_or_create(inbox=inbox, identity=identity, subject=subject, thread_key=thread_key)[0]


def conversation_find_or_create(
    *, inbox: Inbox, identity: Identity, subject: str = "", thread_key: str = ""
) -> tuple[Conversation, bool]:
    """(conversation, created): `created` when this transaction made it (so it holds nothing else yet)."""
    conversation = Conversation.objects.filter(inbox=inbox, identity=identity, thread_key=thread_key).first()
    if conversation:
        return conversation, False
    try:
        with transaction.atomic():
            conversation = conversation_start(inbox=inbox, identity=identity, subject=subject, thread_key=thread_key)
    except IntegrityError:
        return Conversation.objects.get(inbox=inbox, identity=identity, thread_key=thread_key), False
    return conversation, True


def conversation_start(*, inbox: Inbox, identity: Identity, subject: str = "", thread_key: str = "") -> Conversation:
    """A new conversation, always: email opens one per new subject; chat goes through
    conversation_find_or_create, which keeps one per person (and thread key)."""
    conversation = Conversation.objects.create(
        inbox=inbox,
        customer=identity.customer,
        identity=identity,
        channel=inbox.kind,
        team=inbox.team,
        subject=subject[:300],
        thread_key=thread_key,
    )
    # Nobody can label a row before it is committed: its frame need not ask for labels.
    realtime.conversation_changed(conversation, "conversation.created", labels=[])
    return conversation


def loaded_relations(locked: Conversation, *, inbox: Inbox, earlier: Conversation, customer: Customer | None = None) -> None:
    """Give the freshly locked row the inbox and customer this call already read, so its frames
    ask nothing more after commit."""
    if locked.inbox_id == inbox.pk:
        locked.inbox = inbox
    if customer is None and Conversation.customer.is_cached(earlier):
        customer = earlier.customer
    if customer is not None and customer.pk == locked.customer_id:
        locked.customer = customer


def _preview_note(conversation: Conversation, message: Message | None, fields: list[str]) -> None:
    """The list's preview follows the latest message (the caller checked it is the latest)."""
    if message is None:
        return
    conversation.last_message_text = " ".join((message.text or "").split())[:PREVIEW_CHARS]
    conversation.last_message_direction = message.direction
    conversation.last_message_sender_type = message.sender_type
    fields += ["last_message_text", "last_message_direction", "last_message_sender_type"]


def note_inbound(conversation: Conversation, *, at: datetime, customer_action: bool, expects_answer: bool = True, message: Message | None = None) -> None:
    """A customer message at `at` (`message`, for the list's preview) on a locked conversation row."""
    fields = ["last_message_at", "last_inbound_at", "waiting_since", "unread_count"]
    if conversation.last_message_at is None or at >= conversation.last_message_at:
        conversation.last_message_at = at
        _preview_note(conversation, message, fields)
    if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
        conversation.last_inbound_at = at
    # A customer's answer to a satisfaction survey (`expects_answer=False`) asks nothing of anyone:
    # it neither waits for a reply nor reopens the conversation.
    if expects_answer and (conversation.waiting_since is None or at < conversation.waiting_since):
        conversation.waiting_since = at
    if customer_action and conversation.channel in META_CHANNELS:
        customer_action_note(conversation, at=at, save=False)
        fields += ["last_customer_action_at", "window_expires_at"]
    # The row is locked (select_for_update) since it was read: the count read is the count to add to.
    conversation.unread_count += 1 if expects_answer else 0
    # Reopening a resolved or snoozed thread when the customer writes is an automation rule now
    # (inbox/rules/defaults.py, "Reopen when the customer writes"), run by message_receive.
    conversation.save(update_fields=fields)


def customer_action_note(conversation: Conversation, *, at: datetime, save: bool = True) -> None:
    """A message, postback, reaction or referral: (re)opens the 24 h window from `at`."""
    if window_opened(conversation, at=at) and save:
        conversation.save(update_fields=["last_customer_action_at", "window_expires_at"])
        realtime.conversation_changed(conversation, "conversation.updated")


def note_outbound(conversation: Conversation, *, at: datetime, human: bool, message: Message | None = None) -> None:
    """A reply (or echo, or automated message) at `at` (`message`, for the list's preview)."""
    fields = ["last_message_at"]
    if conversation.last_message_at is None or at >= conversation.last_message_at:
        conversation.last_message_at = at
        _preview_note(conversation, message, fields)
    if human and conversation.waiting_since is not None:
        conversation.waiting_since = None
        conversation.unread_count = 0
        fields += ["waiting_since", "unread_count"]
    conversation.save(update_fields=fields)
