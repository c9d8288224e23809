from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_campaign_builder")]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="translations",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="autoresponder",
            name="translations",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
