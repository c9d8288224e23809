"""Shopify's GraphQL Admin API: the calls behind order actions, and how its answers are read.

An edge like the other providers: it builds requests, reads answers and says whether a failure
is worth retrying; it knows nothing of order actions, limits or the timeline (inbox/orders/).

The request
-----------
``POST {SHOPIFY_ADMIN_URL_TEMPLATE}``, by default ``https://{shop}/admin/api/{version}/graphql.json``
with ``{shop}`` the store's ``*.myshopify.com`` domain and ``{version}`` the pinned API_VERSION.
Headers ``Content-Type: application/json`` and ``X-Shopify-Access-Token: <Admin API access token>``.
Body ``{"query": "<GraphQL document>", "variables": {...}}``. Ids are GIDs
(``gid://shopify/Order/5940139491234``); the REST ids in webhooks are their last segment
(``legacyResourceId``).

The answer
----------
HTTP 200 and ``{"data": {...}, "extensions": {"cost": {"requestedQueryCost": 11,
"actualQueryCost": 11, "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1989,
"restoreRate": 100.0}}}}``. A mutation that Shopify refuses still answers 200: its payload carries
``userErrors: [{"field": ["input", "transactions", "0", "amount"], "message": "..."}]`` (orderCancel:
``orderCancelUserErrors`` with a ``code``; discount mutations: ``code`` and ``extraInfo``), and
nothing happened. Whole-request failures come as top-level ``errors``:

- throttled (the cost bucket is empty): ``{"errors": [{"message": "Throttled", "extensions":
  {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
  "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": null, "throttleStatus":
  {...}}}}`` — transient; the wait is (requested - currentlyAvailable) / restoreRate seconds;
- ``INTERNAL_SERVER_ERROR`` — transient; ``ACCESS_DENIED`` (a missing access scope) — permanent.

HTTP statuses that are not 200: 401 (token wrong or revoked), 402 (shop frozen for an unpaid bill),
403 (forbidden), 404 (no such shop), 423 (shop locked) are permanent; 429 (honour ``Retry-After``)
and 5xx are transient, as are a refused connection, a timeout or an answer lost on the way
(connection reset): the caller must then find out what Shopify did before trying again.

The operations (API_VERSION 2026-10)
------------------------------------
- ``shop { name myshopifyDomain currencyCode }`` — checks a token when a store is connected.
- ``order(id:)`` with ``cancelledAt``, ``displayFulfillmentStatus``, ``refunds(first: 50) { id
  legacyResourceId note createdAt totalRefundedSet { shopMoney { amount currencyCode } } }`` and
  ``suggestedRefund(refundLineItems:, suggestFullRefund:) { amountSet maximumRefundableSet
  suggestedTransactions { gateway kind amountSet maximumRefundableSet parentTransaction { id } } }``:
  read back before a refund (and after a lost answer) so a retry never refunds twice, and the
  payment gateway and parent transaction a refund transaction needs.
- ``refundCreate(input: RefundInput!) @idempotent(key:)`` — ``{orderId, note, notify,
  refundLineItems: [{lineItemId, quantity, restockType: RETURN|CANCEL|NO_RESTOCK}], shipping:
  {fullRefund: true}, transactions: [{orderId, gateway, kind: REFUND, amount, parentId}]}``.
  Since 2026-04 the ``@idempotent`` directive is mandatory on refundCreate (Shopify's changelog
  "Making idempotency mandatory for inventory adjustments and refund mutations"): the same key
  returns the original refund instead of a second one.
- ``orderCancel(orderId:, reason: CUSTOMER|DECLINED|FRAUD|INVENTORY|STAFF|OTHER, refundMethod:
  {originalPaymentMethodsRefund: Boolean}, restock:, notifyCustomer:, staffNote:)`` — answers a
  ``job { id done }``: the cancellation itself is asynchronous and shows as ``cancelledAt``.
- ``orderUpdate(input: {id, shippingAddress: MailingAddressInput})`` — before fulfilment only.
- Notifications. The Admin API has no "resend the order confirmation" mutation. What it has:
  ``orderInvoiceSend(id:, email:)`` sends the order's invoice email, which links the order status
  page (our "order status" notification), and ``fulfillmentTrackingInfoUpdate(fulfillmentId:,
  trackingInfoInput: {number, url, company}, notifyCustomer: true)`` which, given the fulfillment's
  current tracking, sends the customer Shopify's shipping-update email again (our "tracking"
  notification). The fulfillment ids come from ``order { fulfillments(first: 10) { id status
  trackingInfo { number url company } } }``.
- ``discountCodeBasicCreate(basicCodeDiscount: {title, code, startsAt, endsAt, usageLimit: 1,
  appliesOncePerCustomer: true, context: {customers: {add: [customer GID]}}, customerGets:
  {value: {percentage: 0.1} | {discountAmount: {amount, appliesOnEachItem: false}}, items:
  {all: true}}})`` — ``context`` is what replaced the deprecated ``customerSelection``; and
  ``codeDiscountNodeByCode(code:)`` to find a code whose creation answer was lost.

Real answers of each are in tests/fixtures/shopify/.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from django.conf import settings
from django.utils.dateparse import parse_datetime

from inbox.providers.base import ProviderError

logger = logging.getLogger(__name__)

API_VERSION = "2026-10"
DEFAULT_URL_TEMPLATE = "https://{shop}/admin/api/{version}/graphql.json"
SHOP_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com$")
CONNECT_TIMEOUT = 5
# Shopify's answers to a throttled request rarely ask for more than a few seconds; never wait long.
MAX_THROTTLE_WAIT = 60.0

PERMANENT_STATUSES = {
    401: ("unauthorized", "Shopify refused the access token (wrong, or the app was uninstalled)."),
    402: ("shop_frozen", "The Shopify store is frozen (an unpaid bill)."),
    403: ("forbidden", "Shopify refused: the app lacks the access scope this needs."),
    404: ("shop_not_found", "Shopify knows no store at this domain."),
    423: ("shop_locked", "The Shopify store is locked."),
}


def gid(kind: str, legacy_id: str | int) -> str:
    """`gid("Order", 5940139491234)` -> "gid://shopify/Order/5940139491234" (an id that is already a GID stays)."""
    text = str(legacy_id)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def legacy_id(global_id: str) -> str:
    """The REST id at the end of a GID (what webhooks carry)."""
    return str(global_id).rsplit("/", 1)[-1]


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return Decimal("0.00")


def shop_domain_clean(value: str) -> str:
    """A store's `name.myshopify.com` domain, lower-cased, from what an admin typed (a URL works too)."""
    text = (value or "").strip().lower()
    text = re.sub(r"^https?://", "", text).split("/", 1)[0]
    if not SHOP_DOMAIN_RE.match(text):
        raise ValueError("The shop domain is the store's myshopify.com address, e.g. northwind.myshopify.com.")
    return text


