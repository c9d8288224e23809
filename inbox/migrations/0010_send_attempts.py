from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("inbox", "0009_conversation_list_indexes")]

    operations = []
