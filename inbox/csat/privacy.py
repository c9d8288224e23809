"""Survey answers when the customers app erases or exports a customer (customers.signals).

Erasure blanks what the customer wrote (the comment, on the answer and on its timeline entry) and
keeps the rating and times, so the team's figures survive; an export lists the answers of the
conversations the asking user may see.
"""

from __future__ import annotations

from django.dispatch import receiver

from customers.models import Customer
from customers.signals import customer_erasing, customer_exporting
from inbox.conversations.privacy import conversations_of
from inbox.models import ConversationEvent, CsatResponse


@receiver(customer_erasing, dispatch_uid="inbox.csat.privacy.redact")
def redact_comments(sender, customer: Customer, by=None, **kwargs) -> None:
    CsatResponse.objects.filter(customer=customer).exclude(comment="").update(comment="")
    events = ConversationEvent.objects.filter(conversation__customer=customer, kind=ConversationEvent.Kind.CSAT)
    for event in events.exclude(data__comment=""):
        event.data = {**event.data, "comment": ""}
        event.save(update_fields=["data"])


@receiver(customer_exporting, dispatch_uid="inbox.csat.privacy.export")
def export_answers(sender, customer: Customer, by=None, **kwargs) -> dict:
    surveys = CsatResponse.objects.filter(
        customer=customer, conversation__in=conversations_of(customer, by=by)
    ).order_by("created_at", "id")
    return {CsatResponse._meta.label_lower: [
        {"id": s.pk, "conversation": s.conversation_id, "channel": s.channel, "status": s.status,
         "sent_at": s.sent_at, "rating": s.rating, "comment": s.comment, "answered_at": s.answered_at}
        for s in surveys
    ]}
