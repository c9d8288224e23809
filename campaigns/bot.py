"""A quick-reply bot for Messenger and Instagram DMs that hands over to a human.

Inbox.settings["bot"] = {"enabled", "intro", "options": [{"title", "payload", "answer"}], "handover_text"}
(validated by inbox.team.directory). The first customer message gets the intro with the options as quick
replies; a tapped option gets its answer (and the options again); asking for a person, or writing
anything the bot does not understand, gets the handover text and ends the bot for that conversation.
Bot messages are sender_type bot: never tagged, never counted as a response, so the conversation
keeps waiting for a human throughout.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox import signals as inbox_signals
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.models import META_CHANNELS, Conversation, Direction, Inbox, Message, SenderType

from .automation import keyword_matches
from .models import BotSession

logger = logging.getLogger(__name__)

HUMAN_WORDS = ["agent", "human", "person", "representative"]


def on_message_received(sender: object, message: Message, **kwargs: Any) -> None:
    loaded = inbox_signals.inbox_as_loaded(message)
    if loaded is not None and bot_settings(loaded) is None:
        return  # no bot on this inbox: nothing to read
    try:
        bot_reply_for(message=message)
    except Exception:  # the bot must never break message intake
        logger.exception("bot for message %s failed", message.pk)


def bot_settings(inbox: Inbox) -> dict | None:
    """The inbox's bot settings when it is on and has something to say, else None."""
    bot = (inbox.settings or {}).get("bot") or {}
    if not bot.get("enabled") or not (bot.get("intro") or "").strip():
        return None
    return bot


def _quick_replies(options: list[dict]) -> list[dict]:
    return [{"content_type": "text", "title": o["title"], "payload": o["payload"]} for o in options]


def _chosen_option(message: Message, options: list[dict]) -> dict | None:
    payload = ((message.payload or {}).get("quick_reply") or {}).get("payload")
    if payload:
        return next((o for o in options if o.get("payload") == payload), None)
    # Some clients drop the payload (or the customer types the button's label): match the title.
    text = (message.text or "").strip().casefold()
    return next((o for o in options if text and o.get("title", "").strip().casefold() == text), None)


def _agent_replied(conversation: Conversation) -> bool:
    return Message.objects.filter(
        conversation=conversation, direction=Direction.OUT, sender_type=SenderType.AGENT
    ).exists()


def bot_reply_for(*, message: Message) -> Message | None:
    """The bot's answer to an inbound customer DM, sent; None when the bot stays silent."""
    if message.direction != Direction.IN or message.sender_type != SenderType.CUSTOMER:
        return None
    conversation = Conversation.objects.select_related("inbox").get(pk=message.conversation_id)
    if conversation.channel not in META_CHANNELS or conversation.is_comment_thread:
        return None
    bot = bot_settings(conversation.inbox)
    if bot is None or _agent_replied(conversation):
        return None
    options = [o for o in bot.get("options") or [] if isinstance(o, dict)]
    try:
        with transaction.atomic():
            session = BotSession.objects.select_for_update().filter(conversation=conversation).first()
            if session is None:
                earlier = Message.objects.filter(conversation=conversation, direction=Direction.IN, pk__lt=message.pk)
                if earlier.exists():
                    return None  # the bot was switched on mid-conversation: leave it to the humans
                # Unique per conversation: a concurrent first message loses here and stays silent.
                session = BotSession.objects.create(conversation=conversation)
                first = True
            else:
                first = False
            if session.handed_over_at is not None:
                return None
            chosen = None if first else _chosen_option(message, options)
            if chosen is not None and (chosen.get("answer") or "").strip():
                return _say(session, conversation, chosen["answer"], options)
            if keyword_matches(message.text or "", HUMAN_WORDS) or not first:
                return _hand_over(session, conversation, bot)
            return _say(session, conversation, bot["intro"], options)
    except IntegrityError:
        return None
    except ReplyRefused as exc:
        logger.info("no bot reply in conversation %s: %s", conversation.pk, exc.code)
        return None


def _say(session: BotSession, conversation: Conversation, text: str, options: list[dict]) -> Message:
    payload = {"quick_replies": _quick_replies(options)} if options else None
    sent = reply_send(conversation=conversation, author=None, text=text, sender_type=SenderType.BOT, payload=payload)
    session.turns += 1
    session.save(update_fields=["turns"])
    return sent


def _hand_over(session: BotSession, conversation: Conversation, bot: dict) -> Message | None:
    text = (bot.get("handover_text") or "").strip()
    sent = reply_send(conversation=conversation, author=None, text=text, sender_type=SenderType.BOT) if text else None
    session.handed_over_at = timezone.now()
    session.turns += 1 if sent else 0
    session.save(update_fields=["handed_over_at", "turns"])
    if conversation.inbox.settings.get("auto_assign"):
        from inbox.team.assignment import conversation_auto_assign

        transaction.on_commit(lambda: conversation_auto_assign(conversation=conversation), robust=True)
    return sent
