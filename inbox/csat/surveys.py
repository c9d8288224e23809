"""Sending due surveys: one dispatcher (beat: `inbox-csat-dispatch`, inbox/tasks.py) takes every
survey whose delay has passed and sends it where the channel's rules allow, as a bot message.

- Messenger/Instagram: the text with quick replies 1–5, only inside the 24-hour window. Never
  under the HUMAN_AGENT tag: that tag is for a person's reply, and a survey is automation.
- SMS: the text and "Reply 1, 2, 3, 4 or 5"; never to a number that texted STOP.
- Email: the text and five one-click links, each signed (inbox/csat/answers.py).

Each in the customer's language: the inbox's translation of its question for that language, else its
own text; without one, the built-in question translated (survey_text). The hint, the rating words
and the email subject follow the language of the question sent.

A survey that may not go out is `skipped` with the reason (`disabled`, `reopened`,
`recently_surveyed`, `window_closed`, `opted_out`, `expired`…). Bot messages never count as
responses (inbox/metrics.py counts only agents' replies).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from customers.language import customer_language, message_for
from customers.models import Channel, Customer
from customers.selectors import is_opted_out
from inbox.conversations.errors import ReplyRefused
from inbox.conversations.reply import reply_send
from inbox.csat.answers import rating_url
from inbox.csat.config import DEFAULT_TEXT, CsatSettings, csat_settings
from inbox.models import META_CHANNELS, ConversationStatus, CsatResponse, CsatStatus, Inbox, SenderType, WindowState

logger = logging.getLogger(__name__)

BATCH = 200
# A survey the dispatcher could not send for this long after it was due (beat stopped) is dropped:
# asking about a conversation from last week is noise.
STALE_AFTER = timedelta(days=1)
# In the language of the survey's text (survey_send), like the rating page the email links to.
EMAIL_SUBJECT = gettext_lazy("How did we do?")
SMS_HINT = gettext_lazy("Reply 1, 2, 3, 4 or 5.")
RATING_WORDS = {
    1: gettext_lazy("Poor"), 2: gettext_lazy("Fair"), 3: gettext_lazy("Good"), 4: gettext_lazy("Very good"),
    5: gettext_lazy("Excellent"),
}


def surveys_send_due(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Send (or skip) up to `limit` due surveys, oldest first; counts by outcome."""
    now = now or timezone.now()
    due = list(
        CsatResponse.objects.filter(status=CsatStatus.SCHEDULED, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    outcomes: Counter[str] = Counter()
    for survey_id in due:
        try:
            outcome = survey_send(survey_id=survey_id, now=now)
        except Exception:  # one broken row must not hold up the others; it stays scheduled
            logger.exception("survey %s could not be sent", survey_id)
            outcome = "error"
        if outcome:
            outcomes[outcome] += 1
    return dict(outcomes)


def survey_compose(survey: CsatResponse, *, text: str) -> tuple[str, dict, str]:
    """(text, message payload, email subject) of the survey on its channel."""
    payload: dict = {"csat_survey": survey.pk}
    if survey.channel in META_CHANNELS:
        payload["quick_replies"] = [
            {"content_type": "text", "title": str(n), "payload": f"CSAT:{survey.pk}:{n}"} for n in range(1, 6)
        ]
        return text, payload, ""
    if survey.channel == Channel.SMS:
        return f"{text}\n{SMS_HINT}", payload, ""
    links = "\n".join(f"{n} - {RATING_WORDS[n]}: {rating_url(survey_id=survey.pk, rating=n)}" for n in range(5, 0, -1))
    return f"{text}\n\n{links}\n", payload, str(EMAIL_SUBJECT)


def survey_text(config: CsatSettings, *, customer: Customer, inbox: Inbox) -> tuple[str, str]:
    """(question, language) for this customer: the inbox's translation for their language, else its
    own text (in the inbox's language); without a text of the inbox's, the built-in question in the
    customer's language."""
    if config.text:
        return message_for({"text": config.text, "translations": config.translations}, customer=customer, inbox=inbox)
    code = customer_language(customer, inbox)
    with translation.override(code):
        return str(DEFAULT_TEXT), code


def _skip_reason(survey: CsatResponse, *, now: datetime, once_per_days: int, enabled: bool) -> str:
    conversation = survey.conversation
    if not enabled:
        return "disabled"
    if conversation.status != ConversationStatus.RESOLVED:
        return "reopened"
    if now - survey.due_at > STALE_AFTER:
        return "expired"
    if once_per_days and (
        CsatResponse.objects.filter(customer_id=survey.customer_id, sent_at__gte=now - timedelta(days=once_per_days))
        .exclude(pk=survey.pk)
        .exists()
    ):
        return "recently_surveyed"
    if survey.channel in META_CHANNELS and conversation.window_state(now) != WindowState.OPEN:
        return "window_closed"  # outside the 24 h window a survey would need HUMAN_AGENT, which is for people
    if is_opted_out(customer=conversation.customer, channel=survey.channel):
        return "opted_out"
    return ""


def survey_send(*, survey_id: int, now: datetime | None = None) -> str:
    """Send one due survey: "sent", the reason it was skipped, or "" when it is not ours to send
    (another worker holds it, or it is no longer scheduled)."""
    now = now or timezone.now()
    with transaction.atomic():
        survey = (
            CsatResponse.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("conversation", "conversation__customer", "conversation__inbox")
            .filter(pk=survey_id, status=CsatStatus.SCHEDULED)
            .first()
        )
        if survey is None:
            return ""
        config = csat_settings(survey.conversation.inbox.settings)
        reason = _skip_reason(survey, now=now, once_per_days=config.once_per_days, enabled=config.enabled)
        message = None
        if not reason:
            question, code = survey_text(config, customer=survey.conversation.customer, inbox=survey.conversation.inbox)
            with translation.override(code):
                text, payload, subject = survey_compose(survey, text=question)
            try:
                with transaction.atomic():
                    message = reply_send(
                        conversation=survey.conversation, author=None, text=text, payload=payload, subject=subject,
                        sender_type=SenderType.BOT,
                    )
            except ReplyRefused as exc:  # the send path's own rules (length, consent, window) have the last word
                reason = exc.code
        if reason:
            survey.status = CsatStatus.SKIPPED
            survey.skip_reason = reason[:32]
            survey.save(update_fields=["status", "skip_reason"])
            return reason
        survey.status = CsatStatus.SENT
        survey.sent_at = now
        survey.message = message
        survey.save(update_fields=["status", "sent_at", "message"])
    return "sent"
