"""When a customer is erased, their order actions keep their amounts and outcomes (the books need
them) but lose what was personal: a new shipping address, free-text reasons and notes."""

from __future__ import annotations

from django.dispatch import receiver

from customers.models import Customer
from customers.signals import customer_erasing
from inbox.models import OrderAction, OrderActionKind
from inbox.orders.actions import event_refresh

ERASED = "(erased)"
PERSONAL_PARAMS = ("reason", "staff_note", "address", "title")


@receiver(customer_erasing, dispatch_uid="inbox.orders.privacy.redact")
def redact_order_actions(sender, customer: Customer, by=None, **kwargs) -> None:
    for action in OrderAction.objects.filter(customer=customer).select_related("order"):
        params = dict(action.params or {})
        for name in PERSONAL_PARAMS:
            if params.get(name):
                params[name] = ERASED
        action.params = params
        label = OrderActionKind(action.kind).label
        number = f" of order #{action.order.number}" if action.order else ""
        money = f", {action.amount} {action.currency}" if action.amount is not None else ""
        action.summary = f"{label}{number}{money} (details erased with the customer's data)"
        if action.kind == OrderActionKind.SHIPPING_ADDRESS:
            action.response = {}
        action.save(update_fields=["params", "summary", "response"])
        event_refresh(action)
