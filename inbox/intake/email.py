"""Inbound email (stored by inbox/intake/mailbox.py) threaded into a conversation and received.

Threading, most certain first: In-Reply-To/References naming a message of ours or of the thread
(RFC 5322 3.6.4); then the reply+<token>@ address our outbound mail sets as Reply-To (clients that
drop threading headers still keep the address); else a new conversation.

Headers and tokens are the sender's word: anyone can quote a Message-ID or write to a reply+
address. So they thread a mail into a conversation only when its From address is one of that
conversation's customer's email identities; a stranger quoting them gets a conversation of their own.

A `Content-Language` header ("fr", "el-GR") names the message's language: its search configuration,
and the customer's language while none is set (inbox/conversations/languages.py).
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError

from customers.language import language_from_header
from customers.models import Channel, Identity
from customers.services import email_normalise, identity_resolve
from inbox.conversations.receive import message_receive
from inbox.conversations.threads import conversation_start
from inbox.intake.esp_requests import UnparsableRequest, inbound_messages
from inbox.models import Conversation, InboundEvent, Inbox, Message
from inbox.providers.base import InboundMessage
from inbox.providers.email import (
    MESSAGE_ID_RE,
    addresses_of,
    attachment_store,
    bodies,
    conversation_for_token,
    dedupe_key_for,
    inbox_for_addresses,
    is_automatic,
    message_id_of,
    message_timestamp,
    parse_message,
    recipient_addresses,
    referenced_ids,
    reply_strip,
    reply_tokens,
)

logger = logging.getLogger(__name__)


def handle(event: InboundEvent) -> None:
    payload = event.payload
    if "content_type" not in payload:  # a raw message (IMAP)
        _receive(event, parse_message(payload), fallback_key=event.dedupe_key, esp=payload.get("esp", ""),
                 envelope_recipient=payload.get("envelope_recipient") or "", stripped_text=payload.get("stripped_text") or "",
                 inbox_id=payload.get("inbox_id"))
        return
    try:  # an ESP's webhook request, checked when it came; anymail parses it now
        messages = inbound_messages(payload)
    except UnparsableRequest as exc:
        logger.warning("email %s: the %s request cannot be parsed (%s); dropped", event.dedupe_key, payload.get("esp"), exc)
        return
    for n, msg in enumerate(messages):
        _receive(event, msg, fallback_key=event.dedupe_key if len(messages) == 1 else f"{event.dedupe_key}:{n}",
                 esp=payload["esp"], envelope_recipient=msg.envelope_recipient or "", stripped_text=msg.stripped_text or "")


def _receive(event: InboundEvent, msg, *, fallback_key: str, esp: str, envelope_recipient: str, stripped_text: str,
             inbox_id: int | None = None) -> None:
    addresses = recipient_addresses(msg, [envelope_recipient])
    tokens = reply_tokens(addresses)
    inbox = None
    if inbox_id:  # fetched from this inbox's own mailbox (IMAP)
        inbox = Inbox.objects.select_related("team").filter(pk=inbox_id, kind=Channel.EMAIL).first()
    inbox = inbox or inbox_for_addresses(addresses)
    if inbox is None:
        token_conversation = next((c for c in map(conversation_for_token, tokens) if c), None)
        inbox = token_conversation.inbox if token_conversation else None
    if inbox is None:
        logger.info("email %s: no inbox owns %s; acknowledged, not stored", event.dedupe_key, addresses)
        return

    senders = addresses_of(msg, ("From",)) or addresses_of(msg, ("Reply-To",))
    if not senders:
        logger.warning("email %s has no From address; dropped", event.dedupe_key)
        return
    sender_name, sender_addr = senders[0]
    try:
        sender_addr = email_normalise(sender_addr)
    except ValidationError:
        logger.warning("email %s: unusable From %r; dropped", event.dedupe_key, sender_addr)
        return
    if sender_addr == inbox.external_id.lower():
        logger.info("email %s is from the inbox itself (a loop or a copy); ignored", event.dedupe_key)
        return

    message_id = message_id_of(msg)
    external_id = dedupe_key_for(message_id, fallback_key)
    if Message.objects.filter(inbox=inbox, external_id=external_id).exists():
        return  # before creating a conversation a duplicate would leave empty

    conversation = _thread_conversation(inbox=inbox, msg=msg, tokens=tokens, sender=sender_addr)
    subject = str(msg.get("Subject", "") or "").strip()
    if conversation is None:
        identity = identity_resolve(channel=Channel.EMAIL, external_id=sender_addr, display_name=sender_name).identity
        # Unlike chat, a customer may have several email threads in one inbox: every new subject opens one.
        conversation = conversation_start(inbox=inbox, identity=identity, subject=subject)

    text, html, attachment_parts = bodies(msg)
    stripped = stripped_text.strip()
    display_text = stripped or reply_strip(text)
    automatic = is_automatic(msg)
    message_receive(
        inbox=inbox,
        conversation=conversation,
        incoming=InboundMessage(
            channel=Channel.EMAIL,
            inbox_external_id=inbox.external_id,
            customer_external_id=sender_addr,
            customer_name=sender_name,
            external_id=external_id,
            timestamp=message_timestamp(msg),
            subject=subject,
            text=display_text,
            html=html,
            attachments=[attachment_store(p) for p in attachment_parts],
            email_message_id=message_id,
            email_in_reply_to=" ".join(MESSAGE_ID_RE.findall(str(msg.get("In-Reply-To", "") or ""))),
            email_references=" ".join(MESSAGE_ID_RE.findall(str(msg.get("References", "") or ""))),
            reply_token=tokens[0] if tokens else "",
            language=language_from_header(str(msg.get("Content-Language", "") or "")),
            payload={
                "esp": esp,
                "from": sender_addr,
                "full_text": text if display_text != text.strip() else "",
                **({"auto_submitted": True} if automatic else {}),
            },
        ),
    )


def _thread_conversation(*, inbox: Inbox, msg, tokens: list[str], sender: str) -> Conversation | None:
    """The conversation the mail's headers or reply token name, if `sender` (normalised) is its customer's."""
    ids = referenced_ids(msg)
    if ids:
        rows = {
            m.email_message_id: m.conversation
            for m in Message.objects.select_related("conversation").filter(inbox=inbox, email_message_id__in=ids)
        }
        for mid in ids:  # the most recent reference wins
            if mid in rows and _is_customers_address(rows[mid], sender):
                return rows[mid]
    for token in tokens:
        conversation = conversation_for_token(token)
        if conversation is not None and conversation.inbox_id == inbox.pk and _is_customers_address(conversation, sender):
            return conversation
    return None


def _is_customers_address(conversation: Conversation, sender: str) -> bool:
    """Is `sender` an email identity of the conversation's customer (case-insensitive)?"""
    return Identity.objects.filter(
        customer_id=conversation.customer_id, channel=Channel.EMAIL, external_id__iexact=sender
    ).exists()
