"""Shapes of the API's objects (also the payload of realtime frames)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from inbox.conversations.files import attachments_for_api
from inbox.conversations.selectors import READ_AT, label_names_of, listed_customer_name, listed_inbox, unread_for
from inbox.models import Availability, Conversation, ConversationStatus, Inbox, Message
from inbox.realtime.frames import conversation_data
from inbox.sla.state import sla_data


class InboxRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Inbox
        fields = ["id", "kind", "name"]


class WindowSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["open", "human_agent", "closed"], allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class LastMessageSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="The first 200 characters, whitespace collapsed; blank for a file alone")
    direction = serializers.ChoiceField(choices=["in", "out"])
    sender_type = serializers.ChoiceField(choices=["customer", "agent", "bot", "system"])
    created_at = serializers.DateTimeField()


class SlaTargetSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=["first_response", "next_response", "resolution"])
    status = serializers.ChoiceField(
        choices=["running", "met", "stopped"],
        help_text="running: still owed; met: answered or resolved; stopped: resolved with a reply still owed",
    )
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    met_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    breached = serializers.BooleanField(help_text="Met or stopped after due_at, or running past it")
    breached_by_seconds = serializers.IntegerField(help_text="How late (now, while running); 0 when not breached")
    seconds_left = serializers.IntegerField(allow_null=True, help_text="Until due_at, while running; null once ended")


class SlaSerializer(serializers.Serializer):
    policy = inline_serializer("SlaPolicyRef", {"id": serializers.IntegerField(), "name": serializers.CharField()})
    due_at = serializers.DateTimeField(allow_null=True, help_text="The earliest due time of the running targets")
    breached = serializers.BooleanField(help_text="A running target is past its due time")
    targets = SlaTargetSerializer(many=True)


class ConversationSerializer(serializers.ModelSerializer):
    inbox = InboxRefSerializer(read_only=True)
    customer = serializers.SerializerMethodField()
    labels = serializers.ListField(child=serializers.CharField(), source="label_names", read_only=True)
    window = serializers.SerializerMethodField()
    thread = serializers.SerializerMethodField()
    last_message = serializers.SerializerMethodField()
    read_at = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()
    snippet = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "inbox",
            "channel",
            "customer",
            "status",
            "assignee",
            "team",
            "labels",
            "subject",
            "last_message_at",
            "waiting_since",
            "window",
            "unread_count",
            "snoozed_until",
            "created_at",
            "thread",
            "last_message",
            "last_inbound_at",
            "read_at",
            "unread",
            "snippet",
            "priority",
            "sla",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_customer(self, obj: Conversation) -> dict:
        return {"id": obj.customer_id, "name": str(obj.customer)}

    @extend_schema_field(WindowSerializer(allow_null=True))
    def get_window(self, obj: Conversation) -> dict | None:
        now = timezone.now()
        state = obj.window_state(now)
        if state is None:
            return None
        return {"state": state, "expires_at": obj.window_expires(now)}


    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["dm", "comments"]},
                "post_id": {"type": "string", "nullable": True},
            },
        }
    )
    def get_thread(self, obj: Conversation) -> dict:
        """`comments`: one person's comments under one post, answered with comment_reply."""
        return obj.thread

    @extend_schema_field(LastMessageSerializer(allow_null=True))
    def get_last_message(self, obj: Conversation) -> dict | None:
        """The list's preview: the last message to or from the customer (notes are not messages)."""
        return obj.last_message

    @extend_schema_field(
        {"type": "string", "format": "date-time", "nullable": True,
         "description": "When you last opened it (per agent); null if never, and in realtime frames"}
    )
    def get_read_at(self, obj: Conversation) -> datetime | None:
        return getattr(obj, READ_AT, None)

    @extend_schema_field(
        {"type": "boolean", "nullable": True,
         "description": (
             "Unread for you: customer messages nobody answered or marked read came in since you last "
             "opened it. Per agent, so null in realtime frames (which every viewer shares): keep your own."
         )}
    )
    def get_unread(self, obj: Conversation) -> bool | None:
        if not hasattr(obj, READ_AT):
            return None
        return unread_for(obj, getattr(obj, READ_AT))

    @extend_schema_field(
        {"type": "string", "nullable": True,
         "description": "Search hits (`q`): where it matched, as HTML-escaped text with the match in <mark>…</mark>"}
    )
    def get_snippet(self, obj: Conversation) -> str | None:
        return getattr(obj, "search_snippet", None)

    @extend_schema_field(SlaSerializer(allow_null=True))
    def get_sla(self, obj: Conversation) -> dict | None:
        """The SLA policy that applies and, per target, its latest clock (inbox/sla/state.py); null: none applies."""
        return sla_data(obj, timezone.now())


