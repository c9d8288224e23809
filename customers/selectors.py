"""Reads on customers."""

from __future__ import annotations

from .models import ConsentEvent, ConsentPurpose, Customer


def consent_state(*, customer: Customer, channel: str, purpose: str) -> bool | None:
    """Latest decision for that channel and purpose: True, False, or None when never asked."""
    latest = (
        ConsentEvent.objects.filter(customer=customer, channel=channel, purpose=purpose)
        .order_by("-created_at", "-id")
        .values_list("granted", flat=True)
        .first()
    )
    return latest


def is_opted_out(*, customer: Customer, channel: str) -> bool:
    """A customer who withdrew on a channel (SMS STOP, say) gets nothing more there, not even replies."""
    return consent_state(customer=customer, channel=channel, purpose=ConsentPurpose.TRANSACTIONAL) is False
