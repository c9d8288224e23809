"""Fetches on a provider's word: a signed payload's media URL is fetched only from public addresses,
every redirect hop checked, the checked address pinned for the connection (inbox_project/safe_fetch.py).

The fake provider runs on loopback, so tests/conftest.py lets the fetcher reach its host:port
(FETCH_ALLOW_PRIVATE_HOSTS); the tests here take that away or point past it.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import socket
from pathlib import Path

import pytest

from inbox.models import Message
from inbox_project import safe_fetch
from tests.fakes import FakeProviderServer
from tests.inbox import meta_support
from tests.inbox.meta_support import fixture_at, now_ms

meta_post = meta_support.meta_post

pytestmark = pytest.mark.django_db

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ATTACHMENTS_FETCH = True
    return settings.MEDIA_ROOT


@pytest.fixture
def internal():
    """Something on our own network that no customer should reach through us (an admin page)."""
    server = FakeProviderServer()
    server.start()
    server.script(r"^/internal$", body=PNG, content_type="image/png", times=None)
    yield server
    server.stop()


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


_mids = itertools.count(1)


def customer_sends_image(meta_post, url: str) -> Message:
    payload = fixture_at("meta/messenger_attachments.json", now_ms(seconds_ago=30))
    item = payload["entry"][0]["messaging"][0]
    item["message"]["mid"] = f"m_safe_fetch_{next(_mids)}"
    item["message"]["attachments"] = [{"type": "image", "payload": {"url": url}}]
    assert meta_post(payload).status_code == 200
    return Message.objects.get(external_id=item["message"]["mid"])


def test_a_loopback_media_url_is_refused_and_nothing_is_stored(
    meta_post, messenger_inbox, fake_provider, settings, media_root
):
    settings.FETCH_ALLOW_PRIVATE_HOSTS = []
    fake_provider.script(r"^/cdn/x\.png$", body=PNG, content_type="image/png", times=None)
    message = customer_sends_image(meta_post, f"{fake_provider.url}/cdn/x.png")
    [image] = message.attachments
    assert image["error"] == "address_refused"
    assert "stored" not in image
    assert fake_provider.sent(r"^/cdn/") == []  # never even connected
    assert stored_files(media_root) == []


def test_a_redirect_to_loopback_is_refused_at_that_hop_and_nothing_is_stored(
    meta_post, messenger_inbox, fake_provider, internal, media_root
):
    # The first hop is allowed (the fake CDN); it redirects to an address that is not.
    fake_provider.script(r"^/redir$", status=302, headers={"Location": f"{internal.url}/internal"}, times=None)
    message = customer_sends_image(meta_post, f"{fake_provider.url}/redir")
    [image] = message.attachments
    assert image["error"] == "address_refused"
    assert len(fake_provider.sent(r"^/redir$")) == 1
    assert internal.sent() == []
    assert stored_files(media_root) == []


def test_an_agent_is_not_sent_to_a_media_url_we_refused(meta_post, messenger_inbox, fake_provider, settings, bob, client):
    settings.FETCH_ALLOW_PRIVATE_HOSTS = []
    message = customer_sends_image(meta_post, f"{fake_provider.url}/cdn/x.png")
    client.force_login(bob)
    response = client.get(f"/attachments/{message.pk}/0/")
    assert response.status_code == 410
    assert response.json()["code"] == "unavailable"


def test_redirects_on_allowed_hosts_are_followed_hop_by_hop_up_to_the_limit(
    meta_post, messenger_inbox, fake_provider, media_root
):
    fake_provider.script(r"^/hop1$", status=301, headers={"Location": "/hop2"}, times=None)
    fake_provider.script(r"^/hop2$", status=307, headers={"Location": f"{fake_provider.url}/cdn/ok.png"}, times=None)
    fake_provider.script(r"^/cdn/ok\.png$", body=PNG, content_type="image/png", times=None)
    [image] = customer_sends_image(meta_post, f"{fake_provider.url}/hop1").attachments
    assert image["size"] == len(PNG) and (media_root / image["stored"]).read_bytes() == PNG

    fake_provider.script(r"^/loop$", status=302, headers={"Location": "/loop"}, times=None)
    [looped] = customer_sends_image(meta_post, f"{fake_provider.url}/loop").attachments
    assert looped["error"] == "too_many_redirects"
    assert len(fake_provider.sent(r"^/loop$")) == 6  # the first request and five redirects


def test_the_connection_goes_to_the_address_that_was_checked_not_a_second_dns_answer(
    meta_post, messenger_inbox, fake_provider, settings, media_root, monkeypatch
):
    """DNS rebinding: the name resolves to an allowed address once; any later answer would point
    elsewhere. The fetch asks DNS once and connects to what it checked, with the name in Host."""
    port = int(fake_provider.url.rsplit(":", 1)[1])
    settings.FETCH_ALLOW_PRIVATE_HOSTS = [f"media.rebind.example:{port}"]
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def rebinding_dns(host, *args, **kwargs):
        if host == "media.rebind.example":
            asked.append(host)
            if len(asked) > 1:  # the second answer: somewhere else entirely
                return real_getaddrinfo("10.0.0.1", *args, **kwargs)
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    fake_provider.script(r"^/cdn/r\.png$", body=PNG, content_type="image/png", times=None)
    [image] = customer_sends_image(meta_post, f"http://media.rebind.example:{port}/cdn/r.png").attachments
    assert image.get("stored"), image
    assert asked == ["media.rebind.example"]
    [request] = fake_provider.sent(r"^/cdn/r\.png$")
    assert request.headers["Host"] == f"media.rebind.example:{port}"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://172.16.0.1/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/x",  # carrier-grade NAT
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
        "http://240.0.0.1/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fe80::1]/x",
        "http://[fc00::1]/x",
    ],
)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_refused(url):
    with pytest.raises(safe_fetch.FetchRefused) as refused:
        safe_fetch.resolve_checked(url)
    assert refused.value.code == "address_refused"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://93.184.215.14/x", "gopher://93.184.215.14/", "http://user:pw@93.184.215.14/", "http:///x"]
)
def test_only_plain_http_and_https_urls_are_fetched(url):
    with pytest.raises(safe_fetch.FetchRefused) as refused:
        safe_fetch.resolve_checked(url)
    assert refused.value.code == "bad_url"


def test_a_public_address_passes_the_check_and_is_the_one_connected_to():
    assert safe_fetch.resolve_checked("https://93.184.215.14/cdn/a.jpg") == ("93.184.215.14", 443, "93.184.215.14")
    assert not safe_fetch.address_refused(ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"))
