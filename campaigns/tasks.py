"""Celery tasks: one dispatcher on a beat schedule, plus the planning task a launch queues."""

from __future__ import annotations

from celery import shared_task

from . import services
from .models import Campaign


@shared_task
def dispatch_due() -> dict[str, int]:
    """Every due send of every running campaign (beat runs this every 30 s; never one task per send)."""
    return services.dispatch_due()


@shared_task(acks_late=True)
def broadcast_plan(campaign_id: int) -> int:
    campaign = Campaign.objects.select_related("inbox").filter(pk=campaign_id).first()
    if campaign is None:
        return 0
    return services.broadcast_plan(campaign=campaign)
