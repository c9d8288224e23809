"""Writes on customers: identity resolution, consent, orders, events, merge and erasure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .language import LANGUAGE_CODES, language_normalize
from .models import (
    Channel,
    ConsentEvent,
    ConsentPurpose,
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
from .selectors import customer_profile
from .signals import customer_erasing, customer_event, customer_merged

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

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


def identities_resolve(*, channel: str, people: list[tuple[str, str]], scope: str = "") -> dict[str, ResolvedIdentity]:
    """`identity_resolve` for many (external id, display name) of one channel and scope, keyed by the
    external id as given: the known identities in one query, each new one made as identity_resolve makes it."""
    if channel in GLOBAL_CHANNELS:
        scope = ""
    normalised = {raw: identity_normalise(channel=channel, external_id=raw) for raw, _ in people}
    known = {
        identity.external_id: identity
        for identity in Identity.objects.select_related("customer").filter(
            channel=channel, scope=scope, external_id__in=set(normalised.values())
        )
    }
    out: dict[str, ResolvedIdentity] = {}
    # New ones in the order of their ids: two callers making the same new people wait in one order.
    for raw, display_name in sorted(people, key=lambda person: normalised[person[0]]):
        if raw in out:
            continue
        identity = known.get(normalised[raw])
        if identity is not None:
            out[raw] = ResolvedIdentity(identity, False)
            continue
        out[raw] = identity_resolve(channel=channel, scope=scope, external_id=raw, display_name=display_name)
        known[out[raw].identity.external_id] = out[raw].identity
    return out


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


def consent_withdraw_or_grant(*, customer: Customer, channel: str, granted: bool, source: str, proof: dict | None = None) -> None:
    """Both purposes at once: a carrier block (SMS STOP, a provider's opt-out error) stops every message."""
    for purpose in (ConsentPurpose.TRANSACTIONAL, ConsentPurpose.MARKETING):
        consent_record(customer=customer, channel=channel, purpose=purpose, granted=granted, source=source, proof=proof)


def contact_or_blank(*, channel: str, raw: str | None) -> str:
    """The normalised phone/email, or "" when absent or unusable (shop data is often messy)."""
    if not raw or not str(raw).strip():
        return ""
    try:
        return identity_normalise(channel=channel, external_id=str(raw))
    except ValidationError:
        return ""


# --- Customer profile ---------------------------------------------------------------------------


def timezone_validate(value: str) -> str:
    if value == "":
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"not an IANA time zone: {value!r}") from exc
    return value


def labels_for(names: list[str]) -> list[Label]:
    clean = []
    for name in names:
        name = str(name).strip()
        if not name or len(name) > 64:
            raise ValidationError(f"a label is 1 to 64 characters: {name!r}")
        if name not in clean:
            clean.append(name)
    return [Label.objects.get_or_create(name=name)[0] for name in clean]


def customer_update(
    *,
    customer: Customer,
    name: str | None = None,
    labels: list[str] | None = None,
    timezone_name: str | None = None,
    notes: str | None = None,
    language: str | None = None,
) -> Customer:
    """Change what an agent may change; None leaves a field as it is. `language` ("en", "fr", "el",
    or "" for unknown) is an agent's choice: no provider's hint overrides it afterwards."""
    with transaction.atomic():
        fields = ["updated_at"]
        if name is not None:
            customer.name = name.strip()[:200]
            fields.append("name")
        if timezone_name is not None:
            customer.timezone = timezone_validate(timezone_name.strip())
            fields.append("timezone")
        if notes is not None:
            customer.notes = notes
            fields.append("notes")
        if language is not None:
            if language and language_normalize(language) != language:
                raise ValidationError(f"language must be one of {', '.join(LANGUAGE_CODES)}, or blank.")
            customer.language = language
            fields.append("language")
        customer.save(update_fields=fields)
        if labels is not None:
            customer.labels.set(labels_for(labels))
    return customer


def identity_attach(*, customer: Customer, channel: str, value: str, display_name: str = "") -> Identity | None:
    """Give a customer one more global identity (phone/email) unless someone already holds it."""
    existing = Identity.objects.filter(channel=channel, scope="", external_id=value).first()
    if existing:
        return existing if existing.customer_id == customer.pk else None
    try:
        with transaction.atomic():
            return Identity.objects.create(
                customer=customer, channel=channel, scope="", external_id=value, display_name=display_name
            )
    except IntegrityError:
        return None


