"""What a macro's reply and note may say about the conversation: the template variables.

    {{ customer.name }} {{ customer.first_name }} {{ customer.last_name }} {{ customer.email }}
    {{ customer.phone }} {{ agent.name }} {{ agent.first_name }}
    {{ order.number }} {{ order.status }} {{ order.total }} {{ order.currency }}
    {{ order.tracking_number }} {{ order.tracking_url }} {{ order.items }} (e.g. "2 × Tee, 1 × Cap")
    {% for line in order.lines %}{{ line.quantity }} × {{ line.title }}{% endfor %}

`order` is the order the agent chose when applying the macro, else the customer's latest one
(empty when they have none). Plain values only: a template can't walk relations or call methods.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

from customers.models import Customer, Order
from inbox.models import Conversation


def order_status(order: Order) -> str:
    """One word or two for where the order is: cancelled, delivered, in transit, shipped, unfulfilled…"""
    if order.cancelled_at:
        return "cancelled"
    if order.shipment_status:
        return order.shipment_status.replace("_", " ")
    if order.fulfillment_status == "fulfilled":
        return "shipped"
    if order.fulfillment_status:
        return order.fulfillment_status.replace("_", " ")
    return "unfulfilled"


def order_for(*, conversation: Conversation, order_id: int | None) -> Order | None:
    """The order a macro talks about: `order_id` (404 unless it is this customer's), else the latest."""
    orders = Order.objects.filter(customer_id=conversation.customer_id)
    if order_id is not None:
        order = orders.filter(pk=order_id).first()
        if order is None:
            raise Http404
        return order
    return orders.order_by("-placed_at", "-id").first()


def _customer(customer: Customer, fallback_name: str) -> dict[str, str]:
    name = (customer.name or fallback_name or "").strip()
    first, _, last = name.partition(" ")
    return {"name": name, "first_name": first, "last_name": last, "email": customer.email or "",
            "phone": customer.phone or ""}


def _order(order: Order | None) -> dict[str, Any]:
    if order is None:
        return {}
    lines = [
        {"title": item.title, "quantity": item.quantity, "sku": item.sku, "price": str(item.price)}
        for item in order.items.all()
    ]
    return {
        "number": order.number,
        "status": order_status(order),
        "total": str(order.total),
        "currency": order.currency,
        "tracking_number": order.tracking_number,
        "tracking_url": order.tracking_url,
        "items": ", ".join(f"{line['quantity']} × {line['title']}" for line in lines),
        "lines": lines,
    }


def template_context(*, conversation: Conversation, user, order: Order | None) -> dict[str, Any]:
    """`user` None: the system (an automation rule), whose agent name is the inbox's."""
    if user is None:
        full = conversation.inbox.name.strip()
        return {
            "customer": _customer(conversation.customer, conversation.identity.display_name),
            "agent": {"name": full, "first_name": full},
            "order": _order(order),
        }
    full = (user.get_full_name() or user.get_username()).strip()
    return {
        "customer": _customer(conversation.customer, conversation.identity.display_name),
        "agent": {"name": full, "first_name": (user.first_name or full.split(" ")[0]).strip()},
        "order": _order(order),
    }


def sample_context() -> dict[str, Any]:
    """What a macro's texts are tried with when saved."""
    return {
        "customer": {"name": "Jane Doe", "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
                     "phone": "+15555550100"},
        "agent": {"name": "Sam Agent", "first_name": "Sam"},
        "order": {"number": "1001", "status": "shipped", "total": "59.00", "currency": "USD",
                  "tracking_number": "1Z999", "tracking_url": "https://track.example/1Z999",
                  "items": "1 × Tee", "lines": [{"title": "Tee", "quantity": 1, "sku": "TEE-1", "price": "59.00"}]},
    }
