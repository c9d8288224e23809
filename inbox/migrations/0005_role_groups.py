from django.db import migrations


def create_role_groups(apps, schema_editor):
    from inbox.team.roles import groups_sync

    groups_sync(apps=apps, using=schema_editor.connection.alias)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["agent", "lead", "manager", "admin"]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0004_agent_presence_notifications"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
