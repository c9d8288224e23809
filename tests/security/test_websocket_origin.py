"""`/ws/inbox/` accepts a socket only from the app's own origin: scheme, host and port together."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from inbox_project.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _accepted(origin: bytes | None) -> bool:
    headers = [(b"origin", origin)] if origin is not None else []
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize("origin", [b"https://inbox.shop.example", b"https://inbox.shop.example:443", b"https://INBOX.shop.example"])
async def test_the_apps_own_origin_may_open_a_socket(settings, origin):
    settings.PUBLIC_BASE_URL = "https://inbox.shop.example"
    settings.DEBUG = False

    assert await _accepted(origin)


@pytest.mark.parametrize(
    "origin",
    [
        b"https://inbox.shop.example:8443",  # another port of the same host
        b"http://testserver:8081",  # a host in ALLOWED_HOSTS, but not the app's origin
        b"http://localhost:3000",
        b"http://inbox.shop.example",  # another scheme
        b"https://evil.example",
        b"https://inbox.shop.example.evil.example",
        b"null",
    ],
)
async def test_another_origin_is_refused_even_on_the_same_host(settings, origin):
    settings.PUBLIC_BASE_URL = "https://inbox.shop.example"
    settings.DEBUG = False

    assert not await _accepted(origin)


async def test_a_socket_without_an_origin_is_refused(settings):
    settings.PUBLIC_BASE_URL = "https://inbox.shop.example"

    assert not await _accepted(None)


async def test_in_debug_the_dev_servers_origins_are_the_apps(settings, monkeypatch):
    monkeypatch.setenv("PORT", "8000")
    settings.DEBUG = True
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

    assert await _accepted(b"http://localhost:8000")
    assert not await _accepted(b"http://localhost:8001")
