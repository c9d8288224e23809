"""One fake Shopify store behind the GraphQL Admin API, answering as Shopify does (served by tests/fakes.py).

It keeps state — orders built from the REST payloads Shopify's webhooks send (tests/fixtures/shopify/),
their refunds, transactions, fulfillments, discount codes — and answers the operations
inbox/providers/shopify.py sends in Shopify's formats: `data` pruned to the selection asked for,
`extensions.cost` with its throttle status, `userErrors` (with `field` paths) when Shopify would
refuse, 401 for a wrong token, the `@idempotent` key honoured on refundCreate. Faults are
scripted per operation: a lost answer after Shopify acted (`drop`), a lost request (`drop_before`),
THROTTLED with its cost extension (`throttle`), a 503.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
import uuid
from decimal import Decimal
from typing import Any

from .fakes import DROP, Recorded

TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\.\.\.|[_A-Za-z][_0-9A-Za-z]*|\$[_A-Za-z][_0-9A-Za-z]*|[{}():@,!\[\]=]|-?\d+(?:\.\d+)?')
PATH_RE = re.compile(r"^/(?P<shop>[a-z0-9-]+\.myshopify\.com)/admin/api/(?P<version>\d{4}-\d{2})/graphql\.json$")


# --- A small reading of GraphQL documents: the root field and the selection tree ------------------


def _skip_parens(tokens: list[str], i: int) -> int:
    depth = 0
    while i < len(tokens):
        if tokens[i] == "(":
            depth += 1
        elif tokens[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _selection(tokens: list[str], i: int) -> tuple[dict, int]:
    """Parse `{ ... }` from tokens[i] == "{": {field: subtree|None}; fragments' fields merge in."""
    assert tokens[i] == "{"
    i += 1
    tree: dict[str, Any] = {}
    while tokens[i] != "}":
        if tokens[i] == "...":
            i += 1
            if tokens[i] == "on":
                i += 2
            sub, i = _selection(tokens, i)
            tree.update(sub)
            continue
        name = tokens[i]
        i += 1
        if i < len(tokens) and tokens[i] == ":":  # an alias
            name = tokens[i + 1]
            i += 2
        if tokens[i] == "(":
            i = _skip_parens(tokens, i)
        while tokens[i] == "@":
            i += 2
            if tokens[i] == "(":
                i = _skip_parens(tokens, i)
        sub = None
        if tokens[i] == "{":
            sub, i = _selection(tokens, i)
        tree[name] = sub
    return tree, i + 1


def parse_document(query: str) -> tuple[str, str, dict, str]:
    """(operation type, root field, root field's selection tree, the root field's text with its directives)."""
    tokens = TOKEN_RE.findall(query)
    op = tokens[0] if tokens[0] in ("query", "mutation") else "query"
    i = tokens.index("{")
    tree, _ = _selection(tokens, i)
    root = next(iter(tree))
    return op, root, tree[root] or {}, query


