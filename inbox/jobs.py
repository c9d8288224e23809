"""Background work the services ask for, named by the Celery task's registered name.

`inbox/tasks.py` holds every task of the app and calls the services; the services in turn need
to queue some of those tasks (send this reply, fetch that media). Naming the task here instead of
importing `inbox.tasks` keeps every import arrow pointing one way: tasks → services, never back.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

_loaded = False


def task(name: str) -> Task:
    """The registered task called `name`, e.g. "inbox.tasks.message_send"."""
    global _loaded
    if not _loaded:
        # The worker imports every app's tasks.py at start; a web process does it on first use.
        # Only the discovery: `loader.import_default_modules()` would also run Celery's Django
        # fixup — django.setup() again (logging reconfigured mid-request, the handlers and levels
        # set since dropped) and every system check — in the request that first queues a task.
        current_app.autodiscover_tasks(force=True)
        _loaded = True
    return current_app.tasks[name]


def enqueue(name: str, *args: Any, **options: Any) -> bool:
    """Queue the task `name` with `args` (and apply_async's `options`); False when the broker is down.

    Under CELERY_TASK_ALWAYS_EAGER (tests, the embedded mode) the task runs here and now, as
    `task.delay()` would.
    """
    try:
        task(name).apply_async(args=args, **options)
    except (BrokerError, ConnectionError, OSError):
        return False
    return True
