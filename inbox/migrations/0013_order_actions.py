"""Order actions: the connected Shopify store (token encrypted, refund limits per role) and each
action asked of it, a row before it is an API call; their timeline entries (ConversationEvent kind
`order_action`)."""

import uuid
from decimal import Decimal

import django.core.serializers.json
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import inbox.fields


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_identity_profile_checked_at"),
        ("inbox", "0012_macros_csat"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="conversationevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("assigned", "Assigned"), ("status", "Status changed"), ("team", "Team changed"),
                    ("labels", "Labels changed"), ("window", "Window closed"), ("macro", "Macro applied"),
                    ("csat", "Satisfaction rating"), ("order_action", "Order action"),
                ],
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="ShopifyStore",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("shop_domain", models.CharField(help_text="e.g. northwind.myshopify.com", max_length=255, unique=True)),
                ("credentials", inbox.fields.EncryptedJSONField(blank=True, default=dict, help_text="{access_token}")),
                ("name", models.CharField(blank=True, max_length=255)),
                ("currency", models.CharField(blank=True, max_length=3)),
                ("agent_refund_limit", models.DecimalField(decimal_places=2, default=Decimal("50.00"), max_digits=12)),
                (
                    "lead_refund_limit",
                    models.DecimalField(
                        decimal_places=2, default=Decimal("250.00"), help_text="Leads and managers", max_digits=12
                    ),
                ),
                ("discount_percent_limit", models.PositiveSmallIntegerField(default=20)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "connected_by",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="OrderAction",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("refund", "Refund"), ("cancel", "Cancel"), ("shipping_address", "Shipping address change"),
                            ("notification", "Notification resend"), ("discount_code", "Discount code"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"), ("sent", "Done by Shopify"), ("failed", "Failed"),
                            ("reconciled", "Confirmed by Shopify's webhook"),
                        ],
                        default="queued",
                        max_length=12,
                    ),
                ),
                (
                    "params",
                    models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder),
                ),
                ("amount", models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True)),
                ("currency", models.CharField(blank=True, max_length=3)),
                (
                    "summary",
                    models.CharField(help_text="What will happen, in words, as the confirmation said", max_length=500),
                ),
                ("actor_name", models.CharField(blank=True, max_length=150)),
                ("idempotency_key", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("shopify_id", models.CharField(blank=True, max_length=255)),
                (
                    "response",
                    models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder),
                ),
                ("error_code", models.CharField(blank=True, max_length=64)),
                ("error_detail", models.TextField(blank=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("reconciled_at", models.DateTimeField(blank=True, null=True)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="order_actions",
                        to="customers.customer",
                    ),
                ),
                (
                    "event",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to="inbox.conversationevent",
                    ),
                ),
                (
                    "order",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="actions",
                        to="customers.order",
                    ),
                ),
                (
                    "store",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="actions",
                        to="inbox.shopifystore",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["order", "-created_at"], name="order_action_order"),
                    models.Index(fields=["customer", "-created_at"], name="order_action_customer"),
                    models.Index(
                        condition=models.Q(("status", "queued")), fields=["next_attempt_at"],
                        name="order_action_queued_due",
                    ),
                ],
            },
        ),
    ]
