"""Shared fixtures: the cast (Alice, Bob, Charlie), connected inboxes, the fake provider API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inbox.models import Agent, Inbox, Role, Team

from .fakes import FakeProviderServer

META_APP_SECRET = "test-app-secret"
META_VERIFY_TOKEN = "test-verify-token"
TWILIO_ACCOUNT_SID = "ACe24e29bdbc2e7664b315d7629ed3b9d9"
TWILIO_AUTH_TOKEN = "test-twilio-auth-token"
PAGE_ID = "104857600000001"
IG_ACCOUNT_ID = "17841400000000001"
SMS_NUMBER = "+14152001331"
MAILBOX = "support@shop.example"


@pytest.fixture(autouse=True)
def provider_settings(settings):
    settings.META_APP_SECRET = META_APP_SECRET
    settings.META_VERIFY_TOKEN = META_VERIFY_TOKEN
    settings.TWILIO_ACCOUNT_SID = TWILIO_ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = TWILIO_AUTH_TOKEN
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Fixtures name real CDN URLs: tests that want media fetched turn this on and point them at fake_provider.
    settings.ATTACHMENTS_FETCH = False
    # Likewise Meta profile lookups (tests/inbox/test_meta_profiles.py turns them on against fake_provider).
    settings.META_PROFILE_FETCH = False
    return settings


_ids = itertools.count(1)


def _default_answer(recorded):
    """What the real APIs answer to a successful send, in their formats."""
    n = next(_ids)
    if recorded.path.endswith("/messages") and "/Accounts/" not in recorded.path:
        recipient = (recorded.json().get("recipient") or {}).get("id", "")
        return 200, {"recipient_id": recipient, "message_id": f"m_fake{n:08d}"}
    if recorded.path.endswith("/Messages.json"):
        form = recorded.form()
        return 201, {
            "sid": f"SM{n:032x}",
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
        }
    if recorded.path.endswith("/comments") or recorded.path.endswith("/replies"):
        return 200, {"id": f"{n}_comment"}
    profile = _profile_answer(recorded)
    if profile is not None:
        return 200, profile
    return 200, {}


# What the User Profile API answers for a PSID / IGSID the tests have not scripted (Meta's format:
# the fields asked for, plus `id`).
FAKE_PROFILE = {"first_name": "Peter", "last_name": "Chang", "name": "Peter Chang", "username": "peter_chang_live"}


def _profile_answer(recorded) -> dict | None:
    """GET /{version}/{scoped-id}?fields=…: the requested fields of FAKE_PROFILE."""
    match = re.fullmatch(r"/v[0-9.]+/([0-9]+)", recorded.path)
    if recorded.method != "GET" or match is None or "fields" not in recorded.query:
        return None
    fields = recorded.query["fields"][-1].split(",")
    return {**{f: FAKE_PROFILE[f] for f in fields if f in FAKE_PROFILE}, "id": match.group(1)}


@pytest.fixture(scope="session")
def _fake_server():
    server = FakeProviderServer(default_responder=_default_answer)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_provider(_fake_server, settings):
    """The providers' APIs, faked on loopback; META_GRAPH_URL and TWILIO_API_URL point at it, and
    the safe fetcher may fetch from it (FETCH_ALLOW_PRIVATE_HOSTS)."""
    _fake_server.reset()
    settings.META_GRAPH_URL = _fake_server.url + "/v24.0"
    settings.TWILIO_API_URL = _fake_server.url
    # Media URLs on the fake CDN are fetched although it is on loopback: this host:port only.
    settings.FETCH_ALLOW_PRIVATE_HOSTS = [_fake_server.url.removeprefix("http://")]
    yield _fake_server
    _fake_server.reset()


@pytest.fixture
def fake_shopify(fake_provider, settings):
    """One Shopify store's GraphQL Admin API (tests/fake_shopify.py), served by the fake server;
    SHOPIFY_ADMIN_URL_TEMPLATE points at it."""
    from .fake_shopify import FakeShopify

    shopify = FakeShopify()
    fake_provider.respond(r"/admin/api/", shopify)
    settings.SHOPIFY_ADMIN_URL_TEMPLATE = fake_provider.url + "/{shop}/admin/api/{version}/graphql.json"
    return shopify


@pytest.fixture
def commit(db, monkeypatch):
    """Run on-commit work (tasks, realtime) as a committed transaction would, inside the test's.

    Callbacks run the moment the code under test leaves its outermost atomic block (or at once when
    registered outside any), so assertions right after a webhook or a reply see the processing.
    (Django's captureOnCommitCallbacks(execute=True) would only run them at teardown.)
    """
    import logging

    from django.db import connections, transaction

    ran: list = []

    def committed(conn) -> bool:
        return all(getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)

    def run_pending(conn) -> None:
        while conn.run_on_commit and committed(conn):
            _sids, func, robust = conn.run_on_commit.pop(0)
            ran.append(func)
            if not robust:
                func()
                continue
            try:
                func()
            except Exception:
                logging.getLogger(__name__).exception("on_commit callback %s failed", func)

    original_exit = transaction.Atomic.__exit__

    def atomic_exit(self, exc_type, exc_value, traceback):
        result = original_exit(self, exc_type, exc_value, traceback)
        conn = transaction.get_connection(self.using)
        if exc_type is None and committed(conn):
            run_pending(conn)
        return result

    monkeypatch.setattr(transaction.Atomic, "__exit__", atomic_exit)
    for conn in connections.all():
        original_on_commit = conn.on_commit

        def on_commit(func, robust=False, _conn=conn, _original=original_on_commit):
            _original(func, robust)
            if committed(_conn):
                run_pending(_conn)

        monkeypatch.setattr(conn, "on_commit", on_commit)
    yield ran
    for conn in connections.all():
        run_pending(conn)


# --- The cast -------------------------------------------------------------------------------------


def make_user(username: str, role: str, teams=()) -> User:
    user = User.objects.create_user(username, f"{username}@shop.example", "pw-" + username)
    agent = Agent.objects.create(user=user, role=role, availability="online")
    agent.teams.set(teams)
    return user


@pytest.fixture
def team_a(db):
    return Team.objects.create(name="Support")


@pytest.fixture
def team_b(db):
    return Team.objects.create(name="Wholesale")


@pytest.fixture
def alice(team_a):
    """Manager of the Support team."""
    return make_user("alice", Role.MANAGER, [team_a])


@pytest.fixture
def bob(team_a):
    """Agent in Alice's team."""
    return make_user("bob", Role.AGENT, [team_a])


@pytest.fixture
def charlie(team_b):
    """Agent in another team."""
    return make_user("charlie", Role.AGENT, [team_b])


@pytest.fixture
def admin_user(db):
    return make_user("root", Role.ADMIN)


def api_client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated with the user's token."""
    return api_client_for


@pytest.fixture
def messenger_inbox(team_a):
    return Inbox.objects.create(kind="messenger", name="Shop Page", external_id=PAGE_ID, team=team_a,
                                credentials={"page_access_token": "EAAB-test-page-token"})


@pytest.fixture
def instagram_inbox(team_a):
    return Inbox.objects.create(kind="instagram", name="Shop IG", external_id=IG_ACCOUNT_ID, team=team_a,
                                credentials={"page_access_token": "EAAB-test-ig-token", "page_id": PAGE_ID})


@pytest.fixture
def sms_inbox(team_a):
    return Inbox.objects.create(kind="sms", name="Shop SMS", external_id=SMS_NUMBER, team=team_a)


@pytest.fixture
def email_inbox(team_a):
    return Inbox.objects.create(kind="email", name="Support mail", external_id=MAILBOX, team=team_a)


# --- Signing helpers --------------------------------------------------------------------------------


def meta_signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_AUTH_TOKEN) -> str:
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post_meta(client, payload: dict | bytes, *, signature: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = meta_signature(body) if signature is None else signature
    return client.post("/webhooks/meta/", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sig)


def load_fixture(name: str) -> dict:
    """A JSON fixture by its path in tests/fixtures/, one folder per provider: "meta/messenger_text.json"."""
    from pathlib import Path

    return json.loads((Path(__file__).parent / "fixtures" / name).read_text())


@pytest.fixture(scope="session", autouse=True)
def _quick_flush_between_transactional_tests():
    """After a transaction=True test, empty the tables that hold rows instead of TRUNCATE + post_migrate
    (tests/quick_flush.py: same database afterwards, ~2 s less a test)."""
    from . import quick_flush

    with pytest.MonkeyPatch.context() as monkeypatch:
        quick_flush.install(monkeypatch)
        yield
