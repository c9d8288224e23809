"""Hooks for features layered on the core inbox (assignment, automation, metrics).

Sent after the transaction that stored the message commits.
"""

from django.dispatch import Signal

# kwargs: message (an inbound customer message, just stored)
message_received = Signal()
# kwargs: message (a private note, just added)
note_added = Signal()
# kwargs: inbox, comment (a Facebook Page or Instagram comment, normalised by the Meta provider:
# id, post_id, media_id, from_id, from_name, text, created_time, parent_id, platform, verb, from_self…)
comment_received = Signal()

# kwargs: conversation (the row as just changed: locked by, and current in, the transaction that
# changed it), event (a name below), message (the message the event is about, or None), by (the user
# who did it; None for the system), data (a dict: the event's details).
# Sent INSIDE that transaction, not after commit: the SLA clocks (inbox/sla/) and the automation
# rules (inbox/rules/) act in the same transaction, so a failure rolls back with it and one realtime
# frame carries the result. Events:
#   message.received (a customer message was stored; not survey answers or auto-replies),
#   conversation.created (its first customer message was stored; sent before message.received),
#   reply.sent (a reply the provider took, or an echo of one sent from the provider's own tool),
#   conversation.assigned (data: from, to, reason), conversation.status (data: from, to),
#   conversation.team (data: from, to), conversation.labels (data: added, removed).
conversation_changed = Signal()


def conversation_changed_send(conversation, event: str, *, message=None, by=None, data: dict | None = None) -> None:
    """Announce `event` on `conversation` to the receivers (SLA clocks, then automation rules)."""
    conversation_changed.send(
        sender=type(conversation), conversation=conversation, event=event, message=message, by=by, data=data or {}
    )


def inbox_as_loaded(message):
    """The message's inbox as the code that stored it already read it, or None (never a query).

    Receivers use it to return early when their feature is off on the inbox, without loading the
    conversation; when it is on, they read the conversation and inbox afresh as before.
    """
    descriptor = type(message).inbox
    return message.inbox if descriptor.is_cached(message) else None
