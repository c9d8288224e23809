"""The messaging window, all of it: Meta's 24-hour standard window, the 7-day HUMAN_AGENT period,
message tags, the 7-day private reply to a comment, and each channel's length limit.

The single-row facts (when the window closes for one conversation) are the model's
(`Conversation.window_state`, from STANDARD_WINDOW and HUMAN_AGENT_WINDOW in inbox/models.py);
what a reply may be sent as, given those facts, is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from customers.models import Channel
from inbox.conversations.errors import ReplyRefused
from inbox.models import HUMAN_AGENT_WINDOW, META_CHANNELS, STANDARD_WINDOW, Conversation, SenderType, WindowState

__all__ = ["HUMAN_AGENT", "HUMAN_AGENT_WINDOW", "MAX_LENGTH", "PRIVATE_REPLY_WINDOW", "RETIRED_TAGS", "STANDARD_WINDOW",
           "SendPolicy", "length_check", "private_reply_open", "reply_policy", "window_opened"]

HUMAN_AGENT = "HUMAN_AGENT"

# Retired by Meta on 2026-04-27 (error 100): never sent.
RETIRED_TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"})

MAX_LENGTH: dict[str, int] = {Channel.MESSENGER: 2000, Channel.INSTAGRAM: 1000, Channel.SMS: 1600, Channel.EMAIL: 100_000}
# Meta allows one private reply to a comment, within 7 days of it.
PRIVATE_REPLY_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class SendPolicy:
    messaging_type: str
    tag: str

def reply_policy(*, conversation: Conversation, tag: str | None, sender_type: str, now: datetime) -> SendPolicy:
    """What Meta would accept for this reply now, or ReplyRefused (409 window_closed, 400 invalid_tag)."""
    if conversation.channel not in META_CHANNELS:
        if tag:
            raise ReplyRefused("invalid_tag", _("Message tags exist only on Messenger and Instagram."), 400)
        return SendPolicy("", "")
    if tag and tag in RETIRED_TAGS:
        raise ReplyRefused(
            "invalid_tag", _("Meta retired the %(tag)s tag on 2026-04-27; it can no longer be sent.") % {"tag": tag}, 400
        )
    if tag and tag != HUMAN_AGENT:
        raise ReplyRefused(
            "invalid_tag", _("Unknown message tag %(tag)r; only HUMAN_AGENT is allowed.") % {"tag": tag}, 400
        )
    if tag == HUMAN_AGENT and sender_type != SenderType.AGENT:
        raise ReplyRefused("invalid_tag", _("HUMAN_AGENT is for replies written by a person, never automation."), 400)
    state = conversation.window_state(now)
    if state == WindowState.OPEN:
        return SendPolicy("RESPONSE", "")
    if state == WindowState.HUMAN_AGENT and tag == HUMAN_AGENT:
        return SendPolicy("MESSAGE_TAG", HUMAN_AGENT)
    if state == WindowState.HUMAN_AGENT:
        raise ReplyRefused(
            "window_closed",
            _(
                "The 24-hour messaging window has closed; a human agent may still reply with the HUMAN_AGENT tag "
                "until 7 days after the customer's last message."
            ),
            409,
        )
    raise ReplyRefused("window_closed", _("The messaging window has closed: the customer must write first."), 409)


def length_check(*, channel: str, text: str, display: str) -> None:
    """ReplyRefused (400 too_long) for text over the channel's limit."""
    limit = MAX_LENGTH.get(channel)
    if limit and len(text) > limit:
        raise ReplyRefused(
            "too_long", _("%(channel)s allows at most %(limit)s characters.") % {"channel": display, "limit": limit}, 400
        )


def private_reply_open(*, comment_at: datetime, now: datetime) -> bool:
    return now - comment_at < PRIVATE_REPLY_WINDOW


def window_opened(conversation: Conversation, *, at: datetime) -> bool:
    """A customer action at `at` (re)opens the 24 h window; whether it moved it (the row is not saved)."""
    if conversation.last_customer_action_at is None or at > conversation.last_customer_action_at:
        conversation.last_customer_action_at = at
        conversation.window_expires_at = at + STANDARD_WINDOW
        return True
    return False