class ShopifyError(ProviderError):
    """A request Shopify did not carry out, or whose outcome is unknown (`transient`)."""

    def __init__(self, *, reason: str, code: str, detail: str, transient: bool, retry_after: float | None = None,
                 cost: dict | None = None):
        super().__init__(reason=reason, code=code, detail=detail, transient=transient)
        self.retry_after = retry_after
        self.cost = cost


@dataclass
class Result:
    """A mutation's answer: its payload (`data[root]`), the user errors in it, the cost extension."""

    payload: dict[str, Any]
    user_errors: list[dict[str, Any]]
    cost: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.user_errors

    def error_text(self) -> str:
        return "; ".join(_user_error_text(e) for e in self.user_errors)

    def answer(self) -> dict[str, Any]:
        """What to keep of it on the action row (the payload and the errors, not the cost)."""
        return {"payload": self.payload, "userErrors": self.user_errors}


@dataclass(frozen=True)
class RefundSeen:
    id: str
    legacy_id: str
    note: str
    amount: Decimal
    currency: str
    created_at: datetime | None


@dataclass(frozen=True)
class SuggestedTransaction:
    gateway: str
    parent_id: str | None
    amount: Decimal
    maximum_refundable: Decimal


@dataclass
class RefundState:
    """What Shopify holds about an order's refunds right now, and what it would suggest refunding."""

    order_id: str
    cancelled_at: str | None
    fulfillment_status: str
    refunds: list[RefundSeen] = field(default_factory=list)
    suggested_amount: Decimal = Decimal("0.00")
    maximum_refundable: Decimal = Decimal("0.00")
    suggested_transactions: list[SuggestedTransaction] = field(default_factory=list)
    currency: str = ""


def _user_error_text(error: dict) -> str:
    path = ".".join(str(p) for p in (error.get("field") or []))
    message = str(error.get("message") or "refused")
    return f"{path}: {message}" if path else message


