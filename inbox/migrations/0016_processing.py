"""Performance round 2, processing: a version per cached configuration table (inbox/versions.py).

`inbox_config_version` holds one row per table that processes cache (automation rules, SLA
policies); a trigger on each of those tables gives its row a new version at every statement that
writes it (INSERT, UPDATE, DELETE, TRUNCATE: the ORM, a `QuerySet.update`, a bulk insert, raw SQL
alike), in the writing transaction. A version is never used twice (a sequence on PostgreSQL, which a
rollback does not rewind; random on SQLite), so a cache filled in a transaction that rolled back can
never match a later version. No model: nothing reads it but inbox/versions.py, in one statement.
"""

from django.db import migrations

TABLES = {"rules": "inbox_rule", "sla_policies": "inbox_slapolicy"}


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    run = schema_editor.execute
    if vendor == "postgresql":
        run("CREATE SEQUENCE inbox_config_version_seq")
        run("CREATE TABLE inbox_config_version (name varchar(32) PRIMARY KEY, version bigint NOT NULL)")
        run(
            "CREATE FUNCTION inbox_config_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE inbox_config_version SET version = nextval('inbox_config_version_seq') WHERE name = TG_ARGV[0]; "
            "RETURN NULL; END $$"
        )
        for name, table in TABLES.items():
            run(f"INSERT INTO inbox_config_version (name, version) VALUES ('{name}', nextval('inbox_config_version_seq'))")
            run(f"CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION inbox_config_version_bump('{name}')")
        return
    run("CREATE TABLE inbox_config_version (name varchar(32) PRIMARY KEY, version bigint NOT NULL)")
    for name, table in TABLES.items():
        run(f"INSERT INTO inbox_config_version (name, version) VALUES ('{name}', random())")
        for op in ("INSERT", "UPDATE", "DELETE"):
            run(f"CREATE TRIGGER {table}_version_{op.lower()} AFTER {op} ON {table} BEGIN "
                f"UPDATE inbox_config_version SET version = random() WHERE name = '{name}'; END")


def backwards(apps, schema_editor):
    run = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES.values():
            run(f"DROP TRIGGER IF EXISTS {table}_version ON {table}")
        run("DROP FUNCTION IF EXISTS inbox_config_version_bump()")
        run("DROP TABLE IF EXISTS inbox_config_version")
        run("DROP SEQUENCE IF EXISTS inbox_config_version_seq")
        return
    for table in TABLES.values():
        for op in ("insert", "update", "delete"):
            run(f"DROP TRIGGER IF EXISTS {table}_version_{op}")
    run("DROP TABLE IF EXISTS inbox_config_version")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0015_search")]

    operations: list = [migrations.RunPython(forwards, backwards, elidable=False)]
