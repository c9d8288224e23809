"""Inboxes, conversations, messages, teams and agents."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q

from customers.models import Channel, Customer, Identity, Label
from inbox.fields import EncryptedJSONField

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
META_CHANNELS = frozenset({Channel.MESSENGER, Channel.INSTAGRAM})
COMMENT_THREAD_PREFIX = "comments:"


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    LEAD = "lead", "Lead"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class Availability(models.TextChoices):
    ONLINE = "online", "Online"
    BUSY = "busy", "Busy"
    AWAY = "away", "Away"


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    default_capacity = models.PositiveIntegerField(default=10, help_text="Max open conversations per agent")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """What the inbox knows of a user: role, teams, availability, capacity."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents")
    availability = models.CharField(max_length=8, choices=Availability.choices, default=Availability.AWAY)
    capacity = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the team default")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Open sockets; when it drops to 0 an online agent is set away after a grace period.
    connections = models.PositiveIntegerField(default=0)
    # Away was inferred from socket presence, not chosen: a reconnect brings the agent back online.
    presence_away = models.BooleanField(default=False)
    # The round-robin pointer: whoever received a conversation longest ago goes next.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # The agent's pick in the user menu (en, fr, el); blank: the browser's Accept-Language, then the
    # shop's LANGUAGE_CODE (inbox_project.middleware.LanguageMiddleware).
    language = models.CharField(max_length=8, blank=True, default="", choices=settings.LANGUAGES)
    # IANA zone the pages show times in; blank: the browser's own zone.
    time_zone = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role})"


class Inbox(models.Model):
    """A connected Facebook Page, Instagram account, Twilio number or mailbox."""

    kind = models.CharField(max_length=16, choices=Channel.choices)
    name = models.CharField(max_length=100)
    external_id = models.CharField(max_length=320, help_text="Page id, IG account id, E.164 number or address")
    credentials = EncryptedJSONField(blank=True, default=dict, help_text="Page token, auth, mailbox login")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes")
    # Automation and etiquette settings (greeting, away, business hours, read receipts, auto-assign).
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "external_id"], name="inbox_unique_external")]
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SNOOZED = "snoozed", "Snoozed"
    RESOLVED = "resolved", "Resolved"


class WindowState(models.TextChoices):
    OPEN = "open", "Open"
    HUMAN_AGENT = "human_agent", "Human agent only"
    CLOSED = "closed", "Closed"


def _reply_token() -> str:
    return secrets.token_urlsafe(12)


# Characters of the last message kept on the conversation for the list's preview.
PREVIEW_CHARS = 200

# The conversation list's default order (see inbox/api/keyset.py), as index columns.
_RECENT_FIRST = (F("last_message_at").desc(nulls_last=True), F("id").desc())


