"""The workspace pages: login, the inbox page, deep links, the customer timeline, canned responses."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from inbox.conversations.receive import message_receive
from inbox.conversations.reply import note_add
from inbox.models import CannedResponse, Conversation, Inbox
from inbox.providers.base import InboundMessage

pytestmark = pytest.mark.django_db


def customer_writes(inbox: Inbox, sender: str, text: str, *, ago: timedelta = timedelta(0)):
    with transaction.atomic():
        return message_receive(
            inbox=inbox,
            incoming=InboundMessage(
                channel=inbox.kind,
                inbox_external_id=inbox.external_id,
                customer_external_id=sender,
                external_id=f"ext-{inbox.pk}-{sender}-{text}",
                timestamp=timezone.now() - ago,
                text=text,
            ),
        )


@pytest.fixture
def conversation(messenger_inbox) -> Conversation:
    return customer_writes(messenger_inbox, "2467001", "Where is my parcel?").conversation


def logged_in(client, user):
    client.force_login(user)
    return client


def test_the_inbox_asks_a_visitor_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_an_agent_logs_in_with_the_login_form(client, bob):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content
    response = client.post("/accounts/login/", {"username": "bob", "password": "pw-bob"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, bob):
    response = client.post("/accounts/login/", {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_the_inbox_page_names_its_controls_and_has_no_inline_script(client, bob):
    html = logged_in(client, bob).get("/").content.decode()
    assert re.search(r'<ul[^>]*role="list"[^>]*aria-label="Conversations"', html)
    assert re.search(r'<textarea[^>]*aria-label="Reply"', html)
    assert re.search(r"<button[^>]*>Send</button>", html)
    for tag in re.findall(r"<script[^>]*>", html):
        # CSP-friendly: code only from files (static ones and the translations' /jsi18n/), data only as JSON.
        assert 'src="/static/' in tag or 'src="/jsi18n/' in tag or 'type="application/json"' in tag, tag
    assert 'data-ws-path="/ws/inbox/"' in html


def test_a_deep_link_opens_a_visible_conversation(client, bob, conversation):
    response = logged_in(client, bob).get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    assert f'data-conversation-id="{conversation.pk}"'.encode() in response.content


def test_an_agent_of_another_team_gets_404_on_the_pages_of_a_conversation(client, charlie, conversation):
    logged_in(client, charlie)
    assert client.get(f"/conversations/{conversation.pk}/").status_code == 404
    assert client.get(f"/conversations/{conversation.pk}/timeline/").status_code == 404
    assert client.get("/conversations/999999/").status_code == 404


def test_the_timeline_is_the_customers_whole_history_across_channels_as_far_as_the_agent_may_see(
    client, bob, messenger_inbox, sms_inbox, team_b, conversation
):
    # The same person also texted the shop; their phone number is linked to the same customer.
    sms = customer_writes(sms_inbox, "+17067815146", "It's me again, by SMS", ago=timedelta(hours=2))
    Conversation.objects.filter(pk=sms.conversation_id).update(customer=conversation.customer)
    # And wrote to another team's inbox, which Bob may not see.
    wholesale = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550100", team=team_b)
    hidden = customer_writes(wholesale, "+17067815146", "secret wholesale deal")
    Conversation.objects.filter(pk=hidden.conversation_id).update(customer=conversation.customer)
    note_add(conversation=conversation, author=bob, text="Checked with the warehouse")

    data = logged_in(client, bob).get(f"/conversations/{conversation.pk}/timeline/").json()

    texts = [(i["channel"], i["text"], i["is_private"]) for i in data["items"] if i["kind"] == "message"]
    assert texts == [
        ("sms", "It's me again, by SMS", False),
        ("messenger", "Where is my parcel?", False),
        ("messenger", "Checked with the warehouse", True),
    ]
    assert data["conversation"]["id"] == conversation.pk
    assert data["read_receipt"] == "answer"


def test_opening_a_conversation_does_not_tell_the_customer_it_was_seen(client, bob, conversation, fake_provider):
    logged_in(client, bob)
    client.get(f"/conversations/{conversation.pk}/")
    client.get(f"/conversations/{conversation.pk}/timeline/")

    conversation.refresh_from_db()
    assert conversation.unread_count == 1
    assert fake_provider.sent() == []


def test_the_read_receipt_moment_is_configurable_per_inbox(client, bob, conversation, messenger_inbox):
    messenger_inbox.settings = {"read_receipt": "open"}
    messenger_inbox.save()
    data = logged_in(client, bob).get(f"/conversations/{conversation.pk}/timeline/").json()
    assert data["read_receipt"] == "open"


def test_a_bad_timeline_cursor_is_a_400(client, bob, conversation):
    response = logged_in(client, bob).get(f"/conversations/{conversation.pk}/timeline/?before=yesterday")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_agent_gets_the_shared_and_his_teams_canned_responses_only(client, bob, team_a, team_b):
    CannedResponse.objects.create(shortcut="hello", title="Greeting", text="Hi {{customer}}!")
    CannedResponse.objects.create(shortcut="refund", title="Refund policy", text="Refunds take 5 days.", team=team_a)
    CannedResponse.objects.create(shortcut="bulk", title="Wholesale prices", text="Our price list…", team=team_b)

    html = logged_in(client, bob).get("/").content.decode()
    data = json.loads(re.search(r'<script id="workspace-data" type="application/json">(.*?)</script>', html, re.S).group(1))

    assert [c["shortcut"] for c in data["canned"]] == ["hello", "refund"]
    assert data["me"]["name"] == "bob"


def test_the_page_costs_the_same_queries_however_many_agents_and_inboxes(client, bob, team_a, django_assert_max_num_queries):
    from tests.conftest import make_user

    for n in range(15):
        make_user(f"agent{n}", "agent", [team_a])
        Inbox.objects.create(kind="sms", name=f"Store {n}", external_id=f"+1415555{n:04d}", team=team_a)
    logged_in(client, bob)
    with django_assert_max_num_queries(16):
        assert client.get("/").status_code == 200


def page_data(client) -> dict:
    html = client.get("/").content.decode()
    return json.loads(re.search(r'<script id="workspace-data" type="application/json">(.*?)</script>', html, re.S).group(1))


def test_the_my_team_tab_covers_every_team_of_the_agent(client, team_a, team_b, messenger_inbox):
    from inbox.models import Team
    from tests.conftest import api_client_for, make_user

    dana = make_user("dana", "agent", [team_a, team_b])
    wholesale = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550100", team=team_b)
    elsewhere = Inbox.objects.create(
        kind="sms", name="Returns SMS", external_id="+14155550111", team=Team.objects.create(name="Returns")
    )
    support = customer_writes(messenger_inbox, "2467001", "Support question").conversation
    bulk = customer_writes(wholesale, "+17067815146", "Wholesale question").conversation
    customer_writes(elsewhere, "+17067815147", "Not dana's")

    html = logged_in(client, dana).get("/").content.decode()
    assert re.search(r'data-tab="team"[^>]*>My teams</button>', html)
    teams = page_data(client)["me"]["teams"]
    assert teams == sorted([team_a.pk, team_b.pk])

    # What the tab asks for: every team, comma-separated.
    api = api_client_for(dana)
    found = api.get("/api/v1/conversations/", {"team": ",".join(map(str, teams)), "status": ""}).json()["results"]
    assert {c["id"] for c in found} == {support.pk, bulk.pk}
    bad = api.get("/api/v1/conversations/", {"team": f"{team_a.pk},x"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


def test_a_customers_conversations_are_listed_by_customer_id_newest_first(client, bob, messenger_inbox, sms_inbox):
    from tests.conftest import api_client_for

    older = customer_writes(messenger_inbox, "2467001", "First", ago=timedelta(days=2)).conversation
    newer = customer_writes(sms_inbox, "+17067815146", "Second", ago=timedelta(hours=1)).conversation
    Conversation.objects.filter(pk=newer.pk).update(customer=older.customer)
    customer_writes(messenger_inbox, "2467999", "Someone else")

    found = api_client_for(bob).get(
        "/api/v1/conversations/", {"customer": older.customer_id, "ordering": "-last_message_at"}
    ).json()["results"]
    assert [c["id"] for c in found] == [newer.pk, older.pk]


def test_the_inbox_page_has_a_place_for_orders_found_by_number(client, bob):
    html = logged_in(client, bob).get("/").content.decode()
    assert re.search(r'<ul[^>]*id="order-lookup"[^>]*aria-label="Orders found"', html)
    assert re.search(r'data-tab="team"[^>]*>My team</button>', html)  # one team: singular
