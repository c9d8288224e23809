"""The request id travels with a task: put in the message headers when published, restored in the worker.

So the worker's log lines for a webhook's events carry the id the webhook's request logged with.
Eager (in-process) tasks need nothing: they run in the request's own context.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from .logs import current_request_id, request_id_var

HEADER = "request_id"
_tokens: dict[str | None, Token[str]] = {}


@before_task_publish.connect(weak=False)
def _publish_request_id(headers: dict | None = None, **kwargs: Any) -> None:
    request_id = current_request_id()
    if headers is not None and request_id and HEADER not in headers:
        headers[HEADER] = request_id


@task_prerun.connect(weak=False)
def _restore_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    request_id = getattr(task.request, HEADER, None) if task is not None else None
    if request_id and not task.request.is_eager:
        _tokens[task_id] = request_id_var.set(str(request_id))


@task_postrun.connect(weak=False)
def _forget_request_id(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
