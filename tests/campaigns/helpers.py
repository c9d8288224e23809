"""Small builders for campaign tests: reachable customers and campaigns."""

from __future__ import annotations

import pytest
from django.db import connection

from campaigns.services import campaign_create, campaign_launch
from customers.models import ConsentPurpose
from customers.services import consent_record, identity_resolve
from inbox.models import META_CHANNELS

# The campaign tests run on PostgreSQL and on the embedded mode's SQLite (`make test-embedded`);
# these few measure what only PostgreSQL offers.
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: SQLite serialises writers (the embedded mode runs one in-process dispatcher) "
    "and caps a statement's parameters (bulk inserts take more, smaller batches)",
)


def reachable(inbox, external_id: str, *, name: str = "Jane Doe", tz: str = "", marketing: bool | None = True):
    scope = inbox.external_id if inbox.kind in META_CHANNELS else ""
    identity = identity_resolve(channel=inbox.kind, scope=scope, external_id=external_id, display_name=name).identity
    customer = identity.customer
    customer.name, customer.timezone = name, tz
    customer.save(update_fields=["name", "timezone"])
    if marketing is not None:
        consent_record(customer=customer, channel=inbox.kind, purpose=ConsentPurpose.MARKETING, granted=marketing, source="test")
    return customer


def triggered(inbox, *, by=None, event="cart.abandoned", delay=1800, exceptions=("order.created",), text=None, launch=True, **extra):
    campaign = campaign_create(
        by=by, name=f"On {event}", kind="triggered", channel=inbox.kind, inbox=inbox,
        text=text or "Hi {{ customer.first_name }}, your cart misses you",
        trigger={"event": event, "delay_seconds": delay, "exceptions": list(exceptions)}, **extra,
    )
    return campaign_launch(campaign=campaign) if launch else campaign


def broadcast(inbox, *, by=None, text="Sale today, {{ customer.first_name }}!", launch=True, **extra):
    campaign = campaign_create(by=by, name="Sale", kind="broadcast", channel=inbox.kind, inbox=inbox, text=text, **extra)
    return campaign_launch(campaign=campaign) if launch else campaign
