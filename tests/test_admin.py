"""Django admin: every model has a working page, and inbox credentials never show in clear."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from inbox.admin import mask_secret
from inbox.models import Inbox

pytestmark = pytest.mark.django_db

SECRET_TOKEN = "EAAB-very-secret-page-token-1234567890"


@pytest.fixture
def demo_client(client, fake_provider):
    call_command("seed_demo", "--customers", "40", stdout=StringIO())
    client.force_login(User.objects.get(username="demo"))
    return client


@pytest.fixture
def page_inbox(demo_client) -> Inbox:
    return Inbox.objects.get(kind="messenger")


@pytest.mark.parametrize("app_label", ["customers", "inbox", "campaigns"])
def test_every_model_of_the_app_is_registered(app_label):
    from django.apps import apps

    for model in apps.get_app_config(app_label).get_models():
        assert admin.site.is_registered(model), model


def test_every_changelist_and_a_change_page_open(demo_client):
    for model in admin.site._registry:
        if model._meta.app_label not in ("customers", "inbox", "campaigns", "auth"):
            continue
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        response = demo_client.get(reverse(f"{prefix}_changelist"))
        assert response.status_code == 200, prefix
        obj = model.objects.first()
        if obj is not None:
            response = demo_client.get(reverse(f"{prefix}_change", args=[obj.pk]))
            assert response.status_code == 200, prefix


def test_searching_customers_by_phone_finds_them(demo_client):
    from customers.models import Identity

    phone = Identity.objects.filter(channel="sms").values_list("external_id", flat=True).first()
    response = demo_client.get(reverse("admin:customers_customer_changelist"), {"q": phone})
    assert response.status_code == 200
    assert phone in response.content.decode()


def test_inbox_credentials_are_masked_on_the_list_and_the_change_page(demo_client, page_inbox):
    page_inbox.credentials = {"page_access_token": SECRET_TOKEN}
    page_inbox.save()
    for url in (
        reverse("admin:inbox_inbox_changelist"),
        reverse("admin:inbox_inbox_change", args=[page_inbox.pk]),
    ):
        html = demo_client.get(url).content.decode()
        assert SECRET_TOKEN not in html
        assert "SECRET" not in html.upper().replace("SECRET_KEY", "")
        assert "page_access_token" in html


def _change_form(inbox: Inbox, **overrides) -> dict:
    data = {
        "kind": inbox.kind,
        "name": inbox.name,
        "external_id": inbox.external_id,
        "team": inbox.team_id or "",
        "settings": "{}",
        "credentials_json": "",
    }
    data.update(overrides)
    return data


def test_saving_with_blank_credentials_keeps_the_stored_ones(demo_client, page_inbox):
    page_inbox.credentials = {"page_access_token": SECRET_TOKEN}
    page_inbox.save()
    url = reverse("admin:inbox_inbox_change", args=[page_inbox.pk])
    response = demo_client.post(url, _change_form(page_inbox, name="Renamed page"))
    assert response.status_code == 302
    page_inbox.refresh_from_db()
    assert page_inbox.name == "Renamed page"
    assert page_inbox.credentials == {"page_access_token": SECRET_TOKEN}


def test_new_json_replaces_the_credentials(demo_client, page_inbox):
    url = reverse("admin:inbox_inbox_change", args=[page_inbox.pk])
    response = demo_client.post(url, _change_form(page_inbox, credentials_json='{"page_access_token": "EAAB-new"}'))
    assert response.status_code == 302
    page_inbox.refresh_from_db()
    assert page_inbox.credentials == {"page_access_token": "EAAB-new"}


@pytest.mark.parametrize("bad", ["{not json", '["a list"]', '"a string"'])
def test_credentials_that_are_not_a_json_object_are_refused(demo_client, page_inbox, bad):
    before = page_inbox.credentials
    url = reverse("admin:inbox_inbox_change", args=[page_inbox.pk])
    response = demo_client.post(url, _change_form(page_inbox, credentials_json=bad))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["credentials_json"]
    page_inbox.refresh_from_db()
    assert page_inbox.credentials == before


def test_the_mask_keeps_the_shape_and_at_most_the_last_four_characters():
    masked = mask_secret({"token": SECRET_TOKEN, "short": "pw", "nested": {"key": SECRET_TOKEN}, "port": 993})
    assert masked == {"token": "••••7890", "short": "••••", "nested": {"key": "••••7890"}, "port": "••••"}
