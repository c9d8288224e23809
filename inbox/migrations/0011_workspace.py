from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0010_send_attempts")]

    operations = []
