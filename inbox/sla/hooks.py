"""The SLA side of inbox.signals.conversation_changed: a conversation's clocks follow its events.

In the transaction of the event (the row is locked there, and the frame the caller publishes at
commit carries the new state), except for `reply.sent`: the send path holds the message's lock while
it records the provider's answer, so the clocks are brought up to date right after that commits, in
a transaction of their own, and a frame tells the lists.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from inbox.models import Conversation
from inbox.realtime import publish as realtime
from inbox.sla import policies as sla_policies
from inbox.sla.clocks import sla_refresh

logger = logging.getLogger(__name__)

# Events after which a conversation's clocks or policy may be different.
REFRESHING = frozenset({"message.received", "conversation.status", "conversation.labels", "conversation.team"})


def on_conversation_changed(sender: Any, conversation: Conversation, event: str, **kwargs: Any) -> None:
    if event == "reply.sent":
        conversation_id = conversation.pk
        transaction.on_commit(lambda: refresh_and_publish(conversation_id), robust=True)
        return
    if event not in REFRESHING:
        return
    # No policy at all, and none on the conversation (its row as this transaction has it): nothing to
    # do, and no savepoint to take (the policies are cached: inbox/versions.py).
    try:
        policies = sla_policies.active_policies()
        if not policies and not conversation.sla_policy_id and not conversation.sla_state:
            return
        with transaction.atomic():  # a savepoint: a failure here never undoes the event itself
            sla_refresh(conversation, policies=policies)
    except Exception:
        logger.exception("SLA clocks of conversation %s after %s failed", conversation.pk, event)


def refresh_and_publish(conversation_id: int) -> bool:
    """Refresh one conversation in its own transaction; publish it when its `sla` changed."""
    with transaction.atomic():
        conversation = Conversation.objects.select_related("inbox", "customer").filter(pk=conversation_id).first()
        if conversation is None or not sla_refresh(conversation):
            return False
        realtime.conversation_changed(conversation, "conversation.updated")
    return True


def publish_changed(conversation: Conversation) -> None:
    """The lists learn a conversation's new `sla` (after a policy changed)."""
    realtime.conversation_changed(conversation, "conversation.updated")
