"""Backup and restore as docs/OPERATIONS.md describes them: pg_dump -Fc, then pg_restore into a new database."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import psycopg
import pytest
from django.db import connection

from inbox.models import Conversation, Message
from tests.conftest import post_meta
from tests.inbox.meta_support import fixture_at, now_ms

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")

TABLES = ["inbox_message", "inbox_conversation", "inbox_inboundevent", "customers_customer", "customers_identity"]


def _conninfo(dbname: str) -> dict:
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": str(s["PORT"] or 5432), "user": s["USER"], "dbname": dbname}


def _pg_env() -> dict:
    env = dict(os.environ)
    if connection.settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = connection.settings_dict["PASSWORD"]
    return env


def _counts(dbname: str) -> dict[str, int]:
    with psycopg.connect(**_conninfo(dbname), autocommit=True) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}  # noqa: S608


@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_a_fresh_database_holds_the_same_conversations_and_messages(client, messenger_inbox, tmp_path):
    for name in ("meta/messenger_text.json", "meta/messenger_attachments.json"):
        assert post_meta(client, fixture_at(name, now_ms(seconds_ago=120))).status_code == 200
    assert Message.objects.count() >= 2 and Conversation.objects.exists()

    source = connection.settings_dict["NAME"]
    target = f"{source}_restore_{uuid.uuid4().hex[:8]}"
    info = _conninfo(source)
    dump = tmp_path / "inbox.dump"
    base = ["-h", info["host"], "-p", info["port"], "-U", info["user"]]

    subprocess.run(["pg_dump", *base, "-Fc", "--no-owner", "-f", str(dump), source], check=True, env=_pg_env(), timeout=120)
    subprocess.run(["createdb", *base, target], check=True, env=_pg_env(), timeout=60)
    try:
        subprocess.run(
            ["pg_restore", *base, "--no-owner", "--exit-on-error", "-d", target, str(dump)],
            check=True, env=_pg_env(), timeout=120,
        )
        restored = _counts(target)
        assert restored == _counts(source)
        assert restored["inbox_message"] == Message.objects.count()
        assert restored["inbox_conversation"] == Conversation.objects.count()
    finally:
        subprocess.run(["dropdb", *base, "--if-exists", "--force", target], check=False, env=_pg_env(), timeout=60)
