"""Liveness and readiness probes: what a load balancer or orchestrator sees."""

from __future__ import annotations

import socket

import pytest


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_200_while_the_process_serves(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_when_postgresql_and_redis_answer(client, settings):
    assert settings.REDIS_URL, "the test suite runs with Redis"
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"code", "detail"}
    assert body["code"] == "unavailable"
    assert "redis" in body["detail"].lower()
    assert "database" not in body["detail"].lower()


def test_the_probes_need_no_login(client):
    assert client.get("/healthz").status_code == 200