def _url(shop: str) -> str:
    template = getattr(settings, "SHOPIFY_ADMIN_URL_TEMPLATE", "") or DEFAULT_URL_TEMPLATE
    return template.format(shop=shop, version=API_VERSION)


def _throttle_wait(cost: dict | None) -> float:
    cost = cost or {}
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost.get("requestedQueryCost") or 0) - float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (AttributeError, TypeError, ValueError):
        return 1.0
    if rate <= 0:
        return 1.0
    return min(MAX_THROTTLE_WAIT, max(1.0, math.ceil(needed / rate)))


class ShopifyAdmin:
    """One store's GraphQL Admin API, with its access token."""

    def __init__(self, *, shop: str, access_token: str):
        self.shop = shop
        self.access_token = access_token

    # --- Transport ---------------------------------------------------------------------------

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict | None]:
        """POST one document; `(data, cost)` or ShopifyError."""
        try:
            response = requests.post(
                _url(self.shop),
                json={"query": query, "variables": variables or {}},
                headers={"X-Shopify-Access-Token": self.access_token, "Accept": "application/json"},
                timeout=(CONNECT_TIMEOUT, settings.PROVIDER_HTTP_TIMEOUT),
            )
        except requests.Timeout as exc:
            raise ShopifyError(reason="timeout", code="timeout", detail=f"Shopify did not answer in time: {exc}",
                               transient=True) from exc
        except requests.RequestException as exc:
            # Refused, reset, or closed before the answer: whether Shopify acted is unknown.
            raise ShopifyError(reason="network", code="network", detail=f"No answer from Shopify: {exc}",
                               transient=True) from exc
        status = response.status_code
        if status in PERMANENT_STATUSES:
            reason, detail = PERMANENT_STATUSES[status]
            raise ShopifyError(reason=reason, code=str(status), detail=detail, transient=False)
        if status == 429:
            try:
                wait = float(response.headers.get("Retry-After") or 2)
            except ValueError:
                wait = 2.0
            raise ShopifyError(reason="rate_limited", code="429", detail="Shopify asked to slow down (429).",
                               transient=True, retry_after=min(wait, MAX_THROTTLE_WAIT))
        if status >= 500:
            raise ShopifyError(reason="server_error", code=str(status), detail=f"Shopify answered {status}.",
                               transient=True)
        try:
            body = response.json()
        except ValueError as exc:
            raise ShopifyError(reason="bad_answer", code=str(status), detail="Shopify's answer was not JSON.",
                               transient=status >= 500) from exc
        if status != 200 or not isinstance(body, dict):
            raise ShopifyError(reason="rejected", code=str(status), detail=str(body)[:500], transient=False)
        cost = (body.get("extensions") or {}).get("cost") if isinstance(body.get("extensions"), dict) else None
        errors = body.get("errors")
        if errors:
            raise self._top_level_error(errors, cost)
        data = body.get("data")
        if not isinstance(data, dict):
            raise ShopifyError(reason="bad_answer", code="no_data", detail="Shopify's answer had no data.",
                               transient=False)
        return data, cost

    @staticmethod
    def _top_level_error(errors: Any, cost: dict | None) -> ShopifyError:
        items: list[dict[str, Any]] = [e if isinstance(e, dict) else {"message": str(e)}
                                       for e in (errors if isinstance(errors, list) else [errors])]
        codes = [str((e.get("extensions") or {}).get("code") or "") for e in items]
        text = "; ".join(str(e.get("message") or e) for e in items)[:500]
        if "THROTTLED" in codes:
            return ShopifyError(reason="rate_limited", code="THROTTLED", detail=text or "Throttled", transient=True,
                                retry_after=_throttle_wait(cost), cost=cost)
        if "INTERNAL_SERVER_ERROR" in codes:
            return ShopifyError(reason="server_error", code="INTERNAL_SERVER_ERROR", detail=text, transient=True,
                                cost=cost)
        if "ACCESS_DENIED" in codes:
            return ShopifyError(reason="forbidden", code="ACCESS_DENIED", detail=text, transient=False, cost=cost)
        return ShopifyError(reason="rejected", code=next((c for c in codes if c), "GRAPHQL_ERROR"), detail=text,
                            transient=False, cost=cost)

    def _mutation(self, query: str, variables: dict, root: str, errors_key: str = "userErrors") -> Result:
        data, cost = self.execute(query, variables)
        payload = data.get(root) or {}
        errors = [e for e in (payload.get(errors_key) or []) if isinstance(e, dict)]
        return Result(payload=payload, user_errors=errors, cost=cost)

    # --- Reads ---------------------------------------------------------------------------------

    def shop_info(self) -> dict[str, str]:
        data, _ = self.execute(SHOP_QUERY)
        shop = data.get("shop") or {}
        return {"name": str(shop.get("name") or ""), "domain": str(shop.get("myshopifyDomain") or ""),
                "currency": str(shop.get("currencyCode") or "")}

    def refund_state(self, *, order_id: str, refund_line_items: list[dict] | None, full: bool) -> RefundState:
        data, _ = self.execute(
            REFUND_STATE_QUERY,
            {"id": order_id, "refundLineItems": refund_line_items or None, "suggestFullRefund": full},
        )
        order = data.get("order")
        if not isinstance(order, dict):
            raise ShopifyError(reason="order_not_found", code="NOT_FOUND", detail="Shopify has no such order.",
                               transient=False)
        state = RefundState(
            order_id=str(order.get("id") or order_id),
            cancelled_at=order.get("cancelledAt"),
            fulfillment_status=str(order.get("displayFulfillmentStatus") or ""),
        )
        for refund in order.get("refunds") or []:
            shop_money = ((refund.get("totalRefundedSet") or {}).get("shopMoney")) or {}
            created = refund.get("createdAt")
            state.refunds.append(RefundSeen(
                id=str(refund.get("id") or ""),
                legacy_id=str(refund.get("legacyResourceId") or legacy_id(str(refund.get("id") or ""))),
                note=str(refund.get("note") or ""),
                amount=money(shop_money.get("amount")),
                currency=str(shop_money.get("currencyCode") or ""),
                created_at=parse_datetime(created) if isinstance(created, str) else None,
            ))
        suggested = order.get("suggestedRefund") or {}
        amount = (suggested.get("amountSet") or {}).get("shopMoney") or {}
        state.suggested_amount = money(amount.get("amount"))
        state.currency = str(amount.get("currencyCode") or "")
        state.maximum_refundable = money(((suggested.get("maximumRefundableSet") or {}).get("shopMoney") or {}).get("amount"))
        for t in suggested.get("suggestedTransactions") or []:
            state.suggested_transactions.append(SuggestedTransaction(
                gateway=str(t.get("gateway") or ""),
                parent_id=((t.get("parentTransaction") or {}).get("id")),
                amount=money(((t.get("amountSet") or {}).get("shopMoney") or {}).get("amount")),
                maximum_refundable=money(((t.get("maximumRefundableSet") or {}).get("shopMoney") or {}).get("amount")),
            ))
        return state

    def order_fulfillments(self, *, order_id: str) -> tuple[str | None, list[dict[str, Any]]]:
        """`(cancelledAt, fulfillments)` of an order; each fulfillment `{id, status, trackingInfo: [...]}`."""
        data, _ = self.execute(FULFILLMENTS_QUERY, {"id": order_id})
        order = data.get("order")
        if not isinstance(order, dict):
            raise ShopifyError(reason="order_not_found", code="NOT_FOUND", detail="Shopify has no such order.",
                               transient=False)
        return order.get("cancelledAt"), [f for f in order.get("fulfillments") or [] if isinstance(f, dict)]

    def discount_by_code(self, *, code: str) -> dict[str, Any] | None:
        data, _ = self.execute(DISCOUNT_BY_CODE_QUERY, {"code": code})
        node = data.get("codeDiscountNodeByCode")
        return node if isinstance(node, dict) else None

    # --- Mutations -----------------------------------------------------------------------------

    def refund_create(self, *, refund: dict[str, Any], idempotency_key: str) -> Result:
        return self._mutation(REFUND_CREATE, {"input": refund, "idempotencyKey": idempotency_key}, "refundCreate")

    def order_cancel(self, *, order_id: str, reason: str, refund: bool, restock: bool, notify: bool,
                     staff_note: str) -> Result:
        variables = {
            "orderId": order_id, "reason": reason, "refundMethod": {"originalPaymentMethodsRefund": refund},
            "restock": restock, "notifyCustomer": notify, "staffNote": staff_note or None,
        }
        return self._mutation(ORDER_CANCEL, variables, "orderCancel", errors_key="orderCancelUserErrors")

    def shipping_address_update(self, *, order_id: str, address: dict[str, Any]) -> Result:
        return self._mutation(ORDER_UPDATE, {"input": {"id": order_id, "shippingAddress": address}}, "orderUpdate")

    def order_invoice_send(self, *, order_id: str) -> Result:
        return self._mutation(ORDER_INVOICE_SEND, {"orderId": order_id}, "orderInvoiceSend")

    def tracking_notify(self, *, fulfillment_id: str, tracking: dict[str, Any]) -> Result:
        variables = {"fulfillmentId": fulfillment_id, "trackingInfoInput": tracking, "notifyCustomer": True}
        return self._mutation(TRACKING_UPDATE, variables, "fulfillmentTrackingInfoUpdate")

    def discount_code_create(self, *, discount: dict[str, Any]) -> Result:
        return self._mutation(DISCOUNT_CODE_CREATE, {"basicCodeDiscount": discount}, "discountCodeBasicCreate")


