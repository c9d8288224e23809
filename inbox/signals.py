"""Hooks for features layered on the core inbox (assignment, automation, metrics).

Sent after the transaction that stored the message commits.
"""

from django.dispatch import Signal

# kwargs: message (an inbound customer message, just stored)
message_received = Signal()
# kwargs: message (a private note, just added)
note_added = Signal()
