"""Database connections in the Celery worker: back to the pool around each task, never a new
PostgreSQL connection per task (Celery's Django fixup closes the whole pool when it recycles)."""

from __future__ import annotations

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import connection

from inbox.tasks import sweep
from inbox_project.celery import app


def test_celery_reads_the_setting_that_makes_it_recycle_connections_rarely():
    assert settings.CELERY_DB_REUSE_MAX > 1
    assert DjangoWorkerFixup(app).db_reuse_max == settings.CELERY_DB_REUSE_MAX


class _Request:
    def __init__(self, eager: bool):
        self.is_eager = eager


class _Task:
    def __init__(self, eager: bool):
        self.request = _Request(eager)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signal", [task_prerun, task_postrun])
def test_around_a_worker_task_the_connection_goes_back_as_after_a_request(signal):
    connection.ensure_connection()
    assert connection.connection is not None
    signal.send(sender=sweep, task_id="t1", task=_Task(eager=False))
    # CONN_MAX_AGE is 0 with the pool: the connection is handed back, to be lent (checked) again.
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_an_in_process_task_keeps_the_callers_connection():
    connection.ensure_connection()
    held = connection.connection
    task_prerun.send(sender=sweep, task_id="t2", task=_Task(eager=True))
    assert connection.connection is held
