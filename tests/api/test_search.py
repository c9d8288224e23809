"""Full-text search on `GET /api/v1/conversations/?q=` (issue 20): web-search syntax, ranking,
language-aware matching, highlighted and escaped snippets, the date range, pages without a cap,
trigram matches on customers, and the access filter inside the query. The last test runs the
embedded SQLite mode's substring fallback in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from customers.models import Order
from inbox.conversations import search as search_module
from inbox.conversations.reply import note_add
from inbox.models import Inbox, Message
from tests.conftest import make_user

from .conversation_factories import conversation_make, customer_says

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"
ROOT = Path(__file__).resolve().parent.parent.parent


def search(client, q: str | None = None, **params) -> list[dict]:
    response = client.get(URL, {"status": "", **({"q": q} if q is not None else {}), **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def found(client, q: str | None = None, **params) -> list[int]:
    return [hit["id"] for hit in search(client, q, **params)]


@pytest.fixture(params=["ranked", "collected", "walked"])
def plan(request, monkeypatch) -> dict:
    """The three ways a search runs: ranked (the default order with q: every hit collected and
    ranked), and ordered by recent activity with few hits (collected, then ordered) or many (the
    list walked in its order, each conversation looked into): the query parameters to add."""
    if request.param == "ranked":
        return {}
    monkeypatch.setattr(search_module, "DENSE_MESSAGES", 1 if request.param == "walked" else 10**9)
    return {"ordering": "-last_message_at"}


@pytest.fixture
def social_inbox(team_b):
    """The other team's page: Charlie sees it, Bob does not."""
    return Inbox.objects.create(kind="messenger", name="Wholesale Page", external_id="900000000000777", team=team_b)


# --- Web-search syntax and ranking ------------------------------------------------------------------


def test_every_word_must_match_in_one_message_and_a_message_matching_more_words_ranks_higher(api, bob, messenger_inbox):
    all_words = conversation_make(messenger_inbox)
    customer_says(all_words, "Is the navy wool sweater back in stock?")
    # Newer, so larger ids: on a tie they would come first.
    one_word = conversation_make(messenger_inbox)
    customer_says(one_word, "Do you sell navy socks?")
    split = conversation_make(messenger_inbox)
    customer_says(split, "I love navy")
    customer_says(split, "and wool too")
    client = api(bob)

    assert found(client, "navy wool") == [all_words.pk]
    ranked = found(client, "navy or wool or sweater")
    assert ranked[0] == all_words.pk
    assert sorted(ranked) == sorted([all_words.pk, one_word.pk, split.pk])


def test_a_quoted_phrase_matches_those_words_in_that_order_only(api, bob, messenger_inbox, plan):
    phrase = conversation_make(messenger_inbox)
    customer_says(phrase, "The wool sweater shrank")
    reversed_words = conversation_make(messenger_inbox)
    customer_says(reversed_words, "A sweater made of wool")
    client = api(bob)

    assert found(client, '"wool sweater"', **plan) == [phrase.pk]
    assert sorted(found(client, "wool sweater", **plan)) == sorted([phrase.pk, reversed_words.pk])


def test_a_minus_word_leaves_out_the_messages_that_contain_it(api, bob, messenger_inbox, plan):
    refund = conversation_make(messenger_inbox)
    customer_says(refund, "I want a refund for the sweater")
    exchange = conversation_make(messenger_inbox)
    customer_says(exchange, "Can I exchange the sweater?")

    assert found(api(bob), "sweater -refund", **plan) == [exchange.pk]


