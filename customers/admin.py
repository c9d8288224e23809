"""Django admin for customers, identities, consent and orders.

Lists stay cheap on large tables: related rows are joined (list_select_related), foreign keys are
raw ids, and the full result count is skipped.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from inbox_project.admin_utils import register_remaining

from .models import ConsentEvent, Customer, Identity, Label, MergeRecord, Order, OrderItem


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["channel", "scope", "external_id", "display_name", "verified", "created_at"]
    readonly_fields = ["created_at"]


class OrderInline(admin.TabularInline):
    model = Order
    extra = 0
    fields = ("number", "placed_at", "total", "currency", "financial_status", "fulfillment_status", "tracking_number")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class ConsentEventInline(admin.TabularInline):
    """The ledger, newest first; append-only, so nothing here is editable."""

    model = ConsentEvent
    extra = 0
    fields = ("created_at", "channel", "purpose", "granted", "source", "proof")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "email", "phone", "timezone", "created_at", "merged_into"]
    list_display_links = ["id", "name"]
    list_filter = ["labels", "created_at"]
    search_fields = ["name", "email", "phone", "identities__external_id"]
    raw_id_fields = ["merged_into"]
    filter_horizontal = ["labels"]
    readonly_fields = ["created_at", "updated_at", "erased_at"]
    inlines = [IdentityInline, OrderInline, ConsentEventInline]
    show_full_result_count = False


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["external_id", "channel", "scope", "display_name", "customer", "verified", "created_at"]
    list_filter = ["channel", "verified"]
    search_fields = ["external_id", "display_name", "customer__name"]
    raw_id_fields = ["customer"]
    list_select_related = ["customer"]
    show_full_result_count = False


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """Append-only: a change of mind is a new row, so rows can be added but not edited."""

    list_display = ["created_at", "customer", "channel", "purpose", "granted", "source"]
    list_filter = ["channel", "purpose", "granted", "source"]
    search_fields = ["customer__name", "customer__email", "customer__phone"]
    raw_id_fields = ["customer"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    fields = ["title", "sku", "quantity", "price"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "number", "customer", "total", "currency", "financial_status", "fulfillment_status", "tracking_number", "placed_at",
    ]
    list_filter = ["financial_status", "fulfillment_status", "source", "currency"]
    search_fields = ["number", "external_id", "tracking_number", "customer__name", "customer__email"]
    raw_id_fields = ["customer"]
    list_select_related = ["customer"]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    show_full_result_count = False


@admin.register(OrderItem)
class OrderItemAdmin(admin.ModelAdmin):
    list_display = ["title", "sku", "quantity", "price", "order"]
    search_fields = ["title", "sku", "order__number"]
    raw_id_fields = ["order"]
    list_select_related = ["order"]
    show_full_result_count = False


@admin.register(MergeRecord)
class MergeRecordAdmin(admin.ModelAdmin):
    """An audit trail: read only."""

    list_display = ["created_at", "kept", "merged_customer_id", "by"]
    search_fields = ["kept__name", "merged_customer_id"]
    raw_id_fields = ["kept", "by"]
    list_select_related = ["kept", "by"]
    readonly_fields = ["kept", "merged_customer_id", "merged_snapshot", "by", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# Models added by other features (refunds, webhook receipts, customer events, erasures…).
register_remaining("customers")