def customer_for_buyer(*, email: str = "", phone: str = "", name: str = "") -> Customer:
    """The customer a shop's buyer is: found by email, then phone identity; new when unknown.

    `email` and `phone` are already normalised (or blank). When email and phone point at two
    different customers they are not joined here: the merge suggestions surface them to a human.
    """
    customer = None
    for channel, value in ((Channel.EMAIL, email), (Channel.SMS, phone)):
        if not value:
            continue
        if customer is None:
            customer = identity_resolve(channel=channel, external_id=value, display_name=name).identity.customer
        else:
            identity_attach(customer=customer, channel=channel, value=value, display_name=name)
    if customer is None:
        customer = Customer.objects.create(name=name)
    customer = customer_current(customer)
    changed = []
    for attr, value in (("name", name), ("email", email), ("phone", phone)):
        if value and not getattr(customer, attr):
            setattr(customer, attr, value)
            changed.append(attr)
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    return customer


def customer_current(customer: Customer) -> Customer:
    """Follow merges to the customer that is kept (old links and identities may point at a merged one)."""
    seen = set()
    while customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


# --- Customer events ------------------------------------------------------------------------------


def customer_event_publish(
    *, customer: Customer, name: str, properties: dict | None = None, dedupe_key: str = ""
) -> CustomerEvent | None:
    """Record an event and announce it after commit; None when `dedupe_key` was already published."""
    try:
        with transaction.atomic():
            event = CustomerEvent.objects.create(
                customer=customer, name=name, properties=properties or {}, dedupe_key=dedupe_key
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: customer_event.send(sender=CustomerEvent, event=event))
    return event


# --- Orders ---------------------------------------------------------------------------------------


@dataclass
class ItemData:
    title: str
    sku: str = ""
    quantity: int = 1
    price: Decimal = Decimal("0")


@dataclass
class RefundData:
    external_id: str
    amount: Decimal
    created_at: datetime
    # The note staff (or an app) gave the refund: how an app recognises a refund it asked for.
    note: str = ""


@dataclass
class OrderData:
    """An order as a shop describes it, whatever the source (Shopify webhook, CSV row group)."""

    source: str
    external_id: str
    number: str
    placed_at: datetime
    email: str = ""
    phone: str = ""
    name: str = ""
    currency: str = "USD"
    total: Decimal = Decimal("0")
    financial_status: str = ""
    fulfillment_status: str = ""
    shipment_status: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    cancelled_at: datetime | None = None
    updated_at: datetime | None = None
    items: list[ItemData] = field(default_factory=list)
    refunds: list[RefundData] = field(default_factory=list)
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OrderSynced:
    order: Order
    created: bool
    stale: bool