def prune(value: Any, tree: dict | None) -> Any:
    if tree is None or value is None:
        return value
    if isinstance(value, list):
        return [prune(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    return {name: prune(value.get(name), sub) for name, sub in tree.items()}


def _amount(value: Decimal) -> str:
    # Shopify's Decimal scalar: "25.0", "98.0", "12.5"
    text = f"{Decimal(value).normalize():f}"
    return text if "." in text else text + ".0"


def _bag(value: Decimal, currency: str) -> dict:
    money = {"amount": _amount(value), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _d(value: Any) -> Decimal:
    return Decimal(str(value or "0")).quantize(Decimal("0.01"))


class FakeShopify:
    """The store at `shop`, reachable with `token`, on API `version`."""

    def __init__(self, *, shop: str = "northwind-test.myshopify.com", token: str = "shpat_test_0123456789abcdef",
                 version: str = "2026-10", currency: str = "USD"):
        self.shop = shop
        self.token = token
        self.version = version
        self.currency = currency
        self.orders: dict[str, dict] = {}
        self.discounts: dict[str, dict] = {}
        self.emails: list[dict] = []  # what Shopify emailed customers: {kind, order, ...}
        self.calls: list[dict] = []  # every operation: {root, variables, query}
        self._faults: list[dict] = []
        self._idempotent: dict[str, dict] = {}
        self._ids = itertools.count(1000)
        self.available = 2000.0
        self.lock = threading.RLock()

    # --- Setting up ---------------------------------------------------------------------------

    def add_order(self, payload: dict) -> str:
        """An order as the webhook payload describes it (paid with one sale transaction); its GID."""
        order_gid = payload.get("admin_graphql_api_id") or f"gid://shopify/Order/{payload['id']}"
        lines = {}
        for item in payload.get("line_items") or []:
            quantity = int(item.get("quantity") or 0)
            tax = sum((_d(t.get("price")) for t in item.get("tax_lines") or []), Decimal("0"))
            unit = (_d(item.get("price")) * quantity - _d(item.get("total_discount")) + tax) / max(quantity, 1)
            lines[f"gid://shopify/LineItem/{item['id']}"] = {
                "quantity": quantity, "unit": unit.quantize(Decimal("0.01")), "refunded": 0,
                "restocked": 0, "title": item.get("name") or item.get("title"),
                "fulfilled": item.get("fulfillment_status") == "fulfilled",
            }
        total = _d(payload.get("total_price"))
        fulfillments = []
        for f in payload.get("fulfillments") or []:
            info = [{"number": f.get("tracking_number"), "url": f.get("tracking_url"),
                     "company": f.get("tracking_company")}] if f.get("tracking_number") else []
            fulfillments.append({"id": f"gid://shopify/Fulfillment/{f['id']}",
                                 "status": str(f.get("status") or "success").upper(), "trackingInfo": info})
        customer = payload.get("customer") or {}
        with self.lock:
            self.orders[order_gid] = {
                "id": order_gid, "name": payload.get("name"), "total": total, "lines": lines,
                "shipping": _d((((payload.get("total_shipping_price_set") or {}).get("shop_money")) or {}).get("amount")),
                "shipping_refunded": False,
                "transactions": [{"id": f"gid://shopify/OrderTransaction/{next(self._ids)}",
                                  "gateway": (payload.get("payment_gateway_names") or ["manual"])[0],
                                  "kind": "SALE", "amount": total}],
                "refunds": [], "cancelled_at": payload.get("cancelled_at"), "fulfillments": fulfillments,
                "shipping_address": copy.deepcopy(payload.get("shipping_address")),
                "email": payload.get("email") or payload.get("contact_email"),
                "customer": customer.get("admin_graphql_api_id") or (
                    f"gid://shopify/Customer/{customer['id']}" if customer.get("id") else None),
            }
        return order_gid

    def fault(self, root: str, how: str, times: int = 1) -> None:
        """The next `times` calls of `root` (e.g. "refundCreate"): drop (lost answer after acting),
        drop_before (lost request), throttle (THROTTLED), unavailable (503)."""
        with self.lock:
            self._faults.append({"root": root, "how": how, "times": times})

    def calls_of(self, root: str) -> list[dict]:
        with self.lock:
            return [c for c in self.calls if c["root"] == root]

    def refunded(self, order_gid: str) -> Decimal:
        return sum((r["amount"] for r in self.orders[order_gid]["refunds"]), Decimal("0"))

    # --- Answering ----------------------------------------------------------------------------

    def _fault_for(self, root: str) -> str | None:
        for f in self._faults:
            if f["root"] == root and f["times"] > 0:
                f["times"] -= 1
                return f["how"]
        return None

    def _cost(self, requested: int, actual: int | None) -> dict:
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": int(self.available),
                                   "restoreRate": 100.0}}

    def __call__(self, recorded: Recorded):
        match = PATH_RE.match(recorded.path)
        if match is None or match["shop"] != self.shop:
            return 404, {"errors": "Not Found"}
        if recorded.headers.get("X-Shopify-Access-Token") != self.token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        body = recorded.json()
        query, variables = body.get("query") or "", body.get("variables") or {}
        op, root, tree, text = parse_document(query)
        with self.lock:
            self.calls.append({"root": root, "variables": variables, "query": query, "version": match["version"]})
            how = self._fault_for(root)
            requested = 10 if op == "mutation" else 12
            if how == "throttle":
                self.available = 4.0
                return 200, {
                    "errors": [{"message": "Throttled", "extensions": {
                        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": {"cost": self._cost(requested, None)},
                }
            if how == "unavailable":
                return 503, {"errors": "Service Unavailable"}
            if how == "drop_before":
                return DROP
            handler = getattr(self, f"_{op}_{root}", None)
            if handler is None:
                return 200, {"errors": [{"message": f"Field '{root}' doesn't exist on type '{op.title()}Root'",
                                         "extensions": {"code": "undefinedField"}}]}
            payload = handler(variables, text)
            self.available = max(0.0, min(2000.0, self.available - requested + 1))
            if isinstance(payload, tuple):  # (status, body): a whole-request error
                return payload
            answer = {"data": {root: prune(payload, tree)}, "extensions": {"cost": self._cost(requested, requested - 1)}}
            return DROP if how == "drop" else (200, answer)

    # --- Queries ---------------------------------------------------------------------------------

    def _query_shop(self, variables, text):
        return {"name": "Northwind Test", "myshopifyDomain": self.shop, "currencyCode": self.currency}

    def _refund_view(self, refund: dict) -> dict:
        return {"id": refund["id"], "legacyResourceId": refund["id"].rsplit("/", 1)[-1], "note": refund["note"],
                "createdAt": refund["createdAt"], "totalRefundedSet": _bag(refund["amount"], self.currency)}

    def _remaining(self, order: dict) -> Decimal:
        return order["total"] - sum((r["amount"] for r in order["refunds"]), Decimal("0"))

    def _query_order(self, variables, text):
        order = self.orders.get(variables.get("id"))
        if order is None:
            return None
        remaining = self._remaining(order)
        if variables.get("suggestFullRefund"):
            suggested = remaining
        else:
            suggested = sum((order["lines"][x["lineItemId"]]["unit"] * int(x["quantity"])
                             for x in variables.get("refundLineItems") or [] if x["lineItemId"] in order["lines"]),
                            Decimal("0"))
            suggested = min(suggested, remaining)
        sale = order["transactions"][0]
        return {
            "id": order["id"], "cancelledAt": order["cancelled_at"],
            "displayFulfillmentStatus": "FULFILLED" if order["fulfillments"] else "UNFULFILLED",
            "refunds": [self._refund_view(r) for r in order["refunds"]],
            "fulfillments": copy.deepcopy(order["fulfillments"]),
            "suggestedRefund": {
                "amountSet": _bag(suggested, self.currency), "maximumRefundableSet": _bag(remaining, self.currency),
                "suggestedTransactions": [{
                    "gateway": sale["gateway"], "kind": "SUGGESTED_REFUND", "amountSet": _bag(suggested, self.currency),
                    "maximumRefundableSet": _bag(remaining, self.currency), "parentTransaction": {"id": sale["id"]},
                }] if remaining > 0 else [],
            },
        }

    def _query_codeDiscountNodeByCode(self, variables, text):
        return copy.deepcopy(self.discounts.get(variables.get("code")))

    # --- Mutations -------------------------------------------------------------------------------

    def _mutation_refundCreate(self, variables, text):
        if "@idempotent" not in text:
            return 200, {"errors": [{"message": "The @idempotent directive is required for this mutation.",
                                     "extensions": {"code": "BAD_REQUEST"}}]}
        key = variables.get("idempotencyKey") or ""
        if key in self._idempotent:
            return copy.deepcopy(self._idempotent[key])
        refund_input = variables.get("input") or {}
        order = self.orders.get(refund_input.get("orderId"))
        if order is None:
            return {"refund": None, "order": None,
                    "userErrors": [{"field": ["input", "orderId"], "message": "Order does not exist"}]}
        errors = []
        for n, line in enumerate(refund_input.get("refundLineItems") or []):
            held = order["lines"].get(line.get("lineItemId"))
            if held is None:
                errors.append({"field": ["input", "refundLineItems", str(n), "lineItemId"],
                               "message": "Line item does not exist"})
            elif int(line.get("quantity") or 0) > held["quantity"] - held["refunded"]:
                errors.append({"field": ["input", "refundLineItems", str(n), "quantity"],
                               "message": "Quantity cannot refund more items than were purchased"})
        total = Decimal("0")
        parents = {t["id"] for t in order["transactions"]}
        for n, t in enumerate(refund_input.get("transactions") or []):
            if t.get("parentId") and t["parentId"] not in parents:
                errors.append({"field": ["input", "transactions", str(n), "parentId"],
                               "message": "Parent transaction does not exist"})
            total += _d(t.get("amount"))
        if total > self._remaining(order):
            errors.append({"field": ["input", "transactions", "0", "amount"],
                           "message": f"Refund amount ${total:.2f} is greater than net payment received "
                                      f"${self._remaining(order):.2f}"})
        if errors:
            return {"refund": None, "order": None, "userErrors": errors}
        for line in refund_input.get("refundLineItems") or []:
            held = order["lines"][line["lineItemId"]]
            held["refunded"] += int(line["quantity"])
            if line.get("restockType") in ("RETURN", "CANCEL"):
                held["restocked"] += int(line["quantity"])
        refund = {"id": f"gid://shopify/Refund/{next(self._ids)}", "note": refund_input.get("note"),
                  "createdAt": "2026-12-01T12:00:00Z", "amount": total, "input": refund_input}
        order["refunds"].append(refund)
        if refund_input.get("notify"):
            self.emails.append({"kind": "refund", "order": order["id"]})
        status = "REFUNDED" if self._remaining(order) <= 0 else "PARTIALLY_REFUNDED"
        answer = {"refund": self._refund_view(refund), "order": {"id": order["id"], "displayFinancialStatus": status},
                  "userErrors": []}
        self._idempotent[key] = copy.deepcopy(answer)
        return answer

    def _mutation_orderCancel(self, variables, text):
        order = self.orders.get(variables.get("orderId"))
        if order is None:
            return {"job": None, "orderCancelUserErrors": [
                {"field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}], "userErrors": []}
        if order["cancelled_at"]:
            return {"job": None, "orderCancelUserErrors": [
                {"field": ["orderId"], "message": "Cannot cancel an order that has already been canceled",
                 "code": "INVALID"}], "userErrors": []}
        if order["fulfillments"]:
            return {"job": None, "orderCancelUserErrors": [
                {"field": ["orderId"], "message": "Cannot cancel an order with fulfillments", "code": "INVALID"}],
                "userErrors": []}
        order["cancelled_at"] = "2026-12-01T12:00:00Z"
        order["cancel"] = dict(variables)
        if (variables.get("refundMethod") or {}).get("originalPaymentMethodsRefund") and self._remaining(order) > 0:
            order["refunds"].append({"id": f"gid://shopify/Refund/{next(self._ids)}", "note": None,
                                     "createdAt": "2026-12-01T12:00:00Z", "amount": self._remaining(order)})
        if variables.get("notifyCustomer"):
            self.emails.append({"kind": "cancellation", "order": order["id"]})
        return {"job": {"id": f"gid://shopify/Job/{uuid.uuid4()}", "done": False}, "orderCancelUserErrors": [],
                "userErrors": []}

    def _mutation_orderUpdate(self, variables, text):
        data = variables.get("input") or {}
        order = self.orders.get(data.get("id"))
        if order is None:
            return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
        address = data.get("shippingAddress") or {}
        if not re.fullmatch(r"[A-Z]{2}", str(address.get("countryCode") or "")):
            return {"order": None, "userErrors": [
                {"field": ["shippingAddress", "countryCode"], "message": "Country code is invalid"}]}
        view = {k: address.get(k) for k in ("firstName", "lastName", "company", "address1", "address2", "city",
                                             "provinceCode", "zip", "phone")}
        view["countryCodeV2"] = address["countryCode"]
        order["shipping_address_gql"] = view
        return {"order": {"id": order["id"], "shippingAddress": view}, "userErrors": []}

    def _mutation_orderInvoiceSend(self, variables, text):
        order = self.orders.get(variables.get("orderId"))
        if order is None:
            return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist",
                                                   "code": "ORDER_INVOICE_SEND_UNSUCCESSFUL"}]}
        if not order["email"]:
            return {"order": None, "userErrors": [{"field": ["email", "to"], "message": "Email can't be blank",
                                                   "code": "ORDER_INVOICE_SEND_UNSUCCESSFUL"}]}
        self.emails.append({"kind": "invoice", "order": order["id"], "to": order["email"]})
        return {"order": {"id": order["id"]}, "userErrors": []}

    def _mutation_fulfillmentTrackingInfoUpdate(self, variables, text):
        for order in self.orders.values():
            for f in order["fulfillments"]:
                if f["id"] == variables.get("fulfillmentId"):
                    info = variables.get("trackingInfoInput") or {}
                    f["trackingInfo"] = [{"number": info.get("number"), "url": info.get("url"),
                                          "company": info.get("company")}]
                    if variables.get("notifyCustomer"):
                        self.emails.append({"kind": "shipping_update", "order": order["id"], "fulfillment": f["id"]})
                    return {"fulfillment": copy.deepcopy(f), "userErrors": []}
        return {"fulfillment": None, "userErrors": [{"field": ["fulfillmentId"], "message": "Fulfillment does not exist."}]}

    def _mutation_discountCodeBasicCreate(self, variables, text):
        data = variables.get("basicCodeDiscount") or {}
        code = data.get("code")
        if code in self.discounts:
            return {"codeDiscountNode": None, "userErrors": [
                {"field": ["basicCodeDiscount", "code"], "code": "TAKEN",
                 "message": "Code must be unique. Please try a different code.", "extraInfo": None}]}
        customers = ((data.get("context") or {}).get("customers") or {}).get("add") or []
        if not customers or not all(str(c).startswith("gid://shopify/Customer/") for c in customers):
            return {"codeDiscountNode": None, "userErrors": [
                {"field": ["basicCodeDiscount", "context", "customers", "add"], "code": "INVALID",
                 "message": "Customer does not exist", "extraInfo": None}]}
        node = {"id": f"gid://shopify/DiscountCodeNode/{next(self._ids)}", "codeDiscount": {
            "title": data.get("title"), "status": "ACTIVE", "usageLimit": data.get("usageLimit"),
            "appliesOncePerCustomer": bool(data.get("appliesOncePerCustomer")), "startsAt": data.get("startsAt"),
            "endsAt": data.get("endsAt"), "codes": {"nodes": [{"code": code}]},
            "customerGets": data.get("customerGets"), "context": data.get("context"),
        }}
        self.discounts[code] = node
        return {"codeDiscountNode": copy.deepcopy(node), "userErrors": []}
