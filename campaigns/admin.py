"""Django admin for campaigns, their sends, frequency caps and comment auto-responders.

Launching and pausing go through the API (`/api/v1/campaigns/{id}/launch/`), which plans the sends;
here a campaign's status and launch time are shown, not edited. Sends, comment replies and
automated replies are records of what happened: read only. Models added later get the default
admin from inbox_project.admin_utils.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest

from inbox_project.admin_utils import register_remaining

from .models import AutomatedReply, AutoResponder, Campaign, CampaignSend, CommentReply


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "channel", "inbox", "purpose", "status", "send_count", "launched_at", "created_at"]
    list_filter = ["status", "kind", "channel", "purpose", "inbox"]
    search_fields = ["name", "text", "subject", "trigger_event"]
    raw_id_fields = ["inbox", "created_by"]
    list_select_related = ["inbox"]
    readonly_fields = ["status", "launched_at", "created_by", "created_at"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return super().get_queryset(request).annotate(n_sends=Count("sends"))

    @admin.display(description="sends", ordering="n_sends")
    def send_count(self, campaign: Campaign) -> int:
        return campaign.n_sends  # type: ignore[attr-defined]  # annotated by get_queryset


@admin.register(CampaignSend)
class CampaignSendAdmin(_ReadOnly):
    list_display = ["id", "campaign", "customer", "channel", "status", "reason", "due_at", "sent_at"]
    list_filter = ["status", "channel", "purpose", "reason"]
    search_fields = ["campaign__name", "customer__name", "customer__email", "customer__phone"]
    raw_id_fields = ["campaign", "customer", "event", "message"]
    list_select_related = ["campaign", "customer"]
    date_hierarchy = "due_at"
    show_full_result_count = False


@admin.register(AutoResponder)
class AutoResponderAdmin(admin.ModelAdmin):
    list_display = ["id", "inbox", "keywords", "active", "created_at"]
    list_filter = ["active", "inbox"]
    search_fields = ["public_reply", "private_reply"]
    raw_id_fields = ["inbox"]
    list_select_related = ["inbox"]


@admin.register(CommentReply)
class CommentReplyAdmin(_ReadOnly):
    list_display = ["created_at", "inbox", "autoresponder", "post_id", "comment_id", "from_id", "error"]
    list_filter = ["inbox"]
    search_fields = ["post_id", "comment_id", "from_id"]
    raw_id_fields = ["inbox", "autoresponder"]
    list_select_related = ["inbox"]
    show_full_result_count = False


@admin.register(AutomatedReply)
class AutomatedReplyAdmin(_ReadOnly):
    list_display = ["created_at", "conversation", "kind", "period", "message"]
    list_filter = ["kind"]
    raw_id_fields = ["conversation", "message"]
    show_full_result_count = False


# FrequencyCap and anything added later.
register_remaining("campaigns")
