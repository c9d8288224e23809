from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0013_order_actions")]

    operations = []