class Conversation(models.Model):
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    subject = models.CharField(max_length=300, blank=True)
    # Email: the token in reply+<token>@ addresses, a fallback when clients drop threading headers.
    reply_token = models.CharField(max_length=32, unique=True, default=_reply_token)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The list's preview of the last message (not notes), kept where messages are stored
    # (inbox.conversations.threads) so a page of the list reads no messages: its created_at is last_message_at.
    last_message_text = models.CharField(max_length=PREVIEW_CHARS, blank=True, default="")
    last_message_direction = models.CharField(max_length=3, blank=True, default="")
    last_message_sender_type = models.CharField(max_length=10, blank=True, default="")
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # The customer's last action that opens the Meta messaging window (message, postback, reaction…).
    last_customer_action_at = models.DateTimeField(null=True, blank=True)
    # Meta answered "outside the allowed window": closed until the customer acts again.
    window_closed_at = models.DateTimeField(null=True, blank=True)
    # Denormalised for filtering and ordering: last_customer_action_at + 24 h (Meta channels only).
    window_expires_at = models.DateTimeField(null=True, blank=True)
    # The oldest customer message not yet answered by a human.
    waiting_since = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # "" for the direct-message thread; "comments:<post or media id>" for one person's comments
    # under one post (Facebook Page / Instagram), which are answered publicly or by a private reply.
    thread_key = models.CharField(max_length=200, blank=True, default="")
    # Set by agents' automation rules (inbox/rules/): low, normal, high, urgent.
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    # --- SLA (inbox/sla/): the policy that applies and its live state, kept by inbox.sla.clocks ---
    sla_policy = models.ForeignKey(
        "inbox.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # How the policy came: "match" (the policies' conditions; chosen again as the conversation
    # changes) or "rule" (an automation rule applied it; kept until another rule changes it).
    sla_policy_source = models.CharField(max_length=8, blank=True, default="")
    # The earliest due time of the targets still running: the list's `sla` filter and `sla_due_at` order.
    sla_next_due_at = models.DateTimeField(null=True, blank=True)
    # {"policy": {"id", "name"}, "targets": [{"target", "started_at", "due_at", "met_at", "stopped_at"}]}:
    # the latest clock of each target (SlaClock rows hold them all), so a list page reads no other table.
    sla_state = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [
            # Chat and SMS: one thread per customer identity, inbox and thread (the DM thread, or
            # a post's comments), even when two webhooks race.
            models.UniqueConstraint(
                fields=["inbox", "identity", "thread_key"],
                condition=~Q(channel="email"),
                name="conversation_one_per_identity_thread",
            ),
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "waiting_since"], name="conv_assignee_status"),
            models.Index(fields=["team", "status", "waiting_since"], name="conv_team_status"),
            models.Index(fields=["status", "window_expires_at"], name="conv_status_window"),
            models.Index(fields=["customer", "-last_message_at"], name="conv_customer_last"),
            # The list's default order is exactly (last_message_at DESC NULLS LAST, id DESC), so
            # a page of "mine", an inbox's or everything is read in order, never sorted.
            models.Index(*_RECENT_FIRST, name="conv_last_message"),
            models.Index(F("assignee_id"), F("status"), *_RECENT_FIRST, name="conv_assignee_status_last"),
            models.Index(F("inbox_id"), F("status"), *_RECENT_FIRST, name="conv_inbox_status_last"),
            # The SLA views ("due within 1 h", "breached") and the `sla_due_at` order: a range of this
            # column in the keyset's order (inbox/api/keyset.py: NULLs last, then id).
            models.Index(F("sla_next_due_at").asc(nulls_last=True), F("id").asc(), name="conv_sla_due"),
            # Time-based automation rules ("N hours without an agent reply") scan a range of it.
            models.Index(fields=["waiting_since"], condition=Q(waiting_since__isnull=False), name="conv_waiting"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.channel})"

    @property
    def label_names(self) -> list[str]:
        """Label names by name; from `prefetch_labels()` when the queryset used it (no manager per row)."""
        labels = self.__dict__.get("prefetched_labels")
        return [label.name for label in (self.labels.all() if labels is None else labels)]

    @property
    def last_message(self) -> dict | None:
        """The list's preview: {text, direction, sender_type, created_at}; None before any message."""
        if not self.last_message_direction:
            return None
        return {
            "text": self.last_message_text,
            "direction": self.last_message_direction,
            "sender_type": self.last_message_sender_type,
            "created_at": self.last_message_at,
        }

    @property
    def is_comment_thread(self) -> bool:
        return self.thread_key.startswith(COMMENT_THREAD_PREFIX)

    @property
    def thread(self) -> dict:
        """What kind of thread this is, for the API and the UI: {kind: dm|comments, post_id}."""
        if self.is_comment_thread:
            return {"kind": "comments", "post_id": self.thread_key[len(COMMENT_THREAD_PREFIX):]}
        return {"kind": "dm", "post_id": None}

    # --- The Meta messaging window -------------------------------------------------------------
    def window_state(self, now: datetime) -> str | None:
        """open (24 h), human_agent (HUMAN_AGENT tag, up to 7 days), closed; None off Meta.

        None for comment threads too: their replies follow the comment rules (inbox.conversations.comments)."""
        if self.channel not in META_CHANNELS or self.is_comment_thread:
            return None
        last = self.last_customer_action_at
        if last is None:
            return WindowState.CLOSED
        if self.window_closed_at and self.window_closed_at >= last:
            return WindowState.CLOSED
        age = now - last
        if age < STANDARD_WINDOW:
            return WindowState.OPEN
        if age < HUMAN_AGENT_WINDOW:
            return WindowState.HUMAN_AGENT
        return WindowState.CLOSED

    def window_expires(self, now: datetime) -> datetime | None:
        """When the current state ends: the 24 h mark while open, the 7-day mark under HUMAN_AGENT."""
        state = self.window_state(now)
        last = self.last_customer_action_at
        if last is None:  # window_state is closed then
            return None
        if state == WindowState.OPEN:
            return last + STANDARD_WINDOW
        if state == WindowState.HUMAN_AGENT:
            return last + HUMAN_AGENT_WINDOW
        return None


