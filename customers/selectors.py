"""Reads on customers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from .models import Channel, ConsentEvent, ConsentPurpose, Customer, CustomerEvent, Identity, MergeRecord, Order


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


# --- Visibility and search --------------------------------------------------------------------------


def customers_search(*, customers: QuerySet[Customer], q: str = "") -> QuerySet[Customer]:
    """Of `customers` (those the caller may see), the current ones (not merged away, not erased);
    q matches name, email, phone, any identity, or an order number."""
    qs = customers.filter(merged_into=None, erased_at=None)
    q = (q or "").strip()
    if q:
        match = Q(name__icontains=q) | Q(email__icontains=q) | Q(phone__icontains=q)
        match |= Q(pk__in=Identity.objects.filter(external_id__icontains=q).values("customer_id"))
        number = q.lstrip("#").strip()
        if number:
            match |= Q(pk__in=Order.objects.filter(number=number).values("customer_id"))
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 6:
            match |= Q(phone__contains=digits)
        qs = qs.filter(match)
    return qs.prefetch_related("labels", "identities")


def customer_detail_queryset(*, customers: QuerySet[Customer]) -> QuerySet[Customer]:
    return customers.prefetch_related(
        "labels",
        "identities",
        Prefetch("orders", queryset=Order.objects.prefetch_related("items", "refunds").order_by("-placed_at", "-id")),
    )


def orders_by_number(*, customers: QuerySet[Customer], number: str) -> QuerySet[Order]:
    """Orders of `customers` (those the caller may see) by number (`#1001` or `1001`)."""
    number = (number or "").strip().lstrip("#").strip()
    return (
        Order.objects.filter(number=number, customer__in=customers)
        .select_related("customer")
        .prefetch_related("items", "refunds")
    )


# --- Money and consent ----------------------------------------------------------------------------


def order_refunded(order: Order) -> Decimal:
    return sum((r.amount for r in order.refunds.all()), Decimal("0"))


def lifetime_value(orders: Iterable[Order]) -> Decimal:
    """Sum of non-cancelled order totals minus their refunds (works on prefetched orders)."""
    total = Decimal("0")
    for order in orders:
        if order.cancelled_at is None:
            total += order.total - order_refunded(order)
    return total


def consent_current(*, customer: Customer) -> dict[str, dict[str, dict | None]]:
    """{channel: {purpose: {granted, source, at} | None}} from the latest ledger row of each pair."""
    state: dict[str, dict[str, dict | None]] = {
        channel: {purpose: None for purpose in ConsentPurpose.values} for channel in Channel.values
    }
    rows = (
        ConsentEvent.objects.filter(customer=customer)
        .order_by("channel", "purpose", "-created_at", "-id")
        .distinct("channel", "purpose")
        .values("channel", "purpose", "granted", "source", "created_at")
    ) if connection.vendor == "postgresql" else _latest_consents_portable(customer)
    for row in rows:
        state.setdefault(row["channel"], {})[row["purpose"]] = {
            "granted": row["granted"], "source": row["source"], "at": row["created_at"],
        }
    return state


def _latest_consents_portable(customer: Customer) -> list[Mapping[str, Any]]:
    seen: set[tuple[str, str]] = set()
    out: list[Mapping[str, Any]] = []
    for row in ConsentEvent.objects.filter(customer=customer).order_by("-created_at", "-id").values(
        "channel", "purpose", "granted", "source", "created_at"
    ):
        key = (row["channel"], row["purpose"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def order_summary(order: Order) -> str:
    """One line an agent can paste into a reply."""
    if order.cancelled_at:
        text = f"Your order #{order.number} was cancelled."
    elif order.shipment_status == "delivered":
        text = f"Your order #{order.number} was delivered."
    elif order.fulfillment_status == "fulfilled":
        text = f"Your order #{order.number} has shipped."
    elif order.fulfillment_status == "partial":
        text = f"Part of your order #{order.number} has shipped."
    else:
        text = f"Your order #{order.number} is being prepared."
    if order.tracking_number and not order.cancelled_at:
        text = text[:-1] + f", tracking {order.tracking_number}"
        text += f": {order.tracking_url}" if order.tracking_url else "."
    return text


# --- Merge suggestions --------------------------------------------------------------------------------


def merge_suggestions(*, customer: Customer, candidates: QuerySet[Customer]) -> list[dict]:
    """Other customers (among `candidates`) who are probably the same person, with the reasons."""
    others = candidates.filter(merged_into=None, erased_at=None).exclude(pk=customer.pk)
    emails = {v for v in [customer.email] if v} | set(
        customer.identities.filter(channel=Channel.EMAIL).values_list("external_id", flat=True)
    )
    phones = {v for v in [customer.phone] if v} | set(
        customer.identities.filter(channel=Channel.SMS).values_list("external_id", flat=True)
    )
    reasons: dict[int, set[str]] = {}

    def note(ids: Iterable[int], reason: str) -> None:
        for pk in ids:
            reasons.setdefault(pk, set()).add(reason)

    if emails:
        note(others.filter(Q(email__in=emails) | Q(identities__channel=Channel.EMAIL, identities__external_id__in=emails))
             .values_list("pk", flat=True), "same_email")
        note(others.filter(orders__raw__email__in=list(emails)).values_list("pk", flat=True), "same_email")
    if phones:
        note(others.filter(Q(phone__in=phones) | Q(identities__channel=Channel.SMS, identities__external_id__in=phones))
             .values_list("pk", flat=True), "same_phone")
    if customer.name.strip() and len(customer.name.strip()) > 2:
        same_name = others.filter(name__iexact=customer.name.strip())
        if customer.orders.exists():
            note(same_name.values_list("pk", flat=True), "same_name_with_order")
        else:
            note(same_name.filter(orders__isnull=False).values_list("pk", flat=True), "same_name_with_order")
    found = {c.pk: c for c in Customer.objects.filter(pk__in=reasons)}
    weight = {"same_email": 0, "same_phone": 0, "same_name_with_order": 1}
    out: list[dict[str, Any]] = [
        {"customer": found[pk], "reasons": sorted(r)}
        for pk, r in reasons.items()
        if pk in found
    ]
    out.sort(key=lambda s: (min(weight[r] for r in s["reasons"]), -len(s["reasons"]), s["customer"].pk))
    return out


# --- Privacy export -----------------------------------------------------------------------------------


def customer_profile(customer: Customer) -> dict:
    """What a customer record itself says (export and merge snapshots both start from it)."""
    return {
        "id": customer.pk,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "timezone": customer.timezone,
        "language": customer.language,
        "notes": customer.notes,
        "labels": list(customer.labels.values_list("name", flat=True)),
    }


def _merged_record(merged: Customer) -> dict:
    record = MergeRecord.objects.filter(merged_customer_id=merged.pk).order_by("-created_at", "-id").first()
    said = (record.merged_snapshot if record else {}) or {}
    return {
        "id": merged.pk,
        **{attr: said.get(attr, getattr(merged, attr)) for attr in ("name", "email", "phone", "timezone", "notes")},
        "labels": said.get("labels", []),
        "merged_at": record.created_at.isoformat() if record else None,
    }


def customer_export(*, customer: Customer, by: AbstractBaseUser | AnonymousUser | None = None) -> dict:
    """Everything held about a customer, JSON-ready: profile, identities, consent ledger, orders,
    events, merges, and what other apps hold (by the related-object walk and `customer_exporting`).

    `by` is the user asking (None: the system); receivers of `customer_exporting` get it and keep
    out what that user may not see (the inbox: other teams' conversations).
    """
    from django.core import serializers as django_serializers

    from .signals import customer_exporting

    family = [customer, *Customer.objects.filter(merged_into=customer)]
    data: dict = {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            **customer_profile(customer),
            "created_at": customer.created_at.isoformat(),
            "erased_at": customer.erased_at.isoformat() if customer.erased_at else None,
            # A merged record is blanked at merge; what it said lives on in its merge's snapshot.
            "merged_records": [_merged_record(c) for c in family[1:]],
        },
        "identities": list(
            Identity.objects.filter(customer__in=family).values(
                "id", "channel", "scope", "external_id", "display_name", "verified", "created_at"
            )
        ),
        "consent_ledger": list(
            ConsentEvent.objects.filter(customer__in=family).values(
                "channel", "purpose", "granted", "source", "proof", "created_at"
            )
        ),
        "orders": [
            {
                "number": o.number, "source": o.source, "external_id": o.external_id, "placed_at": o.placed_at,
                "currency": o.currency, "total": str(o.total), "refunded": str(order_refunded(o)),
                "financial_status": o.financial_status, "fulfillment_status": o.fulfillment_status,
                "shipment_status": o.shipment_status, "tracking_number": o.tracking_number,
                "tracking_url": o.tracking_url, "cancelled_at": o.cancelled_at,
                "items": [
                    {"title": i.title, "sku": i.sku, "quantity": i.quantity, "price": str(i.price)}
                    for i in o.items.all()
                ],
            }
            for o in Order.objects.filter(customer__in=family).prefetch_related("items", "refunds")
        ],
        "events": list(
            CustomerEvent.objects.filter(customer__in=family).values("name", "properties", "created_at")
        ),
    }
    own_app = Customer._meta.app_label
    for rel in Customer._meta.related_objects:
        model = rel.related_model
        if model._meta.app_label == own_app or not (rel.one_to_many or rel.one_to_one):
            continue
        rows = model._default_manager.filter(**{f"{rel.field.name}__in": family})
        data[model._meta.label_lower] = [
            {"id": obj["pk"], **obj["fields"]} for obj in django_serializers.serialize("python", rows)
        ]
    for _receiver, sections in customer_exporting.send(sender=Customer, customer=customer, by=by):
        if isinstance(sections, dict):
            data.update(sections)
    # Round-trip through the encoder so dates, decimals and UUIDs are plain JSON values.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))
