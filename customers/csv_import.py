"""CSV import of customers and orders, for shops not on Shopify.

Two layouts, told apart by the header: a customers file (`email`/`phone` and profile columns) and
an orders file (`order_number` … one row per line item; rows with the same number are one order).
Every row is checked first; any bad row means nothing is imported and every error is listed.
The writes then run in one transaction, so a failure half-way leaves nothing behind either.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NoReturn

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .links import http_url_or_blank
from .models import Channel, ConsentPurpose
from .selectors import consent_state
from .services import (
    ItemData,
    OrderData,
    consent_record,
    contact_or_blank,
    customer_for_buyer,
    labels_for,
    order_sync,
    timezone_validate,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20000
CUSTOMER_COLUMNS = ["name", "email", "phone", "timezone", "labels", "notes", "email_marketing", "sms_marketing"]
ORDER_COLUMNS = [
    "order_number", "placed_at", "email", "phone", "name", "currency", "total", "financial_status",
    "fulfillment_status", "tracking_number", "tracking_url", "cancelled_at",
    "item_title", "item_sku", "item_quantity", "item_price",
]
SOURCE = "csv"
_YES = {"yes", "y", "true", "1", "subscribed", "granted"}
_NO = {"no", "n", "false", "0", "unsubscribed", "withdrawn"}

# The file's rows that hold something: (line number, {column: stripped value}).
Rows = list[tuple[int, dict[str, str]]]


class ImportFailed(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    customers: set = field(default_factory=set)
    orders_created: int = 0
    orders_updated: int = 0

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "customers": len(self.customers),
            "orders_created": self.orders_created,
            "orders_updated": self.orders_updated,
        }


def csv_import(*, stream: bytes | str, by: User | AnonymousUser | None = None) -> ImportResult:
    """Import a whole CSV file or nothing; ImportFailed lists every bad row."""
    rows, header = _read(stream)
    order_plan: list[OrderData] = []
    customer_plan: list[dict[str, Any]] = []
    if "order_number" in header:
        order_plan, errors = _plan_orders(rows, header)
        kind = "orders"
    elif "email" in header or "phone" in header:
        customer_plan, errors = _plan_customers(rows)
        kind = "customers"
    else:
        raise ImportFailed([{"row": 1, "column": None, "message": (
            "Unknown layout: a customers file needs an email or phone column, an orders file an order_number column."
        )}])
    if errors:
        raise ImportFailed(errors)
    result = ImportResult(kind=kind, rows=len(rows))
    with transaction.atomic():
        if kind == "orders":
            for data in order_plan:
                synced = order_sync(data=data, publish=False)
                result.customers.add(synced.order.customer_id)
                if synced.created:
                    result.orders_created += 1
                else:
                    result.orders_updated += 1
        else:
            for entry in customer_plan:
                result.customers.add(_customer_apply(entry))
    return result


def _read(stream: bytes | str) -> tuple[Rows, list[str]]:
    if isinstance(stream, bytes):
        try:
            stream = stream.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFailed([{"row": None, "column": None, "message": "The file is not UTF-8 text."}]) from None
    reader = csv.DictReader(io.StringIO(stream, newline=""))
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows: Rows = []
        for data in reader:
            if len(rows) >= MAX_ROWS:
                raise ImportFailed([{"row": None, "column": None, "message": f"More than {MAX_ROWS} rows."}])
            clean = {k: (v or "").strip() for k, v in data.items() if k}
            if any(clean.values()):
                rows.append((reader.line_num, clean))
    except csv.Error as exc:
        raise ImportFailed([{"row": reader.line_num, "column": None, "message": f"Not valid CSV: {exc}"}]) from None
    if not header:
        raise ImportFailed([{"row": None, "column": None, "message": "The file is empty."}])
    if not rows:
        raise ImportFailed([{"row": None, "column": None, "message": "The file has a header but no rows."}])
    return rows, header


def _consent_value(value: str) -> bool | None:
    value = value.lower()
    if not value:
        return None
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValidationError("use yes or no")


def _contacts(row: dict[str, str], fail: Callable[[str | None, str], None]) -> tuple[str, str]:
    """The row's email and phone, normalised ("" when blank); unusable values are reported to `fail`."""
    email = contact_or_blank(channel=Channel.EMAIL, raw=row.get("email"))
    phone = contact_or_blank(channel=Channel.SMS, raw=row.get("phone"))
    if row.get("email") and not email:
        fail("email", f"not an email address: {row['email']!r}")
    if row.get("phone") and not phone:
        fail("phone", f"not a phone number: {row['phone']!r}")
    return email, phone


def _plan_customers(rows: Rows) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    plan: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for line, row in rows:
        def fail(column: str | None, message: str, line: int = line) -> None:
            errors.append({"row": line, "column": column, "message": message})

        email, phone = _contacts(row, fail)
        if not row.get("email") and not row.get("phone"):
            fail(None, "a customer needs an email or a phone number")
        try:
            tz = timezone_validate(row.get("timezone", ""))
        except ValidationError as exc:
            fail("timezone", exc.messages[0])
            tz = ""
        labels = [part.strip() for part in row.get("labels", "").split(";") if part.strip()]
        if any(len(label) > 64 for label in labels):
            fail("labels", "a label is at most 64 characters")
        consents = {}
        for column, channel in (("email_marketing", Channel.EMAIL), ("sms_marketing", Channel.SMS)):
            try:
                consents[channel] = _consent_value(row.get(column, ""))
            except ValidationError as exc:
                fail(column, exc.messages[0])
        if len(row.get("name", "")) > 200:
            fail("name", "a name is at most 200 characters")
        plan.append({
            "email": email, "phone": phone, "name": row.get("name", ""), "timezone": tz,
            "labels": labels, "notes": row.get("notes", ""), "consents": consents, "line": line,
        })
    return plan, errors