def order_sync(*, data: OrderData, publish: bool = True) -> OrderSynced:
    """Create or update an order from the shop's full current state.

    Deliveries arrive out of order: a state older than the one held (by the provider's
    updated_at) changes nothing but may still add refunds, which are facts with their own ids.
    With `publish`, state changes become customer events (each at most once per order).
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(source=data.source, external_id=data.external_id).first()
        created = False
        if order is None:
            customer = customer_for_buyer(email=data.email, phone=data.phone, name=data.name)
            try:
                with transaction.atomic():
                    order = Order.objects.create(
                        customer=customer, source=data.source, external_id=data.external_id,
                        number=data.number, placed_at=data.placed_at,
                    )
                    created = True
            except IntegrityError:
                # A concurrent delivery created it first: continue as an update of that row.
                order = Order.objects.select_for_update().get(source=data.source, external_id=data.external_id)
        elif order.source_updated_at and data.updated_at and data.updated_at < order.source_updated_at:
            _refunds_record(order=order, refunds=data.refunds, publish=publish)
            return OrderSynced(order, False, True)

        for attr in (
            "number", "placed_at", "currency", "total", "financial_status", "fulfillment_status",
            "shipment_status", "tracking_number", "tracking_url", "cancelled_at", "raw",
        ):
            setattr(order, attr, getattr(data, attr))
        order.source_updated_at = data.updated_at or order.source_updated_at
        order.save()
        # The shop sends the whole list of items every time: replace, never merge.
        order.items.all().delete()
        OrderItem.objects.bulk_create(
            OrderItem(order=order, title=i.title[:255], sku=i.sku[:64], quantity=i.quantity, price=i.price)
            for i in data.items
        )
        _refunds_record(order=order, refunds=data.refunds, publish=publish)
        if publish:
            _order_events_publish(order=order, created=created)
    return OrderSynced(order, created, False)


def _order_properties(order: Order) -> dict:
    return {
        "order_id": order.pk,
        "number": order.number,
        "source": order.source,
        "external_id": order.external_id,
        "total": str(order.total),
        "currency": order.currency,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "tracking_number": order.tracking_number,
        "tracking_url": order.tracking_url,
    }


def _order_events_publish(*, order: Order, created: bool) -> None:
    happened = {
        "order.created": True,
        "order.paid": order.financial_status in ("paid", "partially_refunded", "refunded"),
        "order.shipped": order.fulfillment_status == "fulfilled",
        "order.delivered": order.shipment_status == "delivered",
        "order.cancelled": order.cancelled_at is not None,
    }
    for name, yes in happened.items():
        if yes:
            customer_event_publish(
                customer=order.customer, name=name, properties=_order_properties(order),
                dedupe_key=f"{name}:{order.source}:{order.external_id}",
            )


def _refunds_record(*, order: Order, refunds: list[RefundData], publish: bool) -> int:
    added = 0
    for refund in refunds:
        try:
            with transaction.atomic():
                OrderRefund.objects.create(
                    order=order, external_id=refund.external_id, amount=refund.amount, created_at=refund.created_at
                )
        except IntegrityError:
            continue
        added += 1
        if publish:
            properties = {**_order_properties(order), "refund_id": refund.external_id, "amount": str(refund.amount)}
            customer_event_publish(
                customer=order.customer, name="order.refunded", properties=properties,
                dedupe_key=f"order.refunded:{order.source}:{order.external_id}:{refund.external_id}",
            )
    return added


def order_refund_add(*, source: str, order_external_id: str, refund: RefundData, publish: bool = True) -> bool:
    """A refund for an order we hold; False when the order is unknown (its next update lists it)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(source=source, external_id=order_external_id).first()
        if order is None:
            return False
        _refunds_record(order=order, refunds=[refund], publish=publish)
    return True


# --- Merge ----------------------------------------------------------------------------------------


class MergeRefused(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _customer_snapshot(customer: Customer) -> dict:
    return {
        **customer_profile(customer),
        "identities": [
            {"channel": c, "scope": s, "external_id": e}
            for c, s, e in customer.identities.values_list("channel", "scope", "external_id")
        ],
        "orders": list(customer.orders.values_list("number", flat=True)),
    }


def customer_merge(*, kept: Customer, other: Customer, by: User | AnonymousUser | None = None) -> MergeRecord:
    """Join `other` into `kept`: every row that points at `other` moves, then `other` points at `kept`.

    The walk over `Customer._meta.related_objects` moves identities, orders, consent, events and
    whatever other apps hang on a customer (conversations) without this app knowing them. A row
    that cannot move without breaking a uniqueness rule stays with the merged record, and is
    listed in the audit. The merged record's own fields (name, contacts, notes, labels) go to
    `kept` where it has none, and are blanked on the merged record; the MergeRecord's snapshot
    keeps what they were.
    """
    if kept.pk == other.pk:
        raise MergeRefused("same_customer", "A customer cannot be merged into itself.")
    callers = (kept, other)
    with transaction.atomic():
        locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[kept.pk, other.pk])}
        kept, other = locked[kept.pk], locked[other.pk]
        for customer in (kept, other):
            if customer.merged_into_id:
                raise MergeRefused("already_merged", f"Customer {customer.pk} was already merged.")
            if customer.erased_at:
                raise MergeRefused("erased", f"Customer {customer.pk} was erased.")
        snapshot = _customer_snapshot(other)
        moved, left = _related_rows_move(source=other, target=kept)
        kept.labels.add(*other.labels.all())
        for attr in ("name", "email", "phone", "timezone", "language"):
            if not getattr(kept, attr) and getattr(other, attr):
                setattr(kept, attr, getattr(other, attr))
        if other.notes and other.notes not in kept.notes:
            kept.notes = f"{kept.notes}\n\n{other.notes}".strip()
        kept.save()
        # The merged record keeps only its id (old links resolve to `kept`): what it said moved to
        # `kept` above or stays in the merge's snapshot, for the audit.
        other.labels.clear()
        other.name = other.email = other.phone = other.timezone = other.notes = other.language = ""
        other.merged_into = kept
        other.save(update_fields=["name", "email", "phone", "timezone", "notes", "language", "merged_into", "updated_at"])
        # Records merged into `other` earlier now resolve straight to `kept`.
        Customer.objects.filter(merged_into=other).update(merged_into=kept)
        record = MergeRecord.objects.create(
            kept=kept, merged_customer_id=other.pk, by=by if by and by.is_authenticated else None,
            merged_snapshot={**snapshot, "moved": moved, "left_behind": left},
        )
        customer_merged.send(sender=Customer, kept=kept, merged=other, by=by, record=record)
    for instance in callers:
        instance.refresh_from_db()
    return record


