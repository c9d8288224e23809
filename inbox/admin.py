"""Django admin for teams, agents, inboxes, conversations, messages and stored provider events.

Inbox credentials (page tokens, mailbox passwords) never leave the server in clear: the change
page shows them masked and accepts a new JSON object to replace them; left blank, they stay.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from inbox.audit import audit_record, current_request
from inbox.intake import store
from inbox.models import (
    Agent,
    AuditEntry,
    Conversation,
    ConversationEvent,
    InboundEvent,
    Inbox,
    Message,
    Rule,
    RuleRun,
    SlaPolicy,
    Team,
)
from inbox.rules.schema import RuleRefused, rule_clean
from inbox.sla.policies import FIELDS as SLA_POLICY_FIELDS
from inbox.sla.policies import PolicyRefused, policy_clean
from inbox_project.admin_utils import register_remaining

MASK = "••••"


def mask_secret(value) -> object:
    """Keys and shape stay visible; a value shows at most its last 4 characters, and only when long."""
    if isinstance(value, dict):
        return {key: mask_secret(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secret(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    return MASK + text[-4:] if len(text) >= 16 else MASK


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "default_capacity", "agent_count", "created_at"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(n_agents=Count("agents"))

    @admin.display(description="agents", ordering="n_agents")
    def agent_count(self, team: Team) -> int:
        return team.n_agents  # type: ignore[attr-defined]  # annotated by get_queryset


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "availability", "team_names", "capacity", "last_seen_at"]
    list_filter = ["role", "availability", "teams"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    filter_horizontal = ["teams"]
    list_select_related = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description="teams")
    def team_names(self, agent: Agent) -> str:
        return ", ".join(team.name for team in agent.teams.all())


class AgentInline(admin.StackedInline):
    model = Agent
    can_delete = False
    extra = 0
    filter_horizontal = ["teams"]
    fields = ["role", "teams", "availability", "capacity"]


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class InboxUserAdmin(UserAdmin):
    """Users with their inbox role and teams on the same page."""

    inlines = [*UserAdmin.inlines, AgentInline]


class InboxAdminForm(forms.ModelForm):
    credentials_json = forms.CharField(
        label="Replace credentials",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"page_access_token": "EAA…"}. Leave blank to keep what is stored.',
    )

    class Meta:
        model = Inbox
        fields = ["kind", "name", "external_id", "team", "settings"]

    def clean_credentials_json(self) -> dict | None:
        raw = self.cleaned_data["credentials_json"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Credentials must be a JSON object.")
        return value

    def save(self, commit: bool = True) -> Inbox:
        replacement = self.cleaned_data.get("credentials_json")
        if replacement is not None:
            self.instance.credentials = replacement
            if self.instance.pk:
                audit_record(actor=None, action="inbox.credentials_change", target=self.instance, request=current_request())
        return super().save(commit=commit)


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    form = InboxAdminForm
    list_display = ["name", "kind", "external_id", "team", "credentials_masked", "created_at"]
    list_filter = ["kind", "team"]
    search_fields = ["name", "external_id"]
    list_select_related = ["team"]
    readonly_fields = ["credentials_masked", "created_at"]
    fieldsets = [
        (None, {"fields": ["kind", "name", "external_id", "team"]}),
        ("Credentials", {"fields": ["credentials_masked", "credentials_json"]}),
        ("Automation", {"fields": ["settings"], "classes": ["collapse"], "description": (
            "A JSON object. Among its keys: auto_assign (round-robin to online agents, default false), "
            "reassign_on_away (hand an away agent's open conversations back, default false), "
            "unassign_on_resolve (default false: a resolved conversation keeps its assignee; true: resolving "
            "unassigns it and the history says this setting did), read_receipt (answer, open or never)."
        )}),
        (None, {"fields": ["created_at"]}),
    ]

    @admin.display(description="credentials")
    def credentials_masked(self, inbox: Inbox) -> str:
        if not inbox.pk or not inbox.credentials:
            return "—"
        return json.dumps(mask_secret(inbox.credentials), ensure_ascii=False)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "id", "customer", "channel", "inbox", "status", "assignee", "team", "window", "waiting_since", "last_message_at",
    ]
    list_filter = ["status", "channel", "inbox", "team"]
    search_fields = ["customer__name", "customer__email", "customer__phone", "identity__external_id", "subject"]
    raw_id_fields = ["inbox", "customer", "identity", "assignee", "team"]
    filter_horizontal = ["labels"]
    list_select_related = ["customer", "inbox", "assignee", "team"]
    date_hierarchy = "last_message_at"
    show_full_result_count = False
    readonly_fields = [
        "messages_link", "reply_token", "created_at", "last_message_at", "last_inbound_at", "last_customer_action_at",
        "window_closed_at", "window_expires_at", "waiting_since", "unread_count", "resolved_at",
    ]

    @admin.display(description="Meta window")
    def window(self, conversation: Conversation) -> str:
        return conversation.window_state(timezone.now()) or "—"

    @admin.display(description="messages")
    def messages_link(self, conversation: Conversation) -> str:
        url = reverse("admin:inbox_message_changelist") + f"?conversation__id__exact={conversation.pk}"
        return format_html('<a href="{}">Messages of this conversation</a>', url)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "direction", "sender_type", "short_text", "status", "tag", "created_at"]
    list_filter = ["direction", "sender_type", "status", "is_private", "inbox"]
    search_fields = ["text", "external_id", "email_message_id"]
    raw_id_fields = ["conversation", "inbox", "author"]
    list_select_related = ["conversation"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="text")
    def short_text(self, message: Message) -> str:
        text = message.text.replace("\n", " ")
        return text if len(text) <= 80 else text[:79] + "…"


@admin.register(ConversationEvent)
class ConversationEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "kind", "actor"]
    list_filter = ["kind"]
    raw_id_fields = ["conversation", "actor"]
    list_select_related = ["conversation", "actor"]
    show_full_result_count = False


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """What providers sent, as stored by the webhooks; read only, with a way to retry processing."""

    list_display = ["received_at", "provider", "kind", "dedupe_key", "processed_at", "attempts", "short_error"]
    list_filter = ["provider", "kind", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["dedupe_key"]
    readonly_fields = ["provider", "kind", "dedupe_key", "payload", "received_at", "processed_at", "attempts", "error"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ["process_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, event: InboundEvent) -> str:
        return event.error[:80]

    @admin.action(description="Process the selected events now (unprocessed ones only)")
    def process_now(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        ids = list(queryset.filter(processed_at=None).values_list("id", flat=True))
        for event_id in ids:
            store.event_process(event_id)
        done = InboundEvent.objects.filter(id__in=ids).exclude(processed_at=None).count()
        level = messages.SUCCESS if done == len(ids) else messages.WARNING
        self.message_user(request, f"Processed {done} of {len(ids)} unprocessed events.", level)


# Models added by other features (canned responses, metrics, notifications…).


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_name", "action", "target_type", "target_id", "ip")
    list_filter = ("action",)
    search_fields = ("actor_name", "target_id", "request_id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# --- SLA policies and automation rules: saved through the same checks as the API -----------------------


class RuleAdminForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "active", "position", "trigger", "delay_seconds", "conditions", "actions"]

    def clean(self):
        data = super().clean()
        try:
            data.update(rule_clean({k: data.get(k) for k in self.Meta.fields}, instance=self.instance if self.instance.pk else None))
        except RuleRefused as exc:
            raise forms.ValidationError(f"{exc.detail} ({exc.code})") from None
        return data


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleAdminForm
    list_display = ("name", "trigger", "active", "position", "key", "updated_at")
    list_filter = ("active", "trigger")
    ordering = ("position", "id")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None or not obj.key  # default rules are switched off, not deleted


class SlaPolicyAdminForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = sorted(SLA_POLICY_FIELDS)

    def clean(self):
        data = super().clean()
        try:
            data.update(policy_clean({k: data.get(k) for k in self.Meta.fields}, instance=self.instance if self.instance.pk else None))
        except PolicyRefused as exc:
            raise forms.ValidationError(f"{exc.detail} ({exc.code})") from None
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyAdminForm
    list_display = ("name", "active", "first_response_seconds", "next_response_seconds", "resolution_seconds",
                    "business_hours")
    list_filter = ("active", "business_hours")


@admin.register(RuleRun)
class RuleRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rule", "conversation_id", "trigger", "status", "reason")
    list_filter = ("status", "trigger")
    raw_id_fields = ("rule", "conversation")
    show_full_result_count = False
    readonly_fields = [f.name for f in RuleRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


register_remaining("inbox")
