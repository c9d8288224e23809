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


def inbox_as_loaded(message):
    """The message's inbox as the code that stored it already read it, or None (never a query).

    Receivers use it to return early when their feature is off on the inbox, without loading the
    conversation; when it is on, they read the conversation and inbox afresh as before.
    """
    descriptor = type(message).inbox
    return message.inbox if descriptor.is_cached(message) else None
