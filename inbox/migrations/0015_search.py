"""Full-text search on PostgreSQL (inbox/conversations/search.py).

- `inbox_message.search_config`: the text-search configuration of the message's language (a model
  field, both databases; 'simple' until the language is known).
- PostgreSQL only, invisible to the ORM: `inbox_message.search_vector tsvector`, the subject
  (weight A) and text (weight B) parsed with the row's own configuration, kept by a BEFORE
  INSERT/UPDATE trigger. Neither a generated column nor one expression index can do that:
  `to_tsvector(search_config::regconfig, text)` is not immutable (the cast reads the catalog), and a
  CASE over fixed configurations would rewrite the whole table for every language added. The trigger
  also covers every writer: the ORM, QuerySet.update (an erasure blanks the text and the vector with
  it), COPY (seed_bench) and raw SQL.
- One partial GIN index on the vector per configuration (`WHERE search_config = '<cfg>'`): a query is
  parsed once per configuration and each parsed query reads only its language's index, so stemming
  and `-not` mean the same thing in the query as in the rows it is tested against.
- `pg_trgm` and GIN trigram indexes on customers' name, email and phone (ILIKE '%…%' and word
  similarity).

Existing rows are filled in batches of BATCH ids, each committed on its own (the migration is not
atomic), and the indexes are built CONCURRENTLY, so a live inbox keeps writing meanwhile; the
trigger exists before the first batch, so no row written during the backfill is missed. The
embedded SQLite mode gets the model field only (its search is a substring match).
"""

from django.db import migrations, models

BATCH = 20_000
CONFIGS = ("simple", "english", "french", "greek")

FUNCTION = """
CREATE OR REPLACE FUNCTION inbox_message_search_vector_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector(NEW.search_config::regconfig, coalesce(NEW.subject, '')), 'A')
        || setweight(to_tsvector(NEW.search_config::regconfig, coalesce(NEW.text, '')), 'B');
    RETURN NEW;
END
$$
"""
TRIGGERS = [
    "CREATE TRIGGER inbox_message_search_vector_insert BEFORE INSERT ON inbox_message "
    "FOR EACH ROW EXECUTE FUNCTION inbox_message_search_vector_fill()",
    "CREATE TRIGGER inbox_message_search_vector_update BEFORE UPDATE OF text, subject, search_config "
    "ON inbox_message FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text OR OLD.subject IS DISTINCT FROM "
    "NEW.subject OR OLD.search_config IS DISTINCT FROM NEW.search_config OR NEW.search_vector IS NULL) "
    "EXECUTE FUNCTION inbox_message_search_vector_fill()",
]
BACKFILL = """
UPDATE inbox_message SET search_vector =
    setweight(to_tsvector(search_config::regconfig, coalesce(subject, '')), 'A')
    || setweight(to_tsvector(search_config::regconfig, coalesce(text, '')), 'B')
WHERE id >= %s AND id < %s AND search_vector IS NULL
"""
VECTOR_INDEXES = [
    (f"msg_search_{config}", f"ON inbox_message USING gin (search_vector) WHERE search_config = '{config}'")
    for config in CONFIGS
]
TRIGRAM_INDEXES = [
    (f"customer_{column}_trgm", f"ON customers_customer USING gin ({column} gin_trgm_ops)")
    for column in ("name", "email", "phone")
]


def forwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    run("ALTER TABLE inbox_message ADD COLUMN IF NOT EXISTS search_vector tsvector")
    run(FUNCTION)
    for sql in TRIGGERS:
        run(sql)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM inbox_message")
        low, high = cursor.fetchone()
        if low is not None:
            for start in range(low, high + 1, BATCH):
                cursor.execute(BACKFILL, [start, start + BATCH])
    for name, body in VECTOR_INDEXES + TRIGRAM_INDEXES:
        run(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {body}")


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    for name, _ in VECTOR_INDEXES + TRIGRAM_INDEXES:
        run(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    run("DROP TRIGGER IF EXISTS inbox_message_search_vector_insert ON inbox_message")
    run("DROP TRIGGER IF EXISTS inbox_message_search_vector_update ON inbox_message")
    run("DROP FUNCTION IF EXISTS inbox_message_search_vector_fill()")
    run("ALTER TABLE inbox_message DROP COLUMN IF EXISTS search_vector")
    # pg_trgm stays: other things may use it, and dropping an extension is the DBA's call.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("inbox", "0014_sla_rules")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="search_config",
            field=models.CharField(
                choices=[
                    ("simple", "No language (no stemming)"),
                    ("english", "English"),
                    ("french", "French"),
                    ("greek", "Greek"),
                ],
                db_default="simple",
                default="simple",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.CheckConstraint(
                condition=models.Q(search_config__in=list(CONFIGS)), name="message_search_config_known"
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
        # Appended by the languages work (issue 22), not part of search: each agent's language and
        # time zone (inbox_project.middleware.LanguageMiddleware).
        migrations.AddField(
            model_name="agent",
            name="language",
            field=models.CharField(
                blank=True,
                choices=[("en", "English"), ("fr", "Français"), ("el", "Ελληνικά")],
                default="",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="agent",
            name="time_zone",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