# --- The documents -------------------------------------------------------------------------------

SHOP_QUERY = """query ShopInfo {
  shop { name myshopifyDomain currencyCode }
}"""

_MONEY = "shopMoney { amount currencyCode }"

REFUND_STATE_QUERY = f"""query OrderRefundState($id: ID!, $refundLineItems: [RefundLineItemInput!], $suggestFullRefund: Boolean) {{
  order(id: $id) {{
    id
    cancelledAt
    displayFulfillmentStatus
    refunds(first: 50) {{
      id
      legacyResourceId
      note
      createdAt
      totalRefundedSet {{ {_MONEY} }}
    }}
    suggestedRefund(refundLineItems: $refundLineItems, suggestFullRefund: $suggestFullRefund) {{
      amountSet {{ {_MONEY} }}
      maximumRefundableSet {{ {_MONEY} }}
      suggestedTransactions {{
        gateway
        kind
        amountSet {{ {_MONEY} }}
        maximumRefundableSet {{ {_MONEY} }}
        parentTransaction {{ id }}
      }}
    }}
  }}
}}"""

REFUND_CREATE = f"""mutation RefundCreate($input: RefundInput!, $idempotencyKey: String!) {{
  refundCreate(input: $input) @idempotent(key: $idempotencyKey) {{
    refund {{
      id
      legacyResourceId
      note
      createdAt
      totalRefundedSet {{ {_MONEY} }}
    }}
    order {{ id displayFinancialStatus }}
    userErrors {{ field message }}
  }}
}}"""

