"""Performance round 2: what the inbox list needs in the schema (none yet)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0016_processing")]

    operations: list = []
