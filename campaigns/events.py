"""Who may post customer events through the API, and what an event posted there may carry.

`POST /api/v1/events/` is for integrations (a shop's backend telling us "cart.abandoned",
"quiz.completed"…), not for agents: it fires triggered campaigns at customers. It takes:

- callers: admins, and integration accounts — active users in the Django group `integration`
  (INTEGRATION_GROUP), usually without an agent profile, authenticating with their API token
  (`python manage.py drf_create_token <username>`). An integration acts for the whole shop, so it
  may name any customer;
- names: anything `event_name_validate` accepts except the names the system itself emits
  (SYSTEM_EVENT_PREFIXES: `order.*` from the shop's orders, `conversation.*` from the inbox);
- properties: a JSON object of at most MAX_PROPERTIES_BYTES (as JSON) nested at most MAX_DEPTH
  deep, strings without NUL; `order_id` (or any key ending in `_order_id`), when given, is the id of
  an order of that same customer.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from customers.models import Customer, Order
from inbox.models import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

INTEGRATION_GROUP = "integration"
SYSTEM_EVENT_PREFIXES = ("order.", "conversation.")
MAX_PROPERTIES_BYTES = 8 * 1024
MAX_DEPTH = 4
MAX_KEY_CHARS = 64


class EventRefused(Exception):
    def __init__(self, code: str, detail: str, status: int = 400):
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def is_integration(user: User | AnonymousUser | None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.groups.filter(name=INTEGRATION_GROUP).exists()


def may_post_events(user: User | AnonymousUser) -> bool:
    """Admins and integration accounts; never agents, leads or managers."""
    from inbox.team import access

    return access.role_of(user) == Role.ADMIN or is_integration(user)


def is_system_event(name: str) -> bool:
    return name.startswith(SYSTEM_EVENT_PREFIXES)


def _is_order_key(key: str) -> bool:
    return key == "order_id" or key.endswith("_order_id")


def _walk(value: Any, depth: int, order_ids: list[int], *, key: str = "") -> None:
    if depth > MAX_DEPTH:
        raise EventRefused("invalid_properties", f"properties nest at most {MAX_DEPTH} levels deep")
    if key and _is_order_key(key):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
            raise EventRefused("invalid_properties", f"{key} must be an order id (an integer)")
        order_ids.append(value)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k or len(k) > MAX_KEY_CHARS or "\x00" in k:
                raise EventRefused("invalid_properties", f"property names are 1–{MAX_KEY_CHARS} characters")
            _walk(v, depth + 1, order_ids, key=k)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1, order_ids)
    elif isinstance(value, str):
        if "\x00" in value:
            raise EventRefused("invalid_properties", "property values may not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EventRefused("invalid_properties", "property values must be valid Unicode text") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EventRefused("invalid_properties", "property numbers must be finite")
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 2**63:
            raise EventRefused("invalid_properties", "property integers must fit in 64 bits")
    elif value is not None and not isinstance(value, bool):
        raise EventRefused("invalid_properties", "properties hold JSON values only")


def properties_validate(properties: Any, *, customer: Customer) -> dict:
    """The properties, or EventRefused (400) saying what is wrong with them."""
    if not isinstance(properties, dict):
        raise EventRefused("invalid_properties", "properties must be a JSON object")
    order_ids: list[int] = []
    _walk(properties, 1, order_ids)
    try:
        size = len(json.dumps(properties, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise EventRefused("invalid_properties", "properties must be plain JSON") from None
    if size > MAX_PROPERTIES_BYTES:
        raise EventRefused("invalid_properties", f"properties take at most {MAX_PROPERTIES_BYTES} bytes as JSON")
    for order_id in set(order_ids):
        if not Order.objects.filter(pk=order_id, customer_id=customer.pk).exists():
            raise EventRefused("unknown_order", f"This customer has no order {order_id}.")
    return properties
