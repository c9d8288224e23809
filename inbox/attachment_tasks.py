"""The media download task (registered from InboxConfig.ready; Celery autodiscovers only tasks.py)."""

from __future__ import annotations

from celery import shared_task

from . import attachments
from .services import _retry_delay

MAX_FETCH_RETRIES = 5


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_FETCH_RETRIES)
def attachments_fetch(self, message_id: int) -> None:
    # In-process (eager) runs cannot wait for a backoff: their first failure is the last.
    final = self.request.is_eager or self.request.retries >= MAX_FETCH_RETRIES
    if attachments.message_attachments_fetch(message_id=message_id, final=final):
        raise self.retry(countdown=_retry_delay(self.request.retries + 1))
