"""Configuration from the environment: a bad value stops the process at start-up, naming the variable.

Each case imports the settings in a fresh interpreter (settings are read once per process), without
pytest loaded, so the production branch of the settings is what runs.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOAD_SETTINGS = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def _env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="inbox_project.settings",
        DEBUG="1",
        SECRET_KEY="",
        TESTING="0",
        PYTHONPATH=str(ROOT),
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(code: str, **overrides: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(**overrides), capture_output=True, text=True, timeout=60
    )


def test_the_settings_load_with_development_defaults():
    result = _run(LOAD_SETTINGS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://shop:pw@127.0.0.1:3306/inbox"),
        ("REDIS_URL", "http://x"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("META_GRAPH_URL", "graph.facebook.com/v24.0"),
        ("DB_POOL_MAX", "lots"),
        ("EMAIL_PORT", "smtp"),
        ("INBOUND_DISPATCH", "kafka"),
        ("INBOUND_EVENT_RETENTION_DAYS", "3"),
        ("INBOUND_EVENT_RETENTION_DAYS", "-1"),
    ],
)
def test_a_bad_value_fails_loudly_naming_the_variable(variable, value):
    result = _run(LOAD_SETTINGS, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_a_missing_secret_key_fails_when_debug_is_off():
    result = _run(LOAD_SETTINGS, DEBUG="0", SECRET_KEY=None, ALLOWED_HOSTS="shop.example")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_missing_allowed_hosts_fails_when_debug_is_off():
    result = _run(LOAD_SETTINGS, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS=None)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_an_empty_redis_url_counts_as_unset():
    code = "import django; django.setup(); from django.conf import settings; print(repr(settings.REDIS_URL))"
    result = _run(code, REDIS_URL="", INBOX_EMBEDDED="1", DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("None", "''")


def test_forced_embedded_mode_uses_sqlite_an_in_memory_layer_and_eager_tasks(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER)"
    )
    result = _run(code, INBOX_EMBEDDED="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", REDIS_URL=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        # Django's SQLite backend, with index definitions SQLite accepts (inbox_project/db/sqlite3/).
        "inbox_project.db.sqlite3", "channels.layers.InMemoryChannelLayer", "True",
    ]
    assert "embedded mode" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "embedded mode" in line]) == 1


def test_the_embedded_sqlite_database_migrates_forwards_and_back(tmp_path):
    """`make run` without PostgreSQL: every migration must run on SQLite too (e.g. the list
    indexes, built CONCURRENTLY and with NULLS LAST on PostgreSQL only)."""
    env = dict(INBOX_EMBEDDED="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", REDIS_URL=None)
    for args in (["migrate"], ["migrate", "inbox", "0008"], ["migrate"]):
        result = subprocess.run([sys.executable, "manage.py", *args, "--noinput", "-v0"], cwd=ROOT, env=_env(**env),
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-2000:]


_DISPATCH = "import django; django.setup(); from django.conf import settings; print(settings.INBOUND_DISPATCH)"


def test_inbound_dispatch_is_notify_with_postgresql_and_a_worker_and_direct_otherwise(tmp_path):
    postgres = "postgres://postgres@127.0.0.1:5432/inbox"
    worker = _run(_DISPATCH, DATABASE_URL=postgres, REDIS_URL="redis://127.0.0.1:6379/0", CELERY_TASK_ALWAYS_EAGER="0")
    in_process = _run(_DISPATCH, DATABASE_URL=postgres, CELERY_TASK_ALWAYS_EAGER="1")
    embedded = _run(_DISPATCH, INBOX_EMBEDDED="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", REDIS_URL=None)
    assert [r.stdout.strip() for r in (worker, in_process, embedded)] == ["notify", "direct", "direct"], (
        worker.stderr, in_process.stderr, embedded.stderr)


def test_inbound_dispatch_notify_is_refused_without_postgresql(tmp_path):
    result = _run(_DISPATCH, INBOX_EMBEDDED="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", REDIS_URL=None,
                  INBOUND_DISPATCH="notify")
    assert result.returncode != 0
    assert "INBOUND_DISPATCH=notify needs PostgreSQL" in result.stderr


def test_forced_embedded_mode_refuses_a_redis_url():
    result = _run(LOAD_SETTINGS, INBOX_EMBEDDED="1", REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr


def test_check_deploy_reports_nothing_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_env(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="shop.example"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
