"""Writes on customers: identity resolution, consent, orders, events, merge and erasure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import (
    Channel,
    ConsentEvent,
    Customer,
    CustomerEvent,
    ErasureRecord,
    Identity,
    Label,
    MergeRecord,
    Order,
    OrderItem,
    OrderRefund,
)
from .signals import customer_erasing, customer_event, customer_merged

logger = logging.getLogger(__name__)

# Identities that are global (not scoped to a page or account).
GLOBAL_CHANNELS = {Channel.SMS, Channel.EMAIL}


def phone_normalise(raw: str, *, region: str = "US") -> str:
    """E.164 form of a phone number; ValidationError if it is not a possible number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValidationError(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_normalise(raw: str) -> str:
    """Lower-cased address without surrounding whitespace or display name."""
    from email.utils import parseaddr

    _name, address = parseaddr(raw)
    address = address.strip().lower()
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise ValidationError(f"not an email address: {raw!r}")
    return address


def identity_normalise(*, channel: str, external_id: str) -> str:
    if channel == Channel.SMS:
        return phone_normalise(external_id)
    if channel == Channel.EMAIL:
        return email_normalise(external_id)
    return external_id.strip()


@dataclass(frozen=True)
class ResolvedIdentity:
    identity: Identity
    created: bool


def identity_resolve(*, channel: str, external_id: str, scope: str = "", display_name: str = "") -> ResolvedIdentity:
    """The identity for (channel, scope, external_id), creating it and its customer when new.

    A new phone number or email joins an existing customer only when the evidence is certain:
    another verified identity or the customer's own record holds exactly that value. Otherwise a
    new customer is made; a merge can join them later.
    """
    external_id = identity_normalise(channel=channel, external_id=external_id)
    if channel in GLOBAL_CHANNELS:
        scope = ""
    existing = Identity.objects.select_related("customer").filter(
        channel=channel, scope=scope, external_id=external_id
    ).first()
    if existing:
        return ResolvedIdentity(existing, False)
    try:
        with transaction.atomic():
            customer = _customer_with_same_contact(channel=channel, value=external_id)
            if customer is None:
                customer = Customer.objects.create(
                    name=display_name,
                    email=external_id if channel == Channel.EMAIL else "",
                    phone=external_id if channel == Channel.SMS else "",
                )
            identity = Identity.objects.create(
                customer=customer, channel=channel, scope=scope, external_id=external_id, display_name=display_name
            )
            return ResolvedIdentity(identity, True)
    except IntegrityError:
        # Two deliveries raced to create the same identity: the other one won.
        return ResolvedIdentity(
            Identity.objects.select_related("customer").get(channel=channel, scope=scope, external_id=external_id),
            False,
        )


def _customer_with_same_contact(*, channel: str, value: str) -> Customer | None:
    if channel == Channel.SMS:
        matches = list(Customer.objects.filter(phone=value, merged_into=None, erased_at=None)[:2])
    elif channel == Channel.EMAIL:
        matches = list(Customer.objects.filter(email=value, merged_into=None, erased_at=None)[:2])
    else:
        return None
    # Two customers claim the same contact: not certain, leave it for a human to merge.
    return matches[0] if len(matches) == 1 else None


def consent_record(
    *, customer: Customer, channel: str, purpose: str, granted: bool, source: str, proof: dict | None = None
) -> ConsentEvent:
    return ConsentEvent.objects.create(
        customer=customer, channel=channel, purpose=purpose, granted=granted, source=source, proof=proof or {}
    )
