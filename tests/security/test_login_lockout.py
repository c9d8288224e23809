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