class Direction(models.TextChoices):
    IN = "in", "Inbound"
    OUT = "out", "Outbound"


class SenderType(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


# A status only ever moves forward (a late "sent" callback must not undo "delivered").
STATUS_RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.FAILED: 4,
}


class SearchConfig(models.TextChoices):
    """PostgreSQL text-search configurations a message's text may be indexed with (full-text search,
    inbox/conversations/search.py): `simple` (lower-cased words, no stemming) unless its language is
    known. Adding one takes a migration: the choice, the check constraint and its partial index."""

    SIMPLE = "simple", "No language (no stemming)"
    ENGLISH = "english", "English"
    FRENCH = "french", "French"
    GREEK = "greek", "Greek"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # Denormalised so the provider id can be unique per inbox.
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    sender_type = models.CharField(max_length=10, choices=SenderType.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A private note: shown to agents, never sent.
    is_private = models.BooleanField(default=False)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    attachments = models.JSONField(default=list, blank=True)  # [{url, content_type, name?, size?}]
    # NULL, not "", until the provider answers: the unique constraint below skips NULLs.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=10, choices=MessageStatus.choices)
    error_code = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    tag = models.CharField(max_length=32, blank=True)
    messaging_type = models.CharField(max_length=16, blank=True)
    # Meta: quick-reply/postback payload, replied-to message, story; reactions and unsends.
    payload = models.JSONField(default=dict, blank=True)
    reactions = models.JSONField(default=list, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # SMS: segments and encoding (gsm7/ucs2).
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    encoding = models.CharField(max_length=8, blank=True)
    # Email threading.
    email_message_id = models.CharField(max_length=998, blank=True, db_index=True)
    email_in_reply_to = models.CharField(max_length=998, blank=True)
    email_references = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When an attempt whose outcome is not known began: stamped and committed before the provider
    # call, cleared once the provider answered. Set on a queued row, the send may have gone out
    # (a worker killed mid-send, a read timeout): the next attempt looks for it first (conversations/reply.py).
    send_started_at = models.DateTimeField(null=True, blank=True)
    # The text-search configuration of this message's language (SearchConfig). On PostgreSQL a
    # trigger keeps the column `search_vector` (not a model field) as its subject and text parsed
    # with it; `db_default` so rows written by COPY or raw SQL get it too.
    search_config = models.CharField(
        max_length=16, choices=SearchConfig.choices, default=SearchConfig.SIMPLE, db_default=SearchConfig.SIMPLE
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_unique_provider_id",
            ),
            models.CheckConstraint(
                condition=Q(search_config__in=SearchConfig.values), name="message_search_config_known"
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="msg_conversation_time"),
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="queued"), name="msg_queued_due"
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Message {self.pk} ({self.direction}, {self.status})"


class ConversationEvent(models.Model):
    """Timeline entries that are not messages: assignment, status, team and label changes."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        STATUS = "status", "Status changed"
        TEAM = "team", "Team changed"
        LABELS = "labels", "Labels changed"
        WINDOW = "window", "Window closed"
        MACRO = "macro", "Macro applied"
        CSAT = "csat", "Satisfaction rating"
        ORDER_ACTION = "order_action", "Order action"
        PRIORITY = "priority", "Priority changed"
        SLA = "sla", "SLA policy changed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    # A change made as one step of a macro: the timeline shows the macro's entry instead (the row
    # stays, so the assignment history and its metrics still see it).
    part_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="parts")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on conversation {self.conversation_id}"


class InboundEvent(models.Model):
    """A provider event, stored before it is processed: the unit of idempotency and durability.

    The webhook verifies, stores these rows and acknowledges; a task (or the sweeper, when the
    broker was down) processes them. (provider, dedupe_key) is unique, so a replay stores nothing.
    """

    provider = models.CharField(max_length=16)
    dedupe_key = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "dedupe_key"], name="inbound_event_unique"),
        ]
        indexes = [
            models.Index(fields=["received_at"], condition=Q(processed_at__isnull=True), name="inbound_unprocessed"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.kind} {self.dedupe_key}"


class Notification(models.Model):
    """Something an agent should see even if they were offline when it happened (a mention)."""

    class Kind(models.TextChoices):
        MENTION = "mention", "Mentioned in a note"
        ASSIGNMENT = "assignment", "Assigned a conversation"
        SLA_WARNING = "sla_warning", "SLA target due soon"
        SLA_BREACH = "sla_breach", "SLA target breached"
        RULE = "rule", "Automation rule"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A note edited or re-signalled never notifies the same person twice.
            models.UniqueConstraint(fields=["user", "kind", "message"], name="notification_once_per_message"),
        ]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"Notification {self.pk} for user {self.user_id}"


class ConversationRead(models.Model):
    """When an agent last opened a conversation: their own unread state.

    Not the customer's read receipt (Conversation.unread_count and the inbox's `read_receipt`
    etiquette): opening a thread marks it read for that agent only.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index the list's per-row lookup (this conversation, this user) reads.
            models.UniqueConstraint(fields=["conversation", "user"], name="conversation_read_once"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.conversation_id} read by {self.user_id}"


