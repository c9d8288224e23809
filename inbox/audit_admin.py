"""Read-only Django admin for the audit log: entries are written by the services, never by hand."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .audit_models import AuditEntry


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
