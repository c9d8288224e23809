import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox_project.settings")

app = Celery("inbox_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from . import task_context  # noqa: E402,F401  (carries the request id into tasks)


@task_prerun.connect(weak=False)
@task_postrun.connect(weak=False)
def _connections_back_to_pool(task: Any = None, **kwargs: Any) -> None:
    """Around every task, what Django does around every request: a connection that errored or
    outlived CONN_MAX_AGE goes back (to the pool, which checks it before lending it again).
    Celery's own closing is made rare by CELERY_DB_REUSE_MAX: it closes the whole pool."""
    if task is not None and task.request.is_eager:
        return  # in-process: the caller's connection and transaction
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect(weak=False)
def _inbound_dispatch_start(**kwargs: Any) -> None:
    """In the worker's main process, once its pool is up: the listener of inbox/dispatch.py."""
    from inbox.intake import dispatch

    dispatch.start_in_worker()


@worker_shutdown.connect(weak=False)
def _inbound_dispatch_stop(**kwargs: Any) -> None:
    from inbox.intake import dispatch

    dispatch.stop_in_worker()