class SavedView(models.Model):
    """A named set of conversation-list filters: private to its owner, or shared with one team."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=60)
    # Query parameters of GET /api/v1/conversations/ (status, channel, assignee, team, label, q, ...).
    filters = models.JSONField(default=dict, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_views",
        help_text="Shared with this team's members; empty: private to its owner",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return self.name


class AuditEntry(models.Model):
    """Who did what to which object, from where. Kept when the actor or the target is deleted."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    # The actor's username at the time: survives the user's deletion or renaming.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target"),
            models.Index(fields=["action", "-created_at"], name="audit_action"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.target_type}:{self.target_id}"


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

class CannedResponse(models.Model):
    shortcut = models.SlugField(max_length=40, help_text="Typed after a slash in the composer, e.g. /refund")
    title = models.CharField(max_length=100)
    text = models.TextField()
    team = models.ForeignKey(
        "inbox.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="canned_responses",
        help_text="Empty: shared by every team",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "inbox"
        ordering = ["shortcut", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "shortcut"], name="canned_unique_shortcut_per_team"),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Macro(models.Model):
    """A named list of actions applied to a conversation in one go (inbox/macros/).

    Personal (`owner` set: only they see, use and change it) or shared with a team (`team` set: its
    members use it, its leads and managers change it). `actions` is a list of objects, each with
    a `type` (reply, note, labels, assign, status, attach, order_action); see inbox/macros/actions.py.
    """

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="macros",
        help_text="Set for a personal macro",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="macros", help_text="Set for a team's macro"
    )
    actions = models.JSONField(default=list, blank=True)
    usage_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=False, team__isnull=True) | Q(owner__isnull=True, team__isnull=False),
                name="macro_personal_or_team",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "name"], name="macro_team_name"),
            models.Index(fields=["owner", "name"], name="macro_owner_name"),
        ]

    def __str__(self) -> str:
        return self.name


class CsatStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENT = "sent", "Sent"
    ANSWERED = "answered", "Answered"
    SKIPPED = "skipped", "Skipped"