def _related_rows_move(*, source: Customer, target: Customer) -> tuple[dict, dict]:
    moved: dict[str, int] = {}
    left: dict[str, list] = {}
    for rel in Customer._meta.related_objects:
        model = rel.related_model
        label = model._meta.label_lower
        if rel.many_to_many:
            accessor = rel.get_accessor_name()
            assert accessor is not None  # related_objects leaves out hidden relations, the ones without
            objs = list(getattr(source, accessor).all())
            if objs:
                getattr(target, accessor).add(*objs)
                getattr(source, accessor).clear()
                moved[label] = len(objs)
            continue
        if not (rel.one_to_many or rel.one_to_one) or rel.field.name == "merged_into":
            continue
        rows = model._default_manager.filter(**{rel.field.name: source})
        if rel.one_to_one and model._default_manager.filter(**{rel.field.name: target}).exists():
            left[label] = list(rows.values_list("pk", flat=True))
            continue
        try:
            with transaction.atomic():
                count = rows.update(**{rel.field.name: target})
        except IntegrityError:
            count = 0
            for pk in list(rows.values_list("pk", flat=True)):
                try:
                    with transaction.atomic():
                        count += model._default_manager.filter(pk=pk).update(**{rel.field.name: target})
                except IntegrityError:
                    left.setdefault(label, []).append(pk)
        if count:
            moved[label] = count
    return moved, left


# --- Erasure --------------------------------------------------------------------------------------


def customer_erase(*, customer: Customer, by: User | AnonymousUser | None = None) -> ErasureRecord:
    """Remove a customer's personal data; keep the row (orders and totals stay for the books).

    Other apps redact what they hold through `customer_erasing` (inbox: message text), inside
    this transaction, so an erasure is all or nothing. Customers merged into this one are erased
    with it: they are the same person.
    """
    caller = customer
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        family = [customer, *Customer.objects.select_for_update().filter(merged_into=customer)]
        summary: dict[str, Any] = {
            "customers": [c.pk for c in family], "identities_removed": 0, "identities_anonymised": 0
        }
        for person in family:
            customer_erasing.send(sender=Customer, customer=person, by=by)
            removed, anonymised = _identities_erase(person)
            summary["identities_removed"] += removed
            summary["identities_anonymised"] += anonymised
            summary["orders"] = summary.get("orders", 0) + person.orders.update(
                raw={}, tracking_number="", tracking_url=""
            )
            ConsentEvent.objects.filter(customer=person).update(proof={})
            CustomerEvent.objects.filter(customer=person).update(properties={})
            MergeRecord.objects.filter(kept=person).update(merged_snapshot={})
            MergeRecord.objects.filter(merged_customer_id=person.pk).update(merged_snapshot={})
            person.labels.clear()
            person.name = person.email = person.phone = person.timezone = person.notes = person.language = ""
            person.erased_at = timezone.now()
            person.save()
        record = ErasureRecord.objects.create(
            customer_id=customer.pk, by=by if by and by.is_authenticated else None, summary=summary
        )
    caller.refresh_from_db()
    return record


def _identities_erase(customer: Customer) -> tuple[int, int]:
    """Delete identities nothing else points at; blank the ones that other rows still need.

    A conversation holds its identity (and would be deleted with it): that identity keeps its
    row but loses the address, so the thread's redacted history and metrics stay coherent.
    """
    removed = anonymised = 0
    for identity in list(customer.identities.all()):
        referenced = any(
            rel.related_model._default_manager.filter(**{rel.field.name: identity}).exists()
            for rel in Identity._meta.related_objects
            if rel.one_to_many or rel.one_to_one
        )
        if referenced:
            identity.external_id = f"erased-{identity.pk}"
            identity.display_name = ""
            identity.verified = False
            identity.save(update_fields=["external_id", "display_name", "verified"])
            anonymised += 1
        else:
            identity.delete()
            removed += 1
    return removed, anonymised