def test_a_message_in_a_known_language_is_found_by_other_forms_of_its_words_and_minus_means_the_same(
    api, bob, messenger_inbox
):
    english = conversation_make(messenger_inbox)
    english_message = customer_says(english, "My parcels were delivered to the wrong address")
    unknown = conversation_make(messenger_inbox)
    customer_says(unknown, "My parcels were delivered to the wrong address")
    # The i18n work sets it from the customer's language; the trigger re-parses the row.
    Message.objects.filter(pk=english_message.pk).update(search_config="english")
    client = api(bob)

    assert found(client, "parcel deliver") == [english.pk]
    assert sorted(found(client, "parcels delivered")) == sorted([english.pk, unknown.pk])
    # "delivered" stems to "deliv" in English: the English row must not slip through unstemmed.
    assert found(client, "parcels -delivered") == []


def test_a_changed_or_erased_text_is_searched_as_it_is_now(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    message = customer_says(conversation, "My phone number is 555 0199, call me about the refund")
    client = api(bob)
    assert found(client, "refund") == [conversation.pk]

    Message.objects.filter(pk=message.pk).update(text="")  # as an erasure blanks it

    assert found(client, "refund") == []


# --- Snippets -----------------------------------------------------------------------------------------


def test_a_snippet_marks_every_matched_word_and_says_where_the_text_was_cut(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    customer_says(conversation, "Hello. " * 40 + "The navy sweater I ordered is too small, can I swap the sweater? " + "Thanks. " * 40)

    [hit] = search(api(bob), "navy sweater")
    assert hit["snippet"].startswith("…") and hit["snippet"].endswith("…")
    assert "<mark>navy</mark> <mark>sweater</mark>" in hit["snippet"]
    assert re.findall(r"<mark>(.*?)</mark>", hit["snippet"]) == ["navy", "sweater", "sweater"]


def test_a_customer_s_html_in_a_snippet_is_escaped_and_only_the_marks_are_markup(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    customer_says(
        conversation,
        'Where is <img src=x onerror="alert(1)"> my <mark>fake</mark> parcel? <script>steal()</script> '
        "\ue000 & \ue001 don't",
    )

    [hit] = search(api(bob), "parcel")
    snippet = hit["snippet"]
    assert "<mark>parcel</mark>" in snippet
    assert '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;' in snippet
    assert "&lt;mark&gt;fake&lt;/mark&gt;" in snippet and "&lt;script&gt;steal()&lt;/script&gt;" in snippet
    assert "&amp;" in snippet and "don&#x27;t" in snippet
    markup = re.sub(r"</?mark>", "", snippet)
    assert "<" not in markup and ">" not in markup and '"' not in markup
    assert snippet.count("<mark>") == snippet.count("</mark>") == 1


def test_a_hit_on_the_subject_of_an_email_shows_the_subject(api, bob, email_inbox):
    conversation = conversation_make(email_inbox)
    message = customer_says(conversation, "See the photo attached.")
    Message.objects.filter(pk=message.pk).update(subject="Damaged zipper on my jacket")

    [hit] = search(api(bob), "zipper")
    assert hit["id"] == conversation.pk
    assert hit["snippet"] == "Damaged <mark>zipper</mark> on my jacket"


# --- Customers and orders -----------------------------------------------------------------------------


def test_a_name_spelled_a_little_wrong_still_finds_the_customer(api, bob, messenger_inbox):
    hopper = conversation_make(messenger_inbox, name="Grace Hopper")
    conversation_make(messenger_inbox, name="Ada Lovelace")

    [hit] = search(api(bob), "Hoper")
    assert (hit["id"], hit["snippet"]) == (hopper.pk, "<mark>Grace Hopper</mark>")


def test_a_phone_fragment_finds_the_customer_however_it_is_written(api, bob, sms_inbox):
    texted = conversation_make(sms_inbox)
    conversation_make(sms_inbox)
    phone = texted.customer.phone  # +1415555NNNN
    client = api(bob)

    assert found(client, f"{phone[5:8]}-{phone[8:]}") == [texted.pk]
    assert found(client, f"({phone[2:5]}) {phone[5:8]} {phone[8:]}") == [texted.pk]


def test_a_word_that_looks_like_an_order_number_says_order_only_when_the_customer_has_that_order(
    api, bob, messenger_inbox
):
    buyer = conversation_make(messenger_inbox, name="Linus")
    Order.objects.create(customer=buyer.customer, number="A1042", external_id="o-a1042", placed_at=timezone.now())
    namesake = conversation_make(messenger_inbox, name="A1042 Studio")

    hits = {hit["id"]: hit["snippet"] for hit in search(api(bob), "a1042")}
    assert hits == {buyer.pk: "Order <mark>#a1042</mark>", namesake.pk: "<mark>A1042</mark> Studio"}


# --- Access --------------------------------------------------------------------------------------------


@pytest.fixture
def bobs_conversation(bob, email_inbox):
    """A conversation of Alice's team (Bob's), found by its message, a note, the customer and an order."""
    conversation = conversation_make(email_inbox, name="Mallory Shopper")
    customer_says(conversation, "The turquoise kettle arrived broken")
    note_add(conversation=conversation, author=bob, text="Offered a replacement kettle, escalated to logistics")
    customer = conversation.customer
    customer.phone = "+14155550123"
    customer.save(update_fields=["phone"])
    Order.objects.create(customer=customer, number="7301", external_id="o-7301", placed_at=timezone.now())
    return conversation


@pytest.mark.parametrize(
    "q", ["turquoise kettle", "logistics", "escalated -broken", "Mallory", "Malory Shoper", "#7301", "555-0123", "EMAIL"]
)
def test_charlie_never_finds_a_conversation_of_bob_s_team_whatever_matches(
    api, bob, charlie, social_inbox, bobs_conversation, plan, q
):
    email = bobs_conversation.customer.email
    q = email if q == "EMAIL" else q
    # Charlie's own team has a conversation that matches nothing, so the search runs over something.
    conversation_make(social_inbox, name="Charlie's customer")

    assert found(api(bob), q, **plan) == [bobs_conversation.pk]
    assert found(api(charlie), q, **plan) == []


def test_agents_who_see_a_conversation_find_it_by_its_notes(api, alice, bob, charlie, bobs_conversation):
    dave = make_user("dave", "agent", [])
    bobs_conversation.assignee = dave
    bobs_conversation.save(update_fields=["assignee"])

    for user in (alice, bob, dave):
        [hit] = search(api(user), "logistics")
        assert hit["snippet"] == "Offered a replacement kettle, escalated to <mark>logistics</mark>"
    assert found(api(charlie), "logistics") == []


# --- Date range ----------------------------------------------------------------------------------------


def test_the_date_range_keeps_conversations_whose_matching_message_was_written_within_it(
    api, bob, messenger_inbox, plan
):
    now = timezone.now()
    old = conversation_make(messenger_inbox, name="Old Timer")
    customer_says(old, "Where is my parcel?", at=now - timedelta(days=40))
    customer_says(old, "Thanks anyway", at=now - timedelta(days=2))
    recent = conversation_make(messenger_inbox, name="New Comer")
    customer_says(recent, "My parcel is late", at=now - timedelta(days=3))
    client = api(bob)
    week_ago = (now - timedelta(days=7)).isoformat()
    month_ago = (now - timedelta(days=30)).isoformat()

    assert found(client, "parcel", after=week_ago, **plan) == [recent.pk]
    assert found(client, "parcel", before=month_ago, **plan) == [old.pk]
    assert found(client, "parcel", after=(now - timedelta(days=50)).isoformat(), before=month_ago, **plan) == [old.pk]
    # A customer hit needs a message in the range; without q the range alone filters.
    assert found(client, "Timer", after=week_ago, **plan) == [old.pk]
    assert found(client, "Timer", before=month_ago, **plan) == [old.pk]
    assert found(client, "Timer", after=(now - timedelta(days=1)).isoformat(), **plan) == []
    assert sorted(found(client, after=week_ago)) == sorted([old.pk, recent.pk])
    assert found(client, before=month_ago) == [old.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"after": "last week"},
        {"before": "2024-02-30T10:00:00Z"},
        {"after": "2024-13-01"},
        {"after": "2025-03-02T00:00:00Z", "before": "2025-03-01T00:00:00Z"},
        {"ordering": "relevance"},
    ],
)
def test_a_bad_date_range_or_relevance_without_q_answers_400(api, bob, messenger_inbox, params):
    response = api(bob).get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(params) & set(response.json()["detail"].replace(":", " ").split())


# --- Pages ---------------------------------------------------------------------------------------------


def test_a_ranked_search_pages_through_every_hit_once_best_first(api, bob, messenger_inbox):
    conversations = []
    for n in range(7):
        conversation = conversation_make(messenger_inbox)
        customer_says(conversation, "refund " * (n % 3 + 1) + "please")
        conversations.append(conversation)
    client = api(bob)

    seen, url, params = [], URL, {"q": "refund", "status": "", "page_size": 3}
    while url:
        body = client.get(url, params).json()
        seen += [hit["id"] for hit in body["results"]]
        url, params = body["next"], None
    assert sorted(seen) == sorted(c.pk for c in conversations)
    assert len(seen) == len(set(seen))
    by_repeats = {c.pk: n % 3 for n, c in enumerate(conversations)}
    assert [by_repeats[pk] for pk in seen] == sorted(by_repeats.values(), reverse=True)


def test_a_search_ordered_by_recent_activity_when_asked(api, bob, messenger_inbox):
    now = timezone.now()
    older = conversation_make(messenger_inbox, last_message_at=now - timedelta(hours=2))
    customer_says(older, "refund refund refund please")
    newer = conversation_make(messenger_inbox, last_message_at=now - timedelta(hours=1))
    customer_says(newer, "a refund")
    client = api(bob)

    assert found(client, "refund") == [older.pk, newer.pk]
    assert found(client, "refund", ordering="-last_message_at") == [newer.pk, older.pk]


# --- The embedded SQLite mode ----------------------------------------------------------------------------

_FALLBACK = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import timezone
from customers.models import Customer, Identity
from inbox.conversations import selectors
from inbox.models import Conversation, Inbox, Message
inbox = Inbox.objects.create(kind="sms", name="SMS", external_id="+14155550100")
def thread(name, phone, text):
    customer = Customer.objects.create(name=name, phone=phone)
    identity = Identity.objects.create(customer=customer, channel="sms", external_id=phone)
    c = Conversation.objects.create(inbox=inbox, customer=customer, identity=identity, channel="sms")
    Message.objects.create(conversation=c, inbox=inbox, direction="in", sender_type="customer", text=text,
                           status="received", created_at=timezone.now())
    return c
a = thread("Ada Lovelace", "+14155550101", "Where is my <b>parcel</b>?")
b = thread("Grace Hopper", "+14155550102", "Do you ship to Norway?")
qs = Conversation.objects.select_related("customer")
for q in ("PARCEL", "hopp", "555-0102"):
    hits = list(selectors.conversations_matching(qs, q=q, ranked=True))
    snippets = selectors.search_snippets(hits, q=q)
    print(q, [c.customer.name for c in hits], [snippets[c.pk] for c in hits])
"""


def test_the_embedded_sqlite_mode_finds_by_substring_with_escaped_snippets(tmp_path):
    from tests.test_settings import _env

    env = _env(INBOX_EMBEDDED="1", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", REDIS_URL=None)
    result = subprocess.run([sys.executable, "-c", _FALLBACK], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "PARCEL ['Ada Lovelace'] ['Where is my &lt;b&gt;<mark>parcel</mark>&lt;/b&gt;?']",
        "hopp ['Grace Hopper'] ['Grace <mark>Hopp</mark>er']",
        "555-0102 ['Grace Hopper'] ['+1415<mark>5550102</mark>']",
    ]
