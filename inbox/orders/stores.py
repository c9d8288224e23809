"""The connected Shopify store: connect (the token is checked against Shopify first), limits, disconnect."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from inbox.audit import audit_record
from inbox.models import ShopifyStore
from inbox.orders.errors import OrderActionRefused
from inbox.providers.shopify import ShopifyAdmin, ShopifyError, shop_domain_clean

LIMIT_FIELDS = ("agent_refund_limit", "lead_refund_limit", "discount_percent_limit")


def store_current() -> ShopifyStore | None:
    """The store order actions go to (one per installation), or None when none is connected."""
    return ShopifyStore.objects.order_by("pk").first()


def admin_for(store: ShopifyStore) -> ShopifyAdmin:
    return ShopifyAdmin(shop=store.shop_domain, access_token=str((store.credentials or {}).get("access_token") or ""))


def _limits_clean(limits: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name in ("agent_refund_limit", "lead_refund_limit"):
        if name in limits and limits[name] is not None:
            value = Decimal(str(limits[name])).quantize(Decimal("0.01"))
            if value < 0:
                raise OrderActionRefused("invalid", f"{name}: may not be negative.", 400)
            clean[name] = value
    if limits.get("discount_percent_limit") is not None:
        percent = int(limits["discount_percent_limit"])
        if not 0 <= percent <= 100:
            raise OrderActionRefused("invalid", "discount_percent_limit: between 0 and 100.", 400)
        clean["discount_percent_limit"] = percent
    return clean


def store_connect(*, shop_domain: str, access_token: str, by, limits: dict[str, Any] | None = None) -> ShopifyStore:
    """Connect (or re-connect) the store. Shopify is asked for the shop first: a token it refuses is never kept."""
    try:
        domain = shop_domain_clean(shop_domain)
    except ValueError as exc:
        raise OrderActionRefused("invalid_shop_domain", str(exc), 400) from None
    token = (access_token or "").strip()
    if not token:
        raise OrderActionRefused("invalid", "access_token: the Admin API access token is required.", 400)
    clean = _limits_clean(limits or {})
    try:
        shop = ShopifyAdmin(shop=domain, access_token=token).shop_info()
    except ShopifyError as exc:
        status = 400 if not exc.transient else 502
        raise OrderActionRefused(f"shopify_{exc.reason}", f"Shopify did not accept the connection: {exc.detail}",
                                 status) from None
    with transaction.atomic():
        # One store: connecting another domain replaces the one before (its actions keep their history).
        store = ShopifyStore.objects.select_for_update().order_by("pk").first() or ShopifyStore()
        store.shop_domain = domain
        store.credentials = {"access_token": token}
        store.name = shop["name"][:255]
        store.currency = shop["currency"][:3]
        store.connected_by = by if getattr(by, "is_authenticated", False) else None
        for name, value in clean.items():
            setattr(store, name, value)
        store.save()
        audit_record(actor=by, action="shopify.connect", target=store,
                     data={"shop_domain": domain, "shop_name": store.name, **{k: str(v) for k, v in clean.items()}})
    return store


def store_update(*, store: ShopifyStore, by, limits: dict[str, Any]) -> ShopifyStore:
    clean = _limits_clean(limits)
    with transaction.atomic():
        for name, value in clean.items():
            setattr(store, name, value)
        store.save()
        audit_record(actor=by, action="shopify.limits_change", target=store, data={k: str(v) for k, v in clean.items()})
    return store


def store_disconnect(*, store: ShopifyStore, by) -> None:
    with transaction.atomic():
        audit_record(actor=by, action="shopify.disconnect", target=store, data={"shop_domain": store.shop_domain})
        store.delete()