ORDER_CANCEL = """mutation OrderCancel($orderId: ID!, $reason: OrderCancelReason!, $refundMethod: OrderCancelRefundMethodInput!, $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock, notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}"""

_ADDRESS = "firstName lastName company address1 address2 city provinceCode countryCodeV2 zip phone"

ORDER_UPDATE = f"""mutation OrderUpdate($input: OrderInput!) {{
  orderUpdate(input: $input) {{
    order {{ id shippingAddress {{ {_ADDRESS} }} }}
    userErrors {{ field message }}
  }}
}}"""

ORDER_INVOICE_SEND = """mutation OrderInvoiceSend($orderId: ID!) {
  orderInvoiceSend(id: $orderId) {
    order { id }
    userErrors { field message code }
  }
}"""

FULFILLMENTS_QUERY = """query OrderFulfillments($id: ID!) {
  order(id: $id) {
    id
    cancelledAt
    fulfillments(first: 10) {
      id
      status
      trackingInfo { number url company }
    }
  }
}"""

TRACKING_UPDATE = """mutation FulfillmentTrackingInfoUpdate($fulfillmentId: ID!, $trackingInfoInput: FulfillmentTrackingInput!, $notifyCustomer: Boolean) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput, notifyCustomer: $notifyCustomer) {
    fulfillment { id status trackingInfo { number url company } }
    userErrors { field message }
  }
}"""

_DISCOUNT_FIELDS = """id
    codeDiscount {
      ... on DiscountCodeBasic {
        title
        status
        usageLimit
        appliesOncePerCustomer
        startsAt
        endsAt
        codes(first: 1) { nodes { code } }
      }
    }"""

DISCOUNT_CODE_CREATE = f"""mutation DiscountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {{
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {{
    codeDiscountNode {{
    {_DISCOUNT_FIELDS}
    }}
    userErrors {{ field code message extraInfo }}
  }}
}}"""

DISCOUNT_BY_CODE_QUERY = f"""query DiscountByCode($code: String!) {{
  codeDiscountNodeByCode(code: $code) {{
    {_DISCOUNT_FIELDS}
  }}
}}"""
