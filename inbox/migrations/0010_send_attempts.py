from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inbox", "0009_conversation_list_indexes")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="send_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
