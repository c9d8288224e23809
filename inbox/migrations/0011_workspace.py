import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

PREVIEW_CHARS = 200

# The latest message (never a note) of every conversation, as the list's preview.
BACKFILL_POSTGRESQL = f"""
UPDATE inbox_conversation AS c
SET last_message_text = left(btrim(regexp_replace(m.text, '\\s+', ' ', 'g')), {PREVIEW_CHARS}),
    last_message_direction = m.direction,
    last_message_sender_type = m.sender_type
FROM (
    SELECT DISTINCT ON (conversation_id) conversation_id, text, direction, sender_type
    FROM inbox_message
    WHERE NOT is_private
    ORDER BY conversation_id, created_at DESC, id DESC
) AS m
WHERE m.conversation_id = c.id
"""


def previews_backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL_POSTGRESQL)
        return
    Conversation = apps.get_model("inbox", "Conversation")
    Message = apps.get_model("inbox", "Message")
    for conversation in Conversation.objects.only("id").iterator():
        last = (
            Message.objects.filter(conversation_id=conversation.pk, is_private=False)
            .order_by("-created_at", "-id")
            .values("text", "direction", "sender_type")
            .first()
        )
        if last:
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_text=" ".join(last["text"].split())[:PREVIEW_CHARS],
                last_message_direction=last["direction"],
                last_message_sender_type=last["sender_type"],
            )


class Migration(migrations.Migration):
    """The workspace, round 2: the list's last-message preview on the conversation row, per-agent
    read state, saved views, and assignment notifications."""

    dependencies = [
        ("inbox", "0010_send_attempts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="last_message_direction",
            field=models.CharField(blank=True, default="", max_length=3),
        ),
        migrations.AddField(
            model_name="conversation",
            name="last_message_sender_type",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.AddField(
            model_name="conversation",
            name="last_message_text",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.RunPython(previews_backfill, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[("mention", "Mentioned in a note"), ("assignment", "Assigned a conversation")], max_length=16
            ),
        ),
        migrations.CreateModel(
            name="ConversationRead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("read_at", models.DateTimeField()),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="reads", to="inbox.conversation"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("conversation", "user"), name="conversation_read_once")],
            },
        ),
        migrations.CreateModel(
            name="SavedView",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=60)),
                ("filters", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_views",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        blank=True,
                        help_text="Shared with this team's members; empty: private to its owner",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="saved_views",
                        to="inbox.team",
                    ),
                ),
            ],
            options={
                "ordering": ["name", "id"],
                "constraints": [models.UniqueConstraint(fields=("owner", "name"), name="saved_view_unique_name")],
            },
        ),
    ]
