"""GET/PATCH /api/v1/conversations/: visibility, filters, orderings, cursor pages, triage changes."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Order
from inbox.models import ConversationEvent, Inbox

from .conversation_factories import conversation_make, customer_says

URL = "/api/v1/conversations/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


@pytest.fixture
def wholesale_sms(team_b):
    return Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550000", team=team_b)


# --- Visibility --------------------------------------------------------------------------------------


def test_an_agent_lists_only_the_conversations_of_their_teams(api, bob, charlie, messenger_inbox, wholesale_sms):
    support = [conversation_make(messenger_inbox) for _ in range(2)]
    wholesale = conversation_make(wholesale_sms)

    assert sorted(ids(api(bob).get(URL))) == sorted(c.pk for c in support)
    assert ids(api(charlie).get(URL)) == [wholesale.pk]


def test_a_conversation_assigned_to_you_in_another_teams_inbox_is_listed(api, charlie, messenger_inbox):
    mine = conversation_make(messenger_inbox, assignee=charlie)
    conversation_make(messenger_inbox)

    assert ids(api(charlie).get(URL)) == [mine.pk]


def test_a_conversation_outside_your_teams_is_not_found_on_every_url(api, charlie, messenger_inbox):
    conversation = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(minutes=5))
    client = api(charlie)
    base = f"{URL}{conversation.pk}/"
    answers = [
        client.get(base),
        client.patch(base, {"status": "resolved"}, format="json"),
        client.get(base + "messages/"),
        client.post(base + "messages/", {"text": "hi"}, format="json"),
        client.post(base + "notes/", {"text": "psst"}, format="json"),
        client.post(base + "read/"),
        client.post(base + "unread/"),
    ]
    for response in answers:
        assert response.status_code == 404, response.content
        assert response.json() == {"code": "not_found", "detail": "Not found."}
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert not conversation.messages.exists()


def test_anonymous_requests_get_an_error_with_code_and_detail(client, messenger_inbox):
    conversation_make(messenger_inbox)
    response = client.get(URL)
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["detail"]


def test_a_session_login_works_as_well_as_a_token(client, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    client.force_login(bob)
    assert ids(client.get(URL)) == [conversation.pk]


# --- Filters -----------------------------------------------------------------------------------------


def test_it_filters_by_status_one_or_several(api, bob, messenger_inbox):
    open_ = conversation_make(messenger_inbox)
    pending = conversation_make(messenger_inbox, status="pending")
    conversation_make(messenger_inbox, status="resolved")
    client = api(bob)

    assert ids(client.get(URL, {"status": "open"})) == [open_.pk]
    assert sorted(ids(client.get(URL, {"status": "open,pending"}))) == sorted([open_.pk, pending.pk])


def test_it_filters_by_inbox_and_by_channel(api, bob, messenger_inbox, sms_inbox):
    chat = conversation_make(messenger_inbox)
    text = conversation_make(sms_inbox)
    client = api(bob)

    assert ids(client.get(URL, {"inbox": sms_inbox.pk})) == [text.pk]
    assert ids(client.get(URL, {"channel": "messenger"})) == [chat.pk]


def test_it_filters_by_assignee_me_none_or_an_id(api, alice, bob, messenger_inbox):
    bobs = conversation_make(messenger_inbox, assignee=bob)
    alices = conversation_make(messenger_inbox, assignee=alice)
    nobodys = conversation_make(messenger_inbox)
    client = api(bob)

    assert ids(client.get(URL, {"assignee": "me"})) == [bobs.pk]
    assert ids(client.get(URL, {"assignee": "none"})) == [nobodys.pk]
    assert ids(client.get(URL, {"assignee": alice.pk})) == [alices.pk]


def test_it_filters_by_team_or_no_team(api, bob, team_a, team_b, messenger_inbox):
    routed_away = conversation_make(messenger_inbox, team=team_b)
    unrouted = conversation_make(messenger_inbox, team=None)
    conversation_make(messenger_inbox, team=team_a)
    client = api(bob)

    assert ids(client.get(URL, {"team": team_b.pk})) == [routed_away.pk]
    assert ids(client.get(URL, {"team": "none"})) == [unrouted.pk]


def test_it_filters_by_the_meta_window(api, bob, messenger_inbox, sms_inbox):
    fresh = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=1))
    expiring = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=23))
    human_agent_only = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=30))
    refused = conversation_make(
        messenger_inbox, customer_wrote_ago=timedelta(hours=2), window_closed_at=timezone.now() - timedelta(minutes=1)
    )
    conversation_make(sms_inbox, customer_wrote_ago=timedelta(hours=1))  # no window at all
    client = api(bob)

    assert sorted(ids(client.get(URL, {"window": "open"}))) == sorted([fresh.pk, expiring.pk])
    assert ids(client.get(URL, {"window": "expiring"})) == [expiring.pk]
    assert sorted(ids(client.get(URL, {"window": "closed"}))) == sorted([human_agent_only.pk, refused.pk])


def test_it_filters_by_label(api, bob, messenger_inbox):
    vip = conversation_make(messenger_inbox, labels=["vip", "refund"])
    conversation_make(messenger_inbox, labels=["refund"])

    assert ids(api(bob).get(URL, {"label": "vip"})) == [vip.pk]


def test_q_finds_a_conversation_by_message_text(api, bob, messenger_inbox):
    parcel = conversation_make(messenger_inbox)
    customer_says(parcel, "Where is my parcel? It was due on Monday")
    other = conversation_make(messenger_inbox)
    customer_says(other, "Do you ship to Norway?")

    assert ids(api(bob).get(URL, {"q": "PARCEL"})) == [parcel.pk]


def test_q_finds_a_conversation_by_order_number(api, bob, messenger_inbox):
    buyer = conversation_make(messenger_inbox, name="Dana Buyer")
    other = conversation_make(messenger_inbox)
    Order.objects.create(customer=buyer.customer, external_id="820982911946154508", number="1042", placed_at=timezone.now())
    Order.objects.create(customer=other.customer, external_id="820982911946154509", number="1043", placed_at=timezone.now())
    client = api(bob)

    assert ids(client.get(URL, {"q": "#1042"})) == [buyer.pk]
    assert ids(client.get(URL, {"q": "1042"})) == [buyer.pk]


def test_q_finds_a_conversation_by_customer_name_email_or_phone(api, bob, messenger_inbox, sms_inbox, email_inbox):
    named = conversation_make(messenger_inbox, name="Dana Scully")
    texted = conversation_make(sms_inbox)
    mailed = conversation_make(email_inbox)
    client = api(bob)

    assert ids(client.get(URL, {"q": "scully"})) == [named.pk]
    phone = texted.customer.phone  # +1415555NNNN
    assert ids(client.get(URL, {"q": f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"})) == [texted.pk]
    assert ids(client.get(URL, {"q": mailed.customer.email.upper()})) == [mailed.pk]


# --- Orderings and pages -----------------------------------------------------------------------------


def test_the_default_order_is_most_recent_activity_first(api, bob, messenger_inbox):
    now = timezone.now()
    old = conversation_make(messenger_inbox, last_message_at=now - timedelta(hours=3))
    new = conversation_make(messenger_inbox, last_message_at=now - timedelta(minutes=1))
    mid = conversation_make(messenger_inbox, last_message_at=now - timedelta(hours=1))

    assert ids(api(bob).get(URL)) == [new.pk, mid.pk, old.pk]


def test_ordering_by_waiting_since_puts_the_longest_waiting_first_and_the_answered_last(api, bob, messenger_inbox):
    now = timezone.now()
    answered = conversation_make(messenger_inbox, waiting_since=None, last_message_at=now)
    recent = conversation_make(messenger_inbox, waiting_since=now - timedelta(minutes=5), last_message_at=now)
    longest = conversation_make(messenger_inbox, waiting_since=now - timedelta(hours=2), last_message_at=now - timedelta(hours=2))

    assert ids(api(bob).get(URL, {"ordering": "waiting_since"})) == [longest.pk, recent.pk, answered.pk]


def test_ordering_by_window_expiry_puts_the_soonest_closing_first(api, bob, messenger_inbox, sms_inbox):
    sms = conversation_make(sms_inbox, customer_wrote_ago=timedelta(hours=23, minutes=30))
    soon = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=23))
    later = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=1))

    assert ids(api(bob).get(URL, {"ordering": "window_expires_at"})) == [soon.pk, later.pk, sms.pk]


@pytest.mark.parametrize("ordering", ["-last_message_at", "waiting_since", "window_expires_at"])
def test_cursor_pages_return_every_conversation_once_in_order_and_back(api, bob, messenger_inbox, sms_inbox, ordering):
    now = timezone.now()
    made = []
    for i in range(8):
        # Ties and NULLs on purpose: pairs share a timestamp and every third has none.
        at = None if i % 3 == 0 else now - timedelta(minutes=i // 2)
        made.append(
            conversation_make(
                messenger_inbox if i % 2 else sms_inbox,
                last_message_at=at,
                waiting_since=at,
                window_expires_at=at and at + timedelta(hours=23),
            )
        )
    client = api(bob)
    everything = ids(client.get(URL, {"ordering": ordering, "page_size": 100}))
    assert sorted(everything) == sorted(c.pk for c in made)

    pages, url = [], f"{URL}?ordering={ordering}&page_size=3"
    while url:
        body = client.get(url).json()
        pages.append([c["id"] for c in body["results"]])
        url = body["next"]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [pk for page in pages for pk in page] == everything

    # And back: the previous link of the last page is the middle page.
    last = client.get(f"{URL}?ordering={ordering}&page_size=3")
    last = client.get(client.get(last.json()["next"]).json()["next"]).json()
    assert [c["id"] for c in client.get(last["previous"]).json()["results"]] == pages[1]


def _cursor(position) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        _cursor({"v": "yesterday", "i": 1, "r": False}),
        _cursor({"v": None, "i": 10**30, "r": False}),
        _cursor({"v": None, "i": "1", "r": False}),
        _cursor(["v", 1]),
    ],
)
def test_a_tampered_cursor_is_a_400_not_a_500(api, bob, messenger_inbox, cursor):
    conversation_make(messenger_inbox)
    response = api(bob).get(URL, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "params",
    [
        {"status": "closed"},
        {"assignee": "someone"},
        {"team": "support"},
        {"inbox": "abc"},
        {"window": "soon"},
        {"ordering": "-id"},
        {"channel": "fax"},
    ],
)
def test_an_unknown_filter_value_is_a_400_naming_the_parameter(api, bob, params):
    response = api(bob).get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert next(iter(params)) in body["fields"]


def _list_queries(client, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"page_size": 50, **(params or {})})
    assert response.status_code == 200
    return len(queries)


def test_the_list_costs_the_same_number_of_queries_for_5_or_30_conversations(
    api, bob, messenger_inbox, django_assert_max_num_queries
):
    client = api(bob)
    for _ in range(5):
        conversation_make(messenger_inbox, labels=["vip", "refund"], customer_wrote_ago=timedelta(hours=1))
    few = _list_queries(client)
    for _ in range(25):
        conversation_make(messenger_inbox, labels=["vip"], customer_wrote_ago=timedelta(hours=2))
    with django_assert_max_num_queries(few):
        assert len(client.get(URL, {"page_size": 50}).json()["results"]) == 30
    # A search adds only its own question: PostgreSQL's estimate of the hits (search._dense).
    assert _list_queries(client, {"q": "x", "window": "open", "ordering": "waiting_since"}) <= few + 1


def test_the_list_shows_labels_by_name_and_never_reads_inbox_credentials(api, bob, messenger_inbox):
    conversation_make(messenger_inbox, labels=["vip", "refund"], customer_wrote_ago=timedelta(hours=1))
    with CaptureQueriesContext(connection) as queries:
        results = api(bob).get(URL).json()["results"]
    assert [r["labels"] for r in results] == [["refund", "vip"]]
    assert results[0]["inbox"]["name"] == messenger_inbox.name
    # The page token stays encrypted in its row: a list page has no reason to decrypt it.
    assert not [q for q in queries.captured_queries if '"inbox_inbox"."credentials"' in q["sql"]]


# --- PATCH ---------------------------------------------------------------------------------------------


def test_resolving_a_conversation_records_who_did_it(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    response = api(bob).patch(f"{URL}{conversation.pk}/", {"status": "resolved"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"
    conversation.refresh_from_db()
    assert conversation.status == "resolved" and conversation.resolved_at is not None
    event = ConversationEvent.objects.get(conversation=conversation, kind="status")
    assert (event.actor, event.data["from"], event.data["to"]) == (bob, "open", "resolved")


def test_snoozing_needs_a_time_in_the_future(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    client = api(bob)
    url = f"{URL}{conversation.pk}/"

    for body in ({"status": "snoozed"}, {"status": "snoozed", "snoozed_until": "2001-01-01T00:00:00Z"}):
        response = client.patch(url, body, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
    conversation.refresh_from_db()
    assert conversation.status == "open"

    until = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    response = client.patch(url, {"status": "snoozed", "snoozed_until": until.isoformat()}, format="json")
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("snoozed", until)

    # Reopening clears the snooze.
    client.patch(url, {"status": "open"}, format="json")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)


def test_labels_are_replaced_and_unknown_names_created(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox, labels=["refund"])
    response = api(bob).patch(f"{URL}{conversation.pk}/", {"labels": ["vip", " shipping ", "vip"]}, format="json")

    assert response.status_code == 200
    assert sorted(response.json()["labels"]) == ["shipping", "vip"]
    assert sorted(conversation.labels.values_list("name", flat=True)) == ["shipping", "vip"]
    event = ConversationEvent.objects.get(conversation=conversation, kind="labels")
    assert event.data == {"added": ["shipping", "vip"], "removed": ["refund"]}


def test_a_lead_assigns_a_conversation_to_an_agent_of_the_team(api, alice, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    response = api(alice).patch(f"{URL}{conversation.pk}/", {"assignee": bob.pk}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["assignee"] == bob.pk
    assert ConversationEvent.objects.get(conversation=conversation, kind="assigned").data["to"] == bob.pk


def test_an_agent_may_not_hand_a_conversation_to_someone_else(api, alice, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    response = api(bob).patch(f"{URL}{conversation.pk}/", {"assignee": alice.pk, "status": "pending"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.status) == (None, "open")  # nothing half-written


def test_routing_to_another_team_is_recorded(api, alice, team_b, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    response = api(alice).patch(f"{URL}{conversation.pk}/", {"team": team_b.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["team"] == team_b.pk
    event = ConversationEvent.objects.get(conversation=conversation, kind="team")
    assert event.data == {"from": messenger_inbox.team_id, "to": team_b.pk}


def test_an_unknown_team_or_assignee_is_a_400(api, alice, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    client = api(alice)
    for body in ({"team": 999999}, {"assignee": 999999}):
        response = client.patch(f"{URL}{conversation.pk}/", body, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"


def test_read_and_unread_set_the_unread_count(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox, unread_count=3)
    client = api(bob)

    assert client.post(f"{URL}{conversation.pk}/read/").json()["unread_count"] == 0
    assert client.post(f"{URL}{conversation.pk}/unread/").json()["unread_count"] == 1


# --- Schema ----------------------------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_conversation_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/conversations/",
        "/api/v1/conversations/{id}/",
        "/api/v1/conversations/{id}/messages/",
        "/api/v1/conversations/{id}/notes/",
        "/api/v1/conversations/{id}/read/",
    ):
        assert path in paths
    params = {p["name"] for p in paths["/api/v1/conversations/"]["get"]["parameters"]}
    assert {"status", "inbox", "channel", "assignee", "team", "window", "q", "label", "ordering", "cursor"} <= params
    reply = paths["/api/v1/conversations/{id}/messages/"]["post"]
    assert reply["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReplyCreate")
    assert {"201", "400", "404", "409"} <= set(reply["responses"])
    assert "code" in schema["components"]["schemas"]["Error"]["properties"]