class CsatResponse(models.Model):
    """One satisfaction survey of a resolved conversation, and the customer's rating (1-5) and comment.

    Made `scheduled` when the conversation is resolved; the dispatcher (inbox/csat/surveys.py) sends
    it once due, where the channel's rules allow (else `skipped`, with the reason). The agent, team
    and channel are those of the conversation when it was resolved.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="csat_responses")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=CsatStatus.choices, default=CsatStatus.SCHEDULED)
    skip_reason = models.CharField(max_length=32, blank=True)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    commented_at = models.DateTimeField(null=True, blank=True)
    # The survey as sent (a bot message in the thread).
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="csat_rating_1_to_5"
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="scheduled"), name="csat_due"),
            models.Index(fields=["conversation", "-created_at"], name="csat_conversation"),
            models.Index(fields=["customer", "sent_at"], name="csat_customer_sent"),
            models.Index(fields=["inbox", "sent_at"], name="csat_inbox_sent"),
        ]

    def __str__(self) -> str:
        return f"Survey {self.pk} of conversation {self.conversation_id} ({self.status})"


# --- Order actions (inbox/orders/): a connected Shopify store and what agents asked it to do -------


class ShopifyStore(models.Model):
    """The shop's Shopify store: its myshopify.com domain, Admin API token and the refund limits.

    One store per installation (the orders synced from Shopify's webhooks carry no shop). The token
    is encrypted at rest like inbox credentials and never leaves in an API answer.
    """

    shop_domain = models.CharField(max_length=255, unique=True, help_text="e.g. northwind.myshopify.com")
    credentials = EncryptedJSONField(blank=True, default=dict, help_text="{access_token}")
    name = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    # The most one action may refund (or one discount code may be worth) per role; admins: no limit.
    agent_refund_limit = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("50.00"))
    lead_refund_limit = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("250.00"), help_text="Leads and managers"
    )
    # The largest percentage discount code a non-admin may create.
    discount_percent_limit = models.PositiveSmallIntegerField(default=20)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.shop_domain


class OrderActionKind(models.TextChoices):
    REFUND = "refund", "Refund"
    CANCEL = "cancel", "Cancel"
    SHIPPING_ADDRESS = "shipping_address", "Shipping address change"
    NOTIFICATION = "notification", "Notification resend"
    DISCOUNT_CODE = "discount_code", "Discount code"


class OrderActionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Done by Shopify"
    FAILED = "failed", "Failed"
    RECONCILED = "reconciled", "Confirmed by Shopify's webhook"


class OrderAction(models.Model):
    """An action on an order (or, for a discount code, on a customer), a row before it is an API call.

    Like an outbound message: the row is made in the request that asked, a task calls Shopify, and
    the row is the idempotency key (`idempotency_key` goes to Shopify where it takes one; refunds
    carry `reference` in their note, so after a lost answer the order's refunds are read back and
    the refund found, never made twice). Shopify's later webhooks mark it `reconciled`.
    """

    kind = models.CharField(max_length=20, choices=OrderActionKind.choices)
    status = models.CharField(max_length=12, choices=OrderActionStatus.choices, default=OrderActionStatus.QUEUED)
    order = models.ForeignKey(
        "customers.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="order_actions")
    store = models.ForeignKey(ShopifyStore, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    # What was asked, as the service planned it (line items, restock, notify, reason, address...).
    params = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    summary = models.CharField(max_length=500, help_text="What will happen, in words, as the confirmation said")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Shopify's id for what it made: the refund, the cancel job, the discount node...
    shopify_id = models.CharField(max_length=255, blank=True)
    # Shopify's answer: the mutation payload and its userErrors, or the transport error.
    response = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The timeline entry (on the customer's open conversation, when there is one).
    event = models.ForeignKey(ConversationEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["order", "-created_at"], name="order_action_order"),
            models.Index(fields=["customer", "-created_at"], name="order_action_customer"),
            models.Index(fields=["next_attempt_at"], condition=Q(status="queued"), name="order_action_queued_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"

    @property
    def reference(self) -> str:
        """The tag a refund's note carries, by which a refund whose answer was lost is recognised."""
        return f"[inbox {self.idempotency_key.hex[:12]}]"


# --- SLA policies (inbox/sla/) and automation rules (inbox/rules/) -------------------------------------


class SlaTarget(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class SlaPolicy(models.Model):
    """Targets for first response, next response and resolution, and which conversations they bind.

    A policy applies to a conversation when every condition it sets matches (each a list, any of
    whose values will do; none set: every conversation): `inboxes` (ids), `channels`, `labels` (the
    conversation's) and `customer_tags` (the customer's labels). Of the matching policies the most
    specific wins (inbox/sla/policies.py); a rule may apply one instead. Targets are seconds, of the
    inbox's business hours when `business_hours` is set, else of the clock.
    """

    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    next_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    business_hours = models.BooleanField(default=False, help_text="Count only the inbox's business hours")
    # A warning goes out this long before a target is due (real time), then another at the breach.
    warn_before_seconds = models.PositiveIntegerField(default=900)
    inboxes = models.JSONField(default=list, blank=True)
    channels = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=list, blank=True)
    customer_tags = models.JSONField(default=list, blank=True)
    # Who hears of warnings and breaches: the assignee, the team's leads, and these users (managers).
    notify_assignee = models.BooleanField(default=True)
    notify_leads = models.BooleanField(default=True)
    notify_users = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name

    def target_seconds(self, target: str) -> int | None:
        seconds: dict[str, int | None] = {
            SlaTarget.FIRST_RESPONSE: self.first_response_seconds,
            SlaTarget.NEXT_RESPONSE: self.next_response_seconds,
            SlaTarget.RESOLUTION: self.resolution_seconds,
        }
        return seconds.get(target)


class SlaClock(models.Model):
    """One target's clock on one conversation: started by a customer message (or the conversation
    opening), due at `due_at`, ended by a human reply or a resolve (`met_at`), or stopped when the
    conversation was resolved with a reply still owed (`stopped_at`). Derived from the messages and
    the status history by inbox/sla/clocks.py, live and in a rebuild alike."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sla_clocks")
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=16, choices=SlaTarget.choices)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    warn_at = models.DateTimeField()
    met_at = models.DateTimeField(null=True, blank=True)
    met_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Set by the alert dispatcher (inbox/sla/alerts.py) once it has told people.
    warning_sent = models.BooleanField(default=False)
    breach_sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "target", "started_at"], name="sla_clock_once"),
        ]
        indexes = [
            models.Index(fields=["warn_at"], name="sla_clock_warn_due",
                         condition=Q(met_at__isnull=True, stopped_at__isnull=True, warning_sent=False)),
            models.Index(fields=["due_at"], name="sla_clock_breach_due",
                         condition=Q(met_at__isnull=True, stopped_at__isnull=True, breach_sent=False)),
            models.Index(fields=["started_at"], name="sla_clock_started"),
        ]

    def __str__(self) -> str:
        return f"{self.target} of conversation {self.conversation_id} due {self.due_at:%Y-%m-%d %H:%M}"


class SlaAlert(models.Model):
    """A warning or breach told once: the row is the claim (unique per clock and kind), inserted by
    whichever dispatcher gets there first; a second dispatcher's insert conflicts and it tells nobody."""

    class Kind(models.TextChoices):
        WARNING = "warning", "Due soon"
        BREACH = "breach", "Breached"

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="alerts")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    target = models.CharField(max_length=16, choices=SlaTarget.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clock", "kind"], name="sla_alert_once")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.target} on conversation {self.conversation_id}"


class Rule(models.Model):
    """An automation rule: when `trigger` happens to a conversation, if every condition holds, do
    the actions (inbox/rules/). Rules run in `position` order, each at most once per event."""

    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100)
    trigger = models.CharField(max_length=32)
    # Time-based triggers (no customer reply, no agent reply): how long the silence lasts.
    delay_seconds = models.PositiveIntegerField(null=True, blank=True)
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list, blank=True)
    # The default rules (auto-reopen, auto-resolve, snooze wake-up) carry a key: switched off, not deleted.
    key = models.CharField(max_length=40, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["key"], condition=~Q(key=""), name="rule_unique_key")]
        indexes = [models.Index(fields=["trigger", "position", "id"], condition=Q(active=True), name="rule_active")]

    def __str__(self) -> str:
        return self.name


class RuleRun(models.Model):
    """What one rule did for one event on one conversation, or why it did nothing.

    Unique per (rule, conversation, event): the row is also the claim that makes a rule run at most
    once per event, whichever worker or dispatcher sees the event."""

    class Status(models.TextChoices):
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed (rolled back)"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="rule_runs")
    trigger = models.CharField(max_length=32)
    event_key = models.CharField(max_length=120)
    status = models.CharField(max_length=8, choices=Status.choices)
    reason = models.CharField(max_length=500, blank=True)
    actions = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    depth = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "conversation", "event_key"], name="rule_run_once"),
        ]
        indexes = [
            models.Index(fields=["rule", "-created_at"], name="rule_run_rule"),
            models.Index(fields=["conversation", "-created_at"], name="rule_run_conversation"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.conversation_id}: {self.status}"
