"""A survey made due when a conversation is resolved (the dispatcher in surveys.py sends it).

Called by the resolve path (inbox/conversations/triage.py) inside its transaction, before the
conversation is unassigned, so the survey keeps the agent who had it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from inbox.csat.config import csat_settings
from inbox.models import Conversation, CsatResponse, CsatStatus, Direction, Message, SenderType


def _agent_of(conversation: Conversation) -> int | None:
    """Whose work is rated: the assignee, else whoever last answered the customer."""
    if conversation.assignee_id is not None:
        return conversation.assignee_id
    return (
        Message.objects.filter(
            conversation=conversation, direction=Direction.OUT, sender_type=SenderType.AGENT, is_private=False,
            author__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("author_id", flat=True)
        .first()
    )


def survey_schedule(*, conversation: Conversation, now: datetime) -> CsatResponse | None:
    """The survey of a just-resolved conversation, due after the inbox's delay; None when the inbox
    asks for none (or one is already waiting to go out for this conversation)."""
    inbox = conversation.inbox
    config = csat_settings(inbox.settings)
    if not config.enabled or conversation.is_comment_thread:
        return None
    if CsatResponse.objects.filter(conversation=conversation, status=CsatStatus.SCHEDULED).exists():
        return None
    return CsatResponse.objects.create(
        conversation=conversation,
        inbox=inbox,
        customer_id=conversation.customer_id,
        agent_id=_agent_of(conversation),
        team_id=conversation.team_id or inbox.team_id,
        channel=conversation.channel,
        due_at=now + timedelta(minutes=config.delay_minutes),
    )
