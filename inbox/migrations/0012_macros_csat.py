"""Macros (named lists of actions), satisfaction surveys and their answers, and macro steps folded
into one timeline entry (ConversationEvent.part_of)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_identity_profile_checked_at"),
        ("inbox", "0011_workspace"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="conversationevent",
            name="part_of",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="parts",
                to="inbox.conversationevent",
            ),
        ),
        migrations.AlterField(
            model_name="conversationevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("assigned", "Assigned"), ("status", "Status changed"), ("team", "Team changed"),
                    ("labels", "Labels changed"), ("window", "Window closed"), ("macro", "Macro applied"),
                    ("csat", "Satisfaction rating"),
                ],
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="CsatResponse",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("channel", models.CharField(
                    choices=[("messenger", "Messenger"), ("instagram", "Instagram"), ("sms", "SMS"), ("email", "Email")],
                    max_length=16,
                )),
                ("status", models.CharField(
                    choices=[("scheduled", "Scheduled"), ("sent", "Sent"), ("answered", "Answered"), ("skipped", "Skipped")],
                    default="scheduled", max_length=10,
                )),
                ("skip_reason", models.CharField(blank=True, max_length=32)),
                ("due_at", models.DateTimeField()),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("answered_at", models.DateTimeField(blank=True, null=True)),
                ("rating", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("comment", models.TextField(blank=True)),
                ("commented_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("agent", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                    to=settings.AUTH_USER_MODEL,
                )),
                ("conversation", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="csat_responses", to="inbox.conversation",
                )),
                ("customer", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="+", to="customers.customer",
                )),
                ("inbox", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="inbox.inbox")),
                ("message", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="inbox.message",
                )),
                ("team", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="inbox.team",
                )),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(condition=models.Q(("status", "scheduled")), fields=["due_at"], name="csat_due"),
                    models.Index(fields=["conversation", "-created_at"], name="csat_conversation"),
                    models.Index(fields=["customer", "sent_at"], name="csat_customer_sent"),
                    models.Index(fields=["inbox", "sent_at"], name="csat_inbox_sent"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("rating__isnull", True), models.Q(("rating__gte", 1), ("rating__lte", 5)), _connector="OR"
                        ),
                        name="csat_rating_1_to_5",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Macro",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("actions", models.JSONField(blank=True, default=list)),
                ("usage_count", models.PositiveIntegerField(default=0)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("created_by", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                    to=settings.AUTH_USER_MODEL,
                )),
                ("owner", models.ForeignKey(
                    blank=True, help_text="Set for a personal macro", null=True,
                    on_delete=django.db.models.deletion.CASCADE, related_name="macros", to=settings.AUTH_USER_MODEL,
                )),
                ("team", models.ForeignKey(
                    blank=True, help_text="Set for a team's macro", null=True,
                    on_delete=django.db.models.deletion.CASCADE, related_name="macros", to="inbox.team",
                )),
            ],
            options={
                "ordering": ["name", "id"],
                "indexes": [
                    models.Index(fields=["team", "name"], name="macro_team_name"),
                    models.Index(fields=["owner", "name"], name="macro_owner_name"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("owner__isnull", False), ("team__isnull", True)),
                            models.Q(("owner__isnull", True), ("team__isnull", False)),
                            _connector="OR",
                        ),
                        name="macro_personal_or_team",
                    ),
                ],
            },
        ),
    ]
