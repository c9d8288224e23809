"""Performance round 2: what the processing path needs in the schema (none yet)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0015_search")]

    operations: list = []
