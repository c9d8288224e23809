"""`/accounts/password_reset/`: links to PUBLIC_BASE_URL whatever the request's Host, and throttled."""

from __future__ import annotations

import random
import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

URL = "/accounts/password_reset/"


@pytest.fixture
def agent_email(bob):
    # Unique to the run: throttle counters live in the cache for an hour.
    bob.email = f"bob-{random.randint(0, 10**9)}@shop.example"
    bob.save(update_fields=["email"])
    return bob.email


def _ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def test_the_reset_link_points_at_public_base_url_not_at_the_requests_host(client, settings, agent_email):
    settings.PUBLIC_BASE_URL = "https://inbox.shop.example"
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]

    response = client.post(URL, {"email": agent_email}, HTTP_HOST="evil.example", REMOTE_ADDR=_ip())

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "evil.example" not in body
    assert re.search(r"https://inbox\.shop\.example/accounts/reset/[^/\s]+/[^/\s]+/", body)


def test_reset_requests_for_one_address_are_throttled(client, settings, agent_email):
    settings.PASSWORD_RESET_LIMIT = 3
    for _ in range(3):
        assert client.post(URL, {"email": agent_email}, REMOTE_ADDR=_ip()).status_code == 302

    response = client.post(URL, {"email": agent_email}, REMOTE_ADDR=_ip())

    assert response.status_code == 429
    assert len(mail.outbox) == 3


def test_reset_requests_from_one_client_are_throttled_whatever_the_address(client, settings, agent_email):
    settings.PASSWORD_RESET_LIMIT = 3
    ip = _ip()
    for n in range(3):
        client.post(URL, {"email": f"nobody-{n}-{random.randint(0, 10**9)}@example.com"}, REMOTE_ADDR=ip)

    response = client.post(URL, {"email": agent_email}, REMOTE_ADDR=ip)

    assert response.status_code == 429
    assert mail.outbox == []