def _customer_apply(entry: dict) -> int:
    customer = customer_for_buyer(email=entry["email"], phone=entry["phone"], name=entry["name"])
    changed = []
    if entry["timezone"]:
        customer.timezone = entry["timezone"]
        changed.append("timezone")
    if entry["notes"] and entry["notes"] not in customer.notes:
        customer.notes = f"{customer.notes}\n\n{entry['notes']}".strip()
        changed.append("notes")
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    if entry["labels"]:
        customer.labels.add(*labels_for(entry["labels"]))
    for channel, granted in entry["consents"].items():
        if granted is None:
            continue
        if consent_state(customer=customer, channel=channel, purpose=ConsentPurpose.MARKETING) != granted:
            consent_record(
                customer=customer, channel=channel, purpose=ConsentPurpose.MARKETING, granted=granted,
                source="csv_import", proof={"row": entry["line"]},
            )
    return customer.pk


def _when(value: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ValidationError("use a date like 2025-03-01 or 2025-03-01T14:30:00Z")
        parsed = datetime.combine(day, time(12, 0))
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _amount(value: str, *, required: bool = False) -> Decimal:
    if not value:
        if required:
            raise ValidationError("required")
        return Decimal("0")
    try:
        amount = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise ValidationError(f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise ValidationError(f"not an amount: {value!r}")
    return amount.quantize(Decimal("0.01"))


def _required() -> NoReturn:
    raise ValidationError("required")


def _plan_orders(rows: Rows, header: list[str]) -> tuple[list[OrderData], list[dict[str, Any]]]:
    orders: dict[str, OrderData] = {}
    errors: list[dict[str, Any]] = []
    for line, row in rows:
        def fail(column: str | None, message: str, line: int = line) -> None:
            errors.append({"row": line, "column": column, "message": message})

        number = row.get("order_number", "").lstrip("#").strip()
        if not number:
            fail("order_number", "required")
            continue
        if len(number) > 32:
            fail("order_number", "at most 32 characters")
            continue
        first_row = number not in orders
        values: dict[str, Any] = {}
        parsers: dict[str, Callable[..., Any]] = {
            "placed_at": lambda v, first=first_row: _when(v) if (v or not first) else _required(),
            "cancelled_at": _when,
            "total": lambda v, first=first_row: _amount(v, required=first),
            "item_price": _amount,
        }
        for column, parse in parsers.items():
            try:
                values[column] = parse(row.get(column, ""))
            except ValidationError as exc:
                fail(column, exc.messages[0])
        try:
            quantity = int(row.get("item_quantity") or 1)
            if quantity < 0:
                raise ValueError
        except ValueError:
            fail("item_quantity", f"not a whole number: {row.get('item_quantity')!r}")
            quantity = 1
        email, phone = _contacts(row, fail)
        currency = (row.get("currency") or "USD").upper()
        if len(currency) != 3 or not currency.isalpha():
            fail("currency", f"not a currency code: {currency!r}")
        url = row.get("tracking_url", "")
        if url and not http_url_or_blank(url):
            fail("tracking_url", "must be an http:// or https:// URL of at most 500 characters")
        url = http_url_or_blank(url)
        if len(row.get("tracking_number", "")) > 128:
            fail("tracking_number", "at most 128 characters")
        for column, limit in (("financial_status", 32), ("fulfillment_status", 32), ("item_sku", 64)):
            if len(row.get(column, "")) > limit:
                fail(column, f"at most {limit} characters")
        item = ItemData(
            title=row.get("item_title", "")[:255], sku=row.get("item_sku", ""),
            quantity=quantity, price=values.get("item_price") or Decimal("0"),
        )
        existing = orders.get(number)
        if existing is not None:
            if row.get("total") and values.get("total") is not None and values["total"] != existing.total:
                fail("total", f"order #{number} has another total on an earlier row")
            if email and existing.email and email != existing.email:
                fail("email", f"order #{number} has another email on an earlier row")
            if item.title:
                existing.items.append(item)
            continue
        if "placed_at" not in values or "total" not in values:
            continue
        orders[number] = OrderData(
            source=SOURCE, external_id=number, number=number, placed_at=values["placed_at"],
            email=email, phone=phone, name=row.get("name", "")[:200], currency=currency,
            total=values["total"], financial_status=row.get("financial_status", ""),
            fulfillment_status=row.get("fulfillment_status", ""), tracking_number=row.get("tracking_number", ""),
            tracking_url=url, cancelled_at=values.get("cancelled_at"),
            items=[item] if item.title else [],
            raw={"email": email, "phone": phone, "name": row.get("name", ""), "imported_from": "csv"},
        )
    return list(orders.values()), errors