def conversation_rows(conversations: list[Conversation]) -> list[dict]:
    """Rows of `selectors.conversations_listed` as the list answers them: ConversationSerializer's
    objects (tests hold the two equal), built by the realtime frames' builder with the asking agent's
    read state and snippet, without DRF's per-field machinery (most of a page's cost)."""
    now = timezone.now()
    return [
        conversation_data(
            conversation, label_names=label_names_of(conversation), inbox=listed_inbox(conversation),
            customer_name=listed_customer_name(conversation), now=now, viewer=True,
        )
        for conversation in conversations
    ]


class AttachmentSerializer(serializers.Serializer):
    url = serializers.CharField(
        allow_blank=True, help_text="This app's /attachments/<message>/<index>/ URL (never the provider's); blank if none"
    )
    content_type = serializers.CharField(allow_blank=True)
    name = serializers.CharField(required=False)
    size = serializers.IntegerField(required=False)
    state = serializers.ChoiceField(
        choices=["ready", "pending", "failed", "external", "none"],
        help_text="ready: held by us; pending: being fetched from the provider; failed: could not be fetched",
    )


class MessageSerializer(serializers.ModelSerializer):
    sender = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "text",
            "subject",
            "sender",
            "is_private",
            "created_at",
            "status",
            "error",
            "external_id",
            "tag",
            "messaging_type",
            "attachments",
            "payload",
            "reactions",
            "deleted_at",
            "segments",
            "sent_at",
            "delivered_at",
            "read_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {"type": "object", "properties": {"type": {"type": "string"}, "id": {"type": "integer", "nullable": True}}}
    )
    def get_sender(self, obj: Message) -> dict:
        if obj.sender_type == "customer":
            return {"type": "customer", "id": obj.conversation.customer_id}
        return {"type": obj.sender_type, "id": obj.author_id}

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, obj: Message) -> list[dict]:
        return attachments_for_api(obj)

    @extend_schema_field({"type": "object", "nullable": True, "properties": {"code": {"type": "string"}, "detail": {"type": "string"}}})
    def get_error(self, obj: Message) -> dict | None:
        if obj.status != "failed" and not obj.error_code:
            return None
        return {"code": obj.error_code, "detail": obj.error_detail}


# --- Request bodies (the API's writes) ------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A string and nothing else: DRF's CharField would turn 42 into "42".

    NUL and lone surrogates are refused by CharField's own validators (400, never a DB error).
    """

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """Every error: a machine code and a human sentence; validation errors add `fields`."""

    code = serializers.CharField(help_text="e.g. not_found, invalid, parse_error, window_closed, opted_out, too_long")
    detail = serializers.CharField()
    # Shadows Serializer.fields in the stubs only: DRF takes declared fields off the class.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Per-field messages, on validation errors only"
    )


class ConversationUpdateSerializer(serializers.Serializer):
    """PATCH body: send only what changes."""

    status = serializers.ChoiceField(choices=ConversationStatus.choices, required=False)
    snoozed_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Required, in the future, when status is snoozed"
    )
    assignee = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, help_text="User id, or null"
    )
    team = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, help_text="Team id, or null"
    )
    labels = serializers.ListField(
        child=StrictCharField(max_length=64, trim_whitespace=True),
        required=False,
        max_length=50,
        help_text="Replaces the labels; unknown names are created",
    )


class AttachmentInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    content_type = StrictCharField(max_length=100, required=False, allow_blank=True, default="")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "An upload token"},
            {"type": "object", "properties": {"url": {"type": "string"}, "content_type": {"type": "string"}}, "required": ["url"]},
        ]
    }
)
class AttachmentRefField(serializers.Field):
    """An upload's token (from POST /conversations/{id}/attachments/) or, as before, `{url, content_type}`."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not data or len(data) > 4000:
                self.fail("invalid")
            return data
        body = AttachmentInputSerializer(data=data)
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)

    default_error_messages = {"invalid": "An attachment is an upload token or an object with a url."}


