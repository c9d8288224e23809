"""API throttling per token/user (and per IP for anonymous callers): 429 `throttled` with Retry-After."""

from __future__ import annotations

import random

import pytest
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db

# Addresses unique to the run as well (the cache prefix is too), so reruns never meet old counters.
ANON_IP = f"192.0.2.{random.randint(1, 126)}"
OTHER_IP = f"192.0.2.{random.randint(128, 254)}"


@pytest.fixture
def low_rates(monkeypatch):
    """3/min for users and 2/min for anonymous callers, through the real throttle classes.

    DRF copies THROTTLE_RATES onto SimpleRateThrottle at import, so a settings override alone would
    not reach it. Counters need no cleanup: the test cache's key prefix is unique to the run, and
    each test's users get new ids.
    """
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})


@pytest.mark.parametrize("bad", ["lots", "600", "0/min", "600/fortnight"])
def test_a_bad_rate_in_the_environment_fails_loudly(monkeypatch, bad):
    from django.core.exceptions import ImproperlyConfigured

    from inbox_project.settings import _throttle_rate

    monkeypatch.setenv("API_THROTTLE_RATE", bad)
    with pytest.raises(ImproperlyConfigured, match="API_THROTTLE_RATE"):
        _throttle_rate("API_THROTTLE_RATE", "600/min")


def test_a_token_over_its_rate_gets_429_throttled_with_retry_after(api, bob, charlie, low_rates):
    client = api(bob)
    for _ in range(3):
        assert client.get("/api/v1/conversations/").status_code == 200

    response = client.get("/api/v1/conversations/")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response.json()["detail"]
    assert 0 < int(response["Retry-After"]) <= 60
    # Another user's token has its own budget.
    assert api(charlie).get("/api/v1/conversations/").status_code == 200


def test_anonymous_callers_are_throttled_per_ip_at_a_lower_rate(client, low_rates):
    # Permissions are checked before throttles: only what anonymous callers may call counts, the schema.
    for _ in range(2):
        assert client.get("/api/schema/?format=json", REMOTE_ADDR=ANON_IP).status_code == 200

    response = client.get("/api/schema/?format=json", REMOTE_ADDR=ANON_IP)

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert "Retry-After" in response
    assert client.get("/api/schema/?format=json", REMOTE_ADDR=OTHER_IP).status_code == 200


def test_the_counters_live_in_the_shared_cache(settings):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert settings.CACHES["default"]["KEY_PREFIX"]


def test_with_the_cache_down_the_api_answers_unthrottled(api, bob, low_rates, settings):
    # A Redis nobody listens on: every cache call raises a connection error.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    client = api(bob)
    for _ in range(5):
        assert client.get("/api/v1/conversations/").status_code == 200
