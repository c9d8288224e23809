from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0012_macros_csat")]

    operations = []
