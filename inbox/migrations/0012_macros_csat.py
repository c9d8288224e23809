from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0011_workspace")]

    operations = []
