"""Tables behind the responsiveness metrics (imported by inbox.models)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ResponseRecord(models.Model):
    """One counted customer message, as Meta counts them, and the first human reply to it.

    A customer message counts when neither side wrote in the 24 h before it. It is answered by
    the first later reply written by a person (an agent in the app, or an echo of a reply sent
    from Meta's own inbox); greetings, away messages and bots never answer it.
    """

    inbox = models.ForeignKey("inbox.Inbox", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="response_records")
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16)
    customer_message = models.OneToOneField("inbox.Message", on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField()
    # When the clock starts in business time: received_at, or the next opening if it came in while closed.
    counts_from = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    responder = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    response_seconds = models.FloatField(null=True, blank=True)
    business_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["inbox", "received_at"], name="resp_inbox_time"),
            models.Index(fields=["team", "received_at"], name="resp_team_time"),
            models.Index(fields=["responder", "received_at"], name="resp_responder_time"),
            models.Index(fields=["conversation"], condition=models.Q(responded_at__isnull=True), name="resp_open"),
        ]

    def __str__(self) -> str:
        return f"Response to message {self.customer_message_id}"


class DailyRollup(models.Model):
    """Per inbox and UTC day: counted and answered messages, kept up to date as records change."""

    inbox = models.ForeignKey("inbox.Inbox", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    counted = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    response_seconds_sum = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["inbox", "day"], name="rollup_unique_inbox_day")]

    def __str__(self) -> str:
        return f"{self.inbox_id} {self.day}"
