"""What the inbox does when the customers app erases or exports a customer.

The customers app cannot import the inbox, so it announces erasure and export with signals
(`customers.signals`) and the inbox answers for the conversations and messages it holds.
"""

from __future__ import annotations

from django.db.models import Q, TextField
from django.db.models.functions import Cast, Coalesce
from django.dispatch import receiver
from django.utils import timezone

from customers.signals import customer_erasing, customer_exporting
from inbox.models import Conversation, InboundEvent, Message


@receiver(customer_erasing, dispatch_uid="inbox.conversations.privacy.redact")
def redact_messages(sender, customer, **kwargs) -> None:
    """Blank every message of the customer's threads (notes about them too); keep the rows,
    their times and statuses, so metrics and the thread's shape survive."""
    conversations = Conversation.objects.filter(customer=customer)
    Message.objects.filter(conversation__in=conversations).update(
        text="", html="", subject="", attachments=[], payload={"redacted": True}, reactions=[], error_detail="",
        email_in_reply_to="", email_references="",
    )
    conversations.update(subject="")
    _raw_events_redact(customer)


def _raw_events_redact(customer) -> None:
    """Stored provider payloads that name one of the customer's identities lose their body.

    Runs before the customers app blanks the identities. A still-unprocessed event is marked
    done: there is nothing left in it to process.
    """
    needles = [v for v in customer.identities.values_list("external_id", flat=True) if len(v) >= 6]
    if not needles:
        return
    match = Q()
    for needle in needles:
        match |= Q(payload_text__icontains=needle)
    InboundEvent.objects.annotate(payload_text=Cast("payload", TextField())).filter(match).update(
        payload={"redacted": True}, processed_at=Coalesce("processed_at", timezone.now())
    )


@receiver(customer_exporting, dispatch_uid="inbox.conversations.privacy.export")
def export_conversations(sender, customer, **kwargs) -> dict:
    """Each thread with its messages, under the model's label so it replaces the plain rows."""
    threads = []
    conversations = (
        Conversation.objects.filter(customer=customer)
        .select_related("inbox")
        .prefetch_related("messages")
        .order_by("created_at", "id")
    )
    for conversation in conversations:
        threads.append({
            "id": conversation.pk,
            "inbox": {"id": conversation.inbox_id, "kind": conversation.inbox.kind, "name": conversation.inbox.name},
            "channel": conversation.channel,
            "status": conversation.status,
            "subject": conversation.subject,
            "created_at": conversation.created_at,
            "messages": [
                {
                    "id": m.pk, "direction": m.direction, "sender_type": m.sender_type, "is_private": m.is_private,
                    "text": m.text, "subject": m.subject, "attachments": m.attachments, "status": m.status,
                    "created_at": m.created_at,
                }
                for m in conversation.messages.all()
            ],
        })
    return {Conversation._meta.label_lower: threads}
