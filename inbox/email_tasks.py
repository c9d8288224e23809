"""Email's periodic work: one dispatcher task polls every IMAP mailbox (beat: inbox-imap-poll)."""

from __future__ import annotations

from celery import shared_task

from . import email_inbound


@shared_task(ignore_result=True)
def imap_poll() -> dict[str, int]:
    return email_inbound.imap_poll()
