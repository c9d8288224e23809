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
