"""What the inbox does when the customers app erases or exports a customer.

The customers app cannot import the inbox, so it announces erasure and export with signals
(`customers.signals`) and the inbox answers for the conversations and messages it holds.

Team boundaries hold here too, for the user the signal names (`by`; None is the system itself):
an export holds only the conversations (and their private notes) that user may see, and an
erasure that would touch a conversation outside what they may see is refused unless they are an
admin, with nothing erased (the receiver raises inside the erase transaction).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast, Coalesce
from django.dispatch import receiver
from django.utils import timezone

from customers.models import Customer
from customers.signals import customer_erasing, customer_exporting
from inbox.models import Conversation, InboundEvent, Message
from inbox.team.access import conversations_hidden_from, conversations_visible_to, is_admin


class ErasureRefused(PermissionDenied):
    """The customer has conversations the erasing user may not see, and they are not an admin."""

    code = "erase_needs_admin"
    detail = (
        "This customer also writes to inboxes outside your teams: only an admin may erase them."
    )


def erasure_allowed(user, customer: Customer) -> bool:
    """May `user` erase `customer` (and the records merged into it)? Admins always; anyone else
    only when every conversation of theirs is one the user may see."""
    if is_admin(user):
        return True
    family = Customer.objects.filter(Q(pk=customer.pk) | Q(merged_into=customer.pk))
    return not conversations_hidden_from(user, family).exists()


def _is_user(by) -> bool:
    return by is not None and getattr(by, "is_authenticated", False)


def conversations_of(customer: Customer, *, by=None) -> QuerySet[Conversation]:
    """The customer's conversations, narrowed to what `by` may see when a user is named."""
    conversations = Conversation.objects.filter(customer=customer)
    if _is_user(by):
        conversations = conversations.filter(pk__in=conversations_visible_to(by).values("pk"))
    return conversations


@receiver(customer_erasing, dispatch_uid="inbox.conversations.privacy.redact")
def redact_messages(sender, customer, by=None, **kwargs) -> None:
    """Blank every message of the customer's threads (notes about them too); keep the rows,
    their times and statuses, so metrics and the thread's shape survive.

    Refused (ErasureRefused, which rolls the whole erasure back) when `by` is a user who may not
    see every one of those threads and is not an admin.
    """
    if _is_user(by) and not erasure_allowed(by, customer):
        raise ErasureRefused(ErasureRefused.detail)
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
def export_conversations(sender, customer, by=None, **kwargs) -> dict:
    """Each thread with its messages, under the model's label so it replaces the plain rows.

    With `by` (the user asking), only the threads that user may see: another team's inbox stays
    out of a manager's export, as it does from their conversation list.
    """
    threads = []
    conversations = (
        conversations_of(customer, by=by)
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
