"""Connecting the Shopify store: admins only, the domain a myshopify.com one, the token checked with
Shopify first, encrypted at rest and never answered back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from inbox.models import AuditEntry, ShopifyStore

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/shopify/"


def test_an_admin_connects_the_store_and_the_token_is_checked_encrypted_and_never_shown(api, admin_user, fake_shopify):
    response = api(admin_user).put(URL, {"shop_domain": "https://Northwind-Test.myshopify.com/admin",
                                         "access_token": fake_shopify.token, "agent_refund_limit": "40.00"},
                                   format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["shop_domain"] == "northwind-test.myshopify.com"
    assert response.json()["name"] == "Northwind Test" and response.json()["access_token_set"] is True
    assert fake_shopify.token not in response.content.decode()
    assert [c["root"] for c in fake_shopify.calls] == ["shop"]
    store = ShopifyStore.objects.get()
    assert store.credentials == {"access_token": fake_shopify.token} and store.agent_refund_limit == Decimal("40.00")
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_shopifystore")
        [(stored,)] = cursor.fetchall()
    assert fake_shopify.token not in stored
    assert fake_shopify.token not in api(admin_user).get(URL).content.decode()
    assert AuditEntry.objects.filter(action="shopify.connect", actor=admin_user).count() == 1


def test_a_domain_that_is_not_a_myshopify_one_is_refused_before_any_call(api, admin_user, fake_shopify):
    response = api(admin_user).put(URL, {"shop_domain": "shop.example.com", "access_token": "shpat_x"}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "invalid_shop_domain"
    assert fake_shopify.calls == [] and not ShopifyStore.objects.exists()


def test_a_token_shopify_refuses_is_not_kept(api, admin_user, fake_shopify):
    response = api(admin_user).put(URL, {"shop_domain": fake_shopify.shop, "access_token": "shpat_wrong"}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "shopify_unauthorized"
    assert not ShopifyStore.objects.exists()


def test_only_admins_connect_the_store_or_see_it(api, alice, fake_shopify):
    assert api(alice).put(URL, {"shop_domain": fake_shopify.shop, "access_token": fake_shopify.token},
                          format="json").status_code == 403
    assert api(alice).get(URL).status_code == 403
    assert fake_shopify.calls == []


def test_an_admin_changes_the_limits_and_disconnects(api, admin_user, fake_shopify):
    api(admin_user).put(URL, {"shop_domain": fake_shopify.shop, "access_token": fake_shopify.token}, format="json")

    changed = api(admin_user).patch(URL, {"lead_refund_limit": "500.00", "discount_percent_limit": 30}, format="json")
    gone = api(admin_user).delete(URL)

    assert changed.status_code == 200
    assert changed.json()["lead_refund_limit"] == "500.00" and changed.json()["discount_percent_limit"] == 30
    assert gone.status_code == 204 and not ShopifyStore.objects.exists()
    assert api(admin_user).get(URL).json() == {"connected": False, "store": None}
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "shopify.connect", "shopify.limits_change", "shopify.disconnect"
    }
