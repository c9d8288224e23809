from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_identity_profile_checked_at")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="language",
            field=models.CharField(
                blank=True,
                choices=[("en", "English"), ("fr", "Français"), ("el", "Ελληνικά")],
                default="",
                max_length=8,
            ),
        ),
    ]
