"""What the inbox does when the customers app erases or exports a customer.

The customers app cannot import the inbox, so it announces erasure and export with signals
(`customers.signals`) and the inbox answers for the conversations and messages it holds.
"""

from __future__ import annotations

from django.dispatch import receiver

from customers.signals import customer_erasing, customer_exporting

from .models import Conversation, Message


@receiver(customer_erasing, dispatch_uid="inbox.customer_hooks.redact")
def redact_messages(sender, customer, **kwargs) -> None:
    """Blank every message of the customer's threads (notes about them too); keep the rows,
    their times and statuses, so metrics and the thread's shape survive."""
    conversations = Conversation.objects.filter(customer=customer)
    Message.objects.filter(conversation__in=conversations).update(
        text="", html="", subject="", attachments=[], payload={"redacted": True}, reactions=[], error_detail="",
        email_in_reply_to="", email_references="",
    )
    conversations.update(subject="")


@receiver(customer_exporting, dispatch_uid="inbox.customer_hooks.export")
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
