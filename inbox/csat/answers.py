"""The customer's answer to a survey: a rating from 1 to 5 and, optionally, a comment after it.

- Messenger/Instagram: a tap on one of the survey's quick replies (payload `CSAT:<survey>:<rating>`);
- SMS (and a reply to the survey email): a message that starts with 1–5 ("4", "5 stars", "2 - slow");
- email: one of the five signed links in the survey (a public page, inbox/pages/csat.py).

A rating may be followed by a comment: the customer's next message within COMMENT_WINDOW (or the
comment box of the email page). Such replies are stored in the thread but are not a new request:
the conversation stays resolved, nobody is asked to answer them and they never count in the
responsiveness figures (inbox/conversations/receive.py asks `survey_reply_of` before storing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation, ConversationEvent, ConversationStatus, CsatResponse, CsatStatus, Message
from inbox.providers.base import InboundMessage

RATING_SALT = "inbox.csat.rating"
# An email link keeps working this long; a reply counts as a rating this long after the survey.
LINK_MAX_AGE = timedelta(days=30)
ANSWER_WINDOW = timedelta(days=7)
COMMENT_WINDOW = timedelta(hours=1)
COMMENT_MAX = 2000
QUICK_REPLY = re.compile(r"^CSAT:(\d{1,18}):([1-5])$")
# "4", "4/5", "5 stars", "5 out of 5", "2 - slow answers": the digit, then the rest as a comment.
RATING_TEXT = re.compile(
    r"^\s*([1-5])(?![\d.,])\s*(?:/\s*5|out of 5|stars?)?\s*[-.!:,;)\u2013\u2014]*\s*(.*)$", re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True)
class SurveyReply:
    survey_id: int
    rating: int | None  # None: a comment after the rating
    comment: str = ""

    def as_payload(self) -> dict:
        return {"survey": self.survey_id, "rating": self.rating, "comment": bool(self.comment)}


# --- Signed email links -----------------------------------------------------------------------------


def rating_token(*, survey_id: int, rating: int) -> str:
    return signing.dumps({"s": survey_id, "r": rating}, salt=RATING_SALT, compress=True)


def rating_url(*, survey_id: int, rating: int) -> str:
    path = reverse("csat-rate", args=[rating_token(survey_id=survey_id, rating=rating)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def rating_token_read(token: str) -> tuple[int, int] | None:
    """(survey id, rating) from a link we signed within LINK_MAX_AGE; None if forged, altered or old."""
    try:
        data = signing.loads(token, salt=RATING_SALT, max_age=LINK_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    survey_id, rating = data.get("s"), data.get("r")
    if not isinstance(survey_id, int) or rating not in (1, 2, 3, 4, 5):
        return None
    return survey_id, rating


# --- Replies on the channel ---------------------------------------------------------------------------


def _quick_reply_rating(incoming: InboundMessage) -> tuple[int, int] | None:
    quick = (incoming.payload or {}).get("quick_reply")
    payload = quick.get("payload") if isinstance(quick, dict) else None
    match = QUICK_REPLY.match(payload) if isinstance(payload, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def survey_candidates(pairs: list[tuple[Conversation, InboundMessage]]) -> set[int]:
    """Of these (conversation, incoming message), the conversations for which `survey_reply_of` may
    find a reply (one query for all); for the others it returns None without asking."""
    resolved = [c.pk for c, incoming in pairs if not incoming.is_echo and c.pk is not None
                and c.status == ConversationStatus.RESOLVED and _quick_reply_rating(incoming) is None]
    candidates = {c.pk for c, incoming in pairs if not incoming.is_echo and c.pk is not None
                  and _quick_reply_rating(incoming) is not None}
    if resolved:
        earliest = min(incoming.timestamp for c, incoming in pairs if c.pk in set(resolved))
        candidates |= set(
            CsatResponse.objects.filter(
                conversation_id__in=resolved, status__in=(CsatStatus.SENT, CsatStatus.ANSWERED),
                sent_at__gte=earliest - ANSWER_WINDOW,
            ).values_list("conversation_id", flat=True).distinct()
        )
    return candidates


def survey_reply_of(*, conversation: Conversation, incoming: InboundMessage) -> SurveyReply | None:
    """What this inbound message is to the conversation's latest survey: a rating, a comment, or
    nothing (None: an ordinary message, which reopens the conversation as any other would)."""
    if incoming.is_echo or conversation.pk is None:
        return None
    tapped = _quick_reply_rating(incoming)
    if tapped is not None:
        # The payload names the survey: a tap counts even if an agent reopened the thread meanwhile.
        survey_id, rating = tapped
        if CsatResponse.objects.filter(
            pk=survey_id, conversation=conversation, status__in=(CsatStatus.SENT, CsatStatus.ANSWERED)
        ).exists():
            return SurveyReply(survey_id, rating)
        return None
    if conversation.status != ConversationStatus.RESOLVED:
        return None  # a survey only goes to resolved conversations; any other message reopened it
    survey = (
        CsatResponse.objects.filter(
            conversation=conversation, status__in=(CsatStatus.SENT, CsatStatus.ANSWERED),
            sent_at__gte=incoming.timestamp - ANSWER_WINDOW,
        )
        .order_by("-sent_at", "-id")
        .only("id", "status", "answered_at", "comment")
        .first()
    )
    if survey is None:
        return None
    text = (incoming.text or "").strip()
    recent_rating = survey.answered_at is not None and incoming.timestamp - survey.answered_at <= COMMENT_WINDOW
    match = RATING_TEXT.match(text)
    if match and (survey.status == CsatStatus.SENT or recent_rating):
        return SurveyReply(survey.pk, int(match.group(1)), match.group(2).strip()[:COMMENT_MAX])
    if (
        survey.status == CsatStatus.ANSWERED and recent_rating and not survey.comment and text
        and not (incoming.payload or {}).get("keyword")  # STOP/START/HELP are never a comment
    ):
        return SurveyReply(survey.pk, None, text[:COMMENT_MAX])
    return None


def survey_reply_record(reply: SurveyReply, *, at: datetime, message: Message | None = None) -> CsatResponse:
    """Store a rating (a later one within the comment window replaces it) or the comment after it."""
    with transaction.atomic():
        survey = CsatResponse.objects.select_for_update().get(pk=reply.survey_id)
        if reply.rating is not None:
            survey.rating = reply.rating
            survey.answered_at = at
            survey.status = CsatStatus.ANSWERED
        if reply.comment:
            survey.comment = reply.comment
            survey.commented_at = at
        survey.save(update_fields=["rating", "answered_at", "status", "comment", "commented_at"])
        _timeline_note(survey, message=message)
    return survey


def survey_rate_from_link(*, token: str, comment: str = "") -> CsatResponse | None:
    """The rating an email link names (and the page's comment); None for a bad, old or unsent survey."""
    read = rating_token_read(token)
    if read is None:
        return None
    survey_id, rating = read
    if not CsatResponse.objects.filter(pk=survey_id, status__in=(CsatStatus.SENT, CsatStatus.ANSWERED)).exists():
        return None
    comment = (comment or "").replace("\x00", "").strip()[:COMMENT_MAX]
    return survey_reply_record(SurveyReply(survey_id, rating, comment), at=timezone.now())


def _timeline_note(survey: CsatResponse, *, message: Message | None) -> None:
    """One timeline entry per survey, kept up to date with the rating and comment."""
    data = {"survey": survey.pk, "rating": survey.rating, "comment": survey.comment, "channel": survey.channel}
    if message is not None:
        data["message"] = message.pk
    event = (
        ConversationEvent.objects.select_for_update()
        .filter(conversation_id=survey.conversation_id, kind=ConversationEvent.Kind.CSAT, data__survey=survey.pk)
        .first()
    )
    if event is None:
        ConversationEvent.objects.create(conversation_id=survey.conversation_id, kind=ConversationEvent.Kind.CSAT, data=data)
    else:
        event.data = {**event.data, **data}
        event.save(update_fields=["data"])
