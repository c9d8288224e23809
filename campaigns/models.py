"""Campaigns (broadcasts and triggered messages), their sends, comment auto-responders, and the
record of greeting/away messages already sent.

Every outbound message goes through inbox.conversations.reply.reply_send; these rows only decide who gets
what, when, and remember it so nobody gets the same thing twice.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Channel, Customer, CustomerEvent
from inbox.models import Conversation, Inbox, Message


class CampaignKind(models.TextChoices):
    BROADCAST = "broadcast", "Broadcast"
    TRIGGERED = "triggered", "Triggered"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"


class Purpose(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    TRANSACTIONAL = "transactional", "Transactional"


DEFAULT_WINDOW = (time(9, 0), time(21, 0))


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=CampaignKind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="campaigns")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.MARKETING)
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    text = models.TextField()
    subject = models.CharField(max_length=300, blank=True)
    # The same message per customer language: {"fr": {"text": "...", "subject": "..."}, "el": {...}};
    # a customer of another language (or of none known) gets `text` and `subject`.
    translations = models.JSONField(default=dict, blank=True)
    sender_name = models.CharField(max_length=100, blank=True)
    # {labels: [...], bought_within_days: n, lifetime_value_gt: "100.00", has_orders: bool}
    audience = models.JSONField(default=dict, blank=True)
    trigger_event = models.CharField(max_length=64, blank=True)
    delay_seconds = models.PositiveIntegerField(default=0)
    exception_events = models.JSONField(default=list, blank=True)
    window_start = models.TimeField(default=DEFAULT_WINDOW[0])
    window_end = models.TimeField(default=DEFAULT_WINDOW[1])
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    attribution_days = models.PositiveSmallIntegerField(default=7)
    launched_at = models.DateTimeField(null=True, blank=True)
    # Broadcasts: when the audience was planned. Until then "no planned sends" means "not planned
    # yet", not "done", so the dispatcher only finishes a broadcast after this is set.
    planned_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status", "trigger_event"], name="campaign_trigger_lookup")]

    def __str__(self) -> str:
        return self.name


class SendStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class SkipReason(models.TextChoices):
    NO_CONSENT = "no_consent", "No consent"
    CAPPED = "capped", "Frequency cap"
    QUIET_HOURS = "quiet_hours", "Outside the send window"
    WINDOW_CLOSED = "window_closed", "Messaging window closed"
    NO_IDENTITY = "no_identity", "No way to reach the customer on this channel"


class CampaignSend(models.Model):
    """One customer's copy of one campaign for one trigger: the unit of idempotency.

    Unique per (campaign, customer, trigger_key): a broadcast reaches a customer once ("" key); a
    triggered campaign once per triggering event (order.shipped fires for every order), and a
    replayed event finds its row.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="campaign_sends")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.MARKETING)
    status = models.CharField(max_length=16, choices=SendStatus.choices, default=SendStatus.PLANNED)
    reason = models.CharField(max_length=64, blank=True)
    due_at = models.DateTimeField()
    event = models.ForeignKey(CustomerEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The triggering event's dedupe key (or "event:<id>"); "" for broadcasts.
    trigger_key = models.CharField(max_length=255, blank=True, default="")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer", "trigger_key"], name="campaign_send_once_per_trigger"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="planned"), name="campaign_send_due"),
            # Frequency caps count what a customer received on a channel recently.
            models.Index(fields=["customer", "channel", "sent_at"], condition=Q(status="sent"), name="campaign_send_cap"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.customer_id}: {self.status}"


class FrequencyCap(models.Model):
    """At most `limit` campaign messages per customer in `period_days` (on `channel`, or on all when blank).

    When no row exists, settings.CAMPAIGN_FREQUENCY_CAPS (or the defaults in campaigns.caps) apply.
    """

    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)
    limit = models.PositiveIntegerField()
    period_days = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.channel or 'all'}: {self.limit}/{self.period_days}d"


class AutoResponder(models.Model):
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="autoresponders")
    keywords = models.JSONField(default=list)
    public_reply = models.TextField(blank=True)
    private_reply = models.TextField(blank=True)
    # Per commenter language: {"fr": {"public_reply": "...", "private_reply": "..."}} (a commenter's
    # language is known once their customer has one: an agent's choice or Meta's profile locale).
    translations = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Auto-responder {self.pk} on {self.inbox_id}"


class CommentReply(models.Model):
    """A comment the auto-responder answered: once per person per post, once per comment."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    autoresponder = models.ForeignKey(AutoResponder, null=True, on_delete=models.SET_NULL, related_name="replies")
    post_id = models.CharField(max_length=128)
    from_id = models.CharField(max_length=64)
    comment_id = models.CharField(max_length=128)
    public_reply_id = models.CharField(max_length=128, blank=True)
    private_reply_id = models.CharField(max_length=128, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inbox", "post_id", "from_id"], name="comment_reply_once_per_person_post"),
            models.UniqueConstraint(fields=["inbox", "comment_id"], name="comment_reply_once_per_comment"),
        ]

    def __str__(self) -> str:
        return f"Reply to comment {self.comment_id}"


class AutomatedReply(models.Model):
    """A greeting or away message already sent: (conversation, kind, period) is unique."""

    class Kind(models.TextChoices):
        GREETING = "greeting", "Greeting"
        AWAY = "away", "Away"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # For away messages: the closed period (when the shop opens next); blank for the greeting.
    period = models.CharField(max_length=64, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "kind", "period"], name="automated_reply_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} in conversation {self.conversation_id}"


class BotSession(models.Model):
    """The quick-reply bot's state in one Messenger/Instagram conversation.

    Kept here rather than on Conversation so the core stays free of bot concerns. Created with the
    intro; once `handed_over_at` is set the bot never speaks in that conversation again.
    """

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="+")
    turns = models.PositiveIntegerField(default=0)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Bot in conversation {self.conversation_id}"
