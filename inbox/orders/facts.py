"""What a synced order tells us about itself, read from Shopify's webhook payload (`Order.raw`).

The order rows keep the figures agents see (total, refunds, statuses); the ids an action needs
(line items, fulfillments, the Shopify customer) and what is left to refund per line live in the
payload Shopify sent last, which `order_sync` keeps whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from customers.models import Order
from customers.selectors import order_refunded
from inbox.providers.shopify import gid, money

SHOPIFY = "shopify"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    id: str  # Shopify's line item id (REST), as webhooks carry it
    title: str
    quantity: int
    refundable_quantity: int
    unit_amount: Decimal  # what one unit cost the customer: after discounts, with tax
    fulfilled: bool
    location_id: str | None = None  # where it shipped from: where a returned item is restocked

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "quantity": self.quantity,
            "refundable_quantity": self.refundable_quantity, "unit_amount": str(self.unit_amount),
            "fulfilled": self.fulfilled, "location_id": self.location_id,
        }


def is_shopify(order: Order) -> bool:
    return order.source == SHOPIFY and bool(order.raw)


def order_gid(order: Order) -> str:
    raw = order.raw or {}
    return str(raw.get("admin_graphql_api_id") or gid("Order", order.external_id))


def customer_gid(order: Order) -> str | None:
    customer = (order.raw or {}).get("customer")
    if not isinstance(customer, dict) or customer.get("id") in (None, ""):
        return None
    return str(customer.get("admin_graphql_api_id") or gid("Customer", customer["id"]))


def _sum(values: Any) -> Decimal:
    return sum((money(v) for v in values), Decimal("0"))


def lines(order: Order) -> list[Line]:
    raw = order.raw or {}
    refunded: dict[str, int] = {}
    for refund in raw.get("refunds") or []:
        for item in (refund or {}).get("refund_line_items") or []:
            key = str((item or {}).get("line_item_id"))
            refunded[key] = refunded.get(key, 0) + int((item or {}).get("quantity") or 0)
    shipped_from: dict[str, str] = {}
    for f in raw.get("fulfillments") or []:
        if isinstance(f, dict) and f.get("location_id") and f.get("status") not in ("cancelled", "error", "failure"):
            for shipped in f.get("line_items") or []:
                shipped_from[str((shipped or {}).get("id"))] = str(f["location_id"])
            shipped_from.setdefault("*", str(f["location_id"]))
    out = []
    for item in raw.get("line_items") or []:
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            continue
        quantity = int(item.get("quantity") or 0)
        if quantity <= 0:
            continue
        discount = _sum(a.get("amount") for a in item.get("discount_allocations") or [] if isinstance(a, dict))
        if not discount:
            discount = money(item.get("total_discount"))
        tax = _sum(t.get("price") for t in item.get("tax_lines") or [] if isinstance(t, dict))
        unit = ((money(item.get("price")) * quantity - discount + tax) / quantity).quantize(CENT, ROUND_HALF_UP)
        fulfillable = item.get("fulfillable_quantity")
        out.append(Line(
            id=str(item["id"]),
            title=str(item.get("name") or item.get("title") or "Item"),
            quantity=quantity,
            refundable_quantity=max(0, quantity - refunded.get(str(item["id"]), 0)),
            unit_amount=unit,
            fulfilled=item.get("fulfillment_status") == "fulfilled" or fulfillable == 0,
            location_id=shipped_from.get(str(item["id"])) or shipped_from.get("*"),
        ))
    return out


def refundable(order: Order) -> Decimal:
    """What is left to refund on the order: its total less what was refunded already."""
    return max(Decimal("0.00"), (order.total - order_refunded(order)).quantize(CENT))


def is_fulfilled(order: Order) -> bool:
    """Any part shipped: Shopify then refuses an address change, and a cancel refunds nothing shipped."""
    status = (order.fulfillment_status or "").lower()
    return status in ("fulfilled", "partial", "partially_fulfilled", "shipped") or bool(tracked_fulfillments(order))


def tracked_fulfillments(order: Order) -> list[dict[str, Any]]:
    """The payload's live fulfillments with a tracking number, newest last: `{id, number, url, company}`."""
    out = []
    for f in (order.raw or {}).get("fulfillments") or []:
        if not isinstance(f, dict) or f.get("status") in ("cancelled", "error", "failure") or f.get("id") is None:
            continue
        number = f.get("tracking_number") or ((f.get("tracking_numbers") or [None])[0])
        if not number:
            continue
        url = f.get("tracking_url") or ((f.get("tracking_urls") or [None])[0])
        out.append({"id": gid("Fulfillment", f["id"]), "number": str(number), "url": str(url or ""),
                    "company": str(f.get("tracking_company") or "")})
    return out


def shipping_address(order: Order) -> dict[str, Any]:
    address = (order.raw or {}).get("shipping_address")
    return address if isinstance(address, dict) else {}