class QuickReplySerializer(serializers.Serializer):
    title = StrictCharField(max_length=20)
    payload = StrictCharField(max_length=1000)


class ReplyCreateSerializer(serializers.Serializer):
    text = StrictCharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    tag = StrictCharField(
        required=False, allow_null=True, allow_blank=True, default=None, help_text="HUMAN_AGENT (Messenger/Instagram)"
    )
    subject = StrictCharField(required=False, allow_blank=True, default="", max_length=300, help_text="Email only")
    attachments = serializers.ListField(
        child=AttachmentRefField(), required=False, max_length=10,
        help_text="Upload tokens from POST /conversations/{id}/attachments/ (or `{url, content_type}` objects)",
    )
    quick_replies = QuickReplySerializer(  # type: ignore[call-arg]  # many=True hands max_length to the ListSerializer
        many=True, required=False, max_length=13, help_text="Messenger/Instagram buttons under the text"
    )
    comment_reply = serializers.ChoiceField(
        choices=["public", "private"], required=False, allow_null=True, default=None,
        help_text="Comment threads: reply under the comment (public, the default) or one private message (private)",
    )
    comment_id = StrictCharField(
        required=False, allow_blank=True, default="", max_length=128,
        help_text="Comment threads: the comment to answer (default: the latest)",
    )

    def validate_subject(self, value: str) -> str:
        # A line break in a header would end it (and could start another: header injection).
        if "\r" in value or "\n" in value:
            raise serializers.ValidationError("A subject is one line: no carriage return or line feed.")
        return value


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)


class UploadedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Name it in a reply's `attachments`; valid 24 h, for you and this conversation")
    url = serializers.CharField(help_text="A preview, for you only")
    content_type = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class NoteCreateSerializer(serializers.Serializer):
    text = StrictCharField(trim_whitespace=False)


# --- Assignment menus and bulk actions --------------------------------------------------------------


class AssignableAgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField()
    availability = serializers.ChoiceField(choices=Availability.choices)
    me = serializers.BooleanField()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AssignableSerializer(serializers.Serializer):
    agents = AssignableAgentSerializer(many=True, help_text="Whom you may assign it to")
    teams = TeamRefSerializer(many=True, help_text="Where you may route it")
    may_unassign = serializers.BooleanField(help_text="Whether you may leave it with nobody")
    assign_to_me = serializers.BooleanField(help_text="Whether \"Assign to me\" applies (you may, and it is not yours yet)")


class BulkSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1, max_length=100,
    )
    action = serializers.ChoiceField(choices=["assign", "move_team", "label", "snooze", "resolve", "macro"])
    assignee = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, help_text="assign: a user id, or null"
    )
    team = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1, help_text="move_team: a team id, or null"
    )
    labels = serializers.ListField(
        child=StrictCharField(max_length=64, trim_whitespace=True), required=False, min_length=1, max_length=50,
        help_text="label: names added to each conversation (unknown names are created)",
    )
    snoozed_until = serializers.DateTimeField(required=False, help_text="snooze: until when (in the future)")
    macro = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="macro: the id of a macro you may use"
    )

    NEEDS = {"assign": "assignee", "move_team": "team", "label": "labels", "snooze": "snoozed_until", "macro": "macro"}

    def validate(self, attrs):
        needed = self.NEEDS.get(attrs["action"])
        if needed and needed not in attrs:
            raise serializers.ValidationError({needed: f"Required for {attrs['action']}."})
        if attrs["action"] == "snooze" and attrs["snoozed_until"] <= timezone.now():
            raise serializers.ValidationError({"snoozed_until": "Snoozing needs a time in the future."})
        return attrs


class BulkRowErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class BulkRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ok = serializers.BooleanField()
    conversation = ConversationSerializer(required=False, allow_null=True, help_text="When ok: as it is now (null if out of your sight)")
    error = BulkRowErrorSerializer(required=False, help_text="When not ok")


class BulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkRowSerializer(many=True, help_text="One per id, in the order given")
