"""Login rate limiting (django-axes): five wrong passwords lock the username on that IP for a while."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def _attempt(client, url: str, password: str, ip: str = "203.0.113.7"):
    return client.post(url, {"username": "root", "password": password}, REMOTE_ADDR=ip)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_right_password_logs_in_before_any_failure(client, admin_user, url):
    admin_user.is_staff = True
    admin_user.save()
    response = _attempt(client, url, "pw-root")
    assert response.status_code == 302
    assert _logged_in(client)


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_after_five_wrong_passwords_the_right_one_is_refused(client, admin_user, url):
    admin_user.is_staff = True
    admin_user.save()
    for _ in range(5):
        assert _attempt(client, url, "wrong").status_code in (200, 429)

    response = _attempt(client, url, "pw-root")

    assert response.status_code == 429
    assert not _logged_in(client)


def test_the_lockout_holds_per_username_and_ip(client, admin_user, bob):
    for _ in range(5):
        _attempt(client, "/accounts/login/", "wrong")
    # Another address is not locked out for the same user, nor another user from the same address.
    assert _attempt(client, "/accounts/login/", "pw-root", ip="198.51.100.9").status_code == 302
    client.logout()
    response = client.post("/accounts/login/", {"username": "bob", "password": "pw-bob"}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, admin_user, settings):
    for _ in range(5):
        _attempt(client, "/accounts/login/", "wrong")
    assert _attempt(client, "/accounts/login/", "pw-root").status_code == 429

    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5)):
        assert _attempt(client, "/accounts/login/", "pw-root").status_code == 302


def test_force_login_still_works_for_tests(client, admin_user):
    client.force_login(admin_user)
    assert _logged_in(client)


# --- Behind a reverse proxy: the client's address only as far as TRUSTED_PROXY_COUNT vouches -------

PROXY = "10.0.0.5"


def _via_proxy(client, password: str, forwarded_for: str, username: str = "root"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password},
        REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_behind_a_trusted_proxy_one_client_cannot_lock_out_another(client, admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(5):
        _via_proxy(client, "wrong", "203.0.113.7")
    assert _via_proxy(client, "pw-root", "203.0.113.7").status_code == 429

    # The real user, through the same proxy from their own address, still logs in.
    assert _via_proxy(client, "pw-root", "198.51.100.9").status_code == 302


def test_behind_a_trusted_proxy_a_forged_first_hop_is_not_believed(client, admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client writes its own X-Forwarded-For; the proxy appends the address it saw.
    for n in range(5):
        _via_proxy(client, "wrong", f"192.0.2.{n + 1}, 203.0.113.7")

    assert _via_proxy(client, "pw-root", "192.0.2.99, 203.0.113.7").status_code == 429


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(client, admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    # Rotating a forged header does not dodge the lockout of the connection's address.
    for n in range(5):
        _via_proxy(client, "wrong", f"192.0.2.{n + 1}")

    assert _via_proxy(client, "pw-root", "192.0.2.200").status_code == 429


def test_the_api_throttles_count_clients_by_the_same_rule(settings):
    from rest_framework.settings import api_settings

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.TRUSTED_PROXY_COUNT
    assert api_settings.NUM_PROXIES == settings.TRUSTED_PROXY_COUNT
