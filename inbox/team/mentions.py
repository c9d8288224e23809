"""@mentions in private notes: the mentioned agent gets a notification (stored, and live on their socket)."""

from __future__ import annotations

import logging
import re

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q

from inbox.models import Message, Notification
from inbox.realtime import publish as realtime
from inbox.team.access import can_see_conversation, role_of

logger = logging.getLogger(__name__)

# Django usernames allow letters, digits and @.+-_; a mention ends on a word character so
# "@bob," and "@bob." mean bob. The lookbehind skips e-mail addresses (jane@shop.example).
MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.@+-]*\w)")
EXCERPT_CHARS = 200


def mentioned_usernames(text: str) -> list[str]:
    """Usernames mentioned in `text`, in order, without repeats (case-insensitive)."""
    seen: dict[str, str] = {}
    for name in MENTION_RE.findall(text or ""):
        seen.setdefault(name.lower(), name)
    return list(seen.values())


def note_mentions_notify(*, note: Message) -> list[Notification]:
    """Notify each agent mentioned in a private note who may see its conversation (not its author).

    Someone who may not see the conversation is not told about it: a mention must not leak it.
    """
    names = mentioned_usernames(note.text)
    if not names:
        return []
    query = Q()
    for name in names:
        query |= Q(username__iexact=name)
    conversation = note.conversation
    notified = []
    for user in get_user_model().objects.filter(query, is_active=True).exclude(pk=note.author_id):  # type: ignore[misc]
        if role_of(user) is None or not can_see_conversation(user, conversation):
            continue
        excerpt = note.text[:EXCERPT_CHARS]
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    user=user,
                    kind=Notification.Kind.MENTION,
                    conversation=conversation,
                    message=note,
                    actor=note.author,
                    data={"text": excerpt},
                )
        except IntegrityError:
            continue  # already notified for this note
        author = note.author
        realtime.publish(
            [f"user-{user.pk}"],
            {
                "type": "mention",
                "notification": notification.pk,
                "conversation": conversation.pk,
                "message": note.pk,
                "by": {"id": author.pk, "username": author.get_username()} if author else None,
                "text": excerpt,
            },
        )
        notified.append(notification)
    return notified


def on_note_added(sender, message: Message, **kwargs) -> None:
    try:
        note_mentions_notify(note=message)
    except Exception:  # the note is saved; a lost notification must not turn the request into a 500
        logger.exception("mention notifications for note %s failed", message.pk)
