from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0014_sla_rules")]

    operations = []
