"""The reports API: figures equal to their definitions and against the previous period, the rollup
behind volume, support-influenced revenue, who may see what, paging, sorting, CSV and drill-down."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from customers.services import labels_for
from inbox import metrics
from inbox.models import Conversation, Inbox
from inbox.reports import volume

from .factories import agent_replies, customer_writes, order, resolve

pytestmark = pytest.mark.django_db


def midday(days_ago: int) -> datetime:
    return datetime.combine(timezone.now().astimezone(UTC).date() - timedelta(days=days_ago), time(12), UTC)


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()


def figures(body: dict) -> dict:
    return {f["key"]: f for f in body["figures"]}


def test_first_response_figures_equal_the_badges_definition_and_show_the_previous_period(api, alice, bob, messenger_inbox):
    minutes = [2, 4, 7, 9, 12, 20, 30, 45, 90]
    for i, m in enumerate(minutes):
        agent_replies(customer_writes(messenger_inbox, f"p{i}", midday(2) - timedelta(hours=i)), bob, timedelta(minutes=m))
    customer_writes(messenger_inbox, "unanswered", midday(1))
    agent_replies(customer_writes(messenger_inbox, "before", midday(10)), bob, timedelta(hours=30))

    body = api(alice).get("/api/v1/reports/first-response/?days=7").json()

    badge = metrics.responsiveness(since=datetime.combine(midday(6).date(), time.min, UTC),
                                   until=datetime.combine(midday(-1).date(), time.min, UTC))
    f = figures(body)
    assert f["rate"]["value"] == pytest.approx(0.9) and f["rate"]["previous"] == pytest.approx(1.0)
    assert f["fastest_90"]["value"] == pytest.approx(badge.response_time_seconds)
    assert f["median"]["value"] == pytest.approx(badge.median_response_seconds) == 12 * 60
    assert f["fastest_90"]["previous"] == pytest.approx(30 * 3600)
    assert "fastest 90 %" in f["fastest_90"]["explain"]
    buckets = {r["bucket"]: r["conversations"] for r in body["rows"]}
    assert buckets == {"under 5 min": 2, "5–15 min": 3, "15–60 min": 3, "1–4 h": 1, "4–24 h": 0, "over 24 h": 0,
                       "not answered": 1}
    assert body["charts"][0]["datasets"][1]["data"][5] == 1  # the previous period's 30 h reply


def test_volume_counts_conversations_and_messages_per_channel_and_day_and_reads_closed_days_from_the_rollup(
    api, alice, bob, messenger_inbox, sms_inbox, django_assert_max_num_queries,
):
    agent_replies(customer_writes(messenger_inbox, "p1", midday(5)), bob, timedelta(minutes=3))
    customer_writes(messenger_inbox, "p1", midday(5) + timedelta(minutes=10))
    customer_writes(sms_inbox, "+14155550101", midday(5))
    customer_writes(sms_inbox, "+14155550102", midday(0))

    body = api(alice).get("/api/v1/reports/volume/?days=7").json()

    rows = {(r["day"], r["channel"]): (r["new"], r["in"], r["out"]) for r in body["rows"]}
    five_ago = midday(5).date().isoformat()
    assert rows[(five_ago, "messenger")] == (1, 2, 1)
    assert rows[(five_ago, "sms")] == (1, 1, 0)
    assert rows[(midday(0).date().isoformat(), "sms")] == (1, 1, 0)
    assert {k: (f["value"], f["previous"]) for k, f in figures(body).items() if k != "per_day"} == {
        "new": (3, 0), "in": (4, 0), "out": (1, 0)}
    # Closed days are counted once and kept: reading 90 days again costs the same few queries.
    api(alice).get("/api/v1/reports/volume/?days=90")
    with django_assert_max_num_queries(14):
        again = api(alice).get("/api/v1/reports/volume/?days=90").json()
    assert figures(again)["new"]["value"] == 3
    assert volume.daily_counts(midday(5).date(), midday(5).date())[midday(5).date()][messenger_inbox.pk] == [1, 2, 1]


def test_support_influenced_revenue_counts_orders_within_three_days_after_an_agents_reply_to_who_answered_last(
    api, alice, bob, team_a, messenger_inbox,
):
    from tests.conftest import make_user

    dana = make_user("dana", "agent", [team_a])
    first = customer_writes(messenger_inbox, "buyer", midday(8))
    agent_replies(first, bob, timedelta(minutes=5))
    later = customer_writes(messenger_inbox, "buyer", midday(6))
    agent_replies(later, dana, timedelta(minutes=5))
    customer = Conversation.objects.get(pk=first.conversation_id).customer
    order(customer, midday(6) + timedelta(days=2), "80.00")   # 2 days after Dana's reply: Dana's
    order(customer, midday(8) + timedelta(hours=1), "30.00")  # 1 hour after Bob's: Bob's
    order(customer, midday(6) + timedelta(days=4), "999.00")  # 4 days after any reply: not influenced
    order(customer, midday(9), "500.00")                       # before anyone answered: not influenced

    body = api(alice).get("/api/v1/reports/revenue/?days=30").json()

    by_agent = {r["agent"]: (r["orders"], r["revenue"]) for r in body["rows"]}
    assert by_agent == {"dana": (1, "80.00"), "bob": (1, "30.00")}
    f = figures(body)
    assert f["revenue"]["value"] == "110.00" and f["orders"]["value"] == 2
    assert f["share"]["value"] == pytest.approx(0.5)
    assert any("Gorgias" in note and "3 days" in note for note in body["notes"])


def test_a_manager_sees_only_their_teams_an_agent_gets_403_and_an_admin_everything(
    api, alice, bob, charlie, admin_user, team_b, messenger_inbox,
):
    other = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550000", team=team_b)
    agent_replies(customer_writes(messenger_inbox, "mine", midday(1)), bob, timedelta(minutes=1))
    agent_replies(customer_writes(other, "+14155550111", midday(1)), charlie, timedelta(minutes=1))

    mine = api(alice).get("/api/v1/reports/agents/?days=7").json()
    assert [r["agent"] for r in mine["rows"]] == ["bob"]
    assert api(alice).get("/api/v1/reports/volume/?days=7").json()["figures"][0]["value"] == 1
    assert api(alice).get(f"/api/v1/reports/volume/?inbox={other.pk}").status_code == 404
    assert api(alice).get(f"/api/v1/reports/teams/?team={team_b.pk}").status_code == 404
    refused = api(bob).get("/api/v1/reports/volume/")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert api(bob).get("/api/v1/reports/volume.csv").status_code == 403
    everything = api(admin_user).get("/api/v1/reports/agents/?days=7").json()
    assert sorted(r["agent"] for r in everything["rows"]) == ["bob", "charlie"]
    assert {r["team"] for r in api(admin_user).get("/api/v1/reports/teams/").json()["rows"]} == {"Support", "Wholesale"}


def test_long_tables_page_and_sort_and_the_csv_holds_every_row_with_formulas_neutralised(api, alice, messenger_inbox):
    for i in range(30):
        message = customer_writes(messenger_inbox, f"p{i}", midday(1) - timedelta(minutes=i))
        names = [f"reason-{i:02d}"] + (["=HYPERLINK(\"http://x.example\")"] if i < 3 else [])
        Conversation.objects.get(pk=message.conversation_id).labels.set(labels_for(names))

    page = api(alice).get("/api/v1/reports/contact-reasons/?days=7&page=2&page_size=10&sort=label").json()
    assert page["table"] == {"count": 31, "page": 2, "pages": 4, "page_size": 10, "sort": "label"}
    assert [r["label"] for r in page["rows"]] == [f"reason-{i:02d}" for i in range(9, 19)]
    top = api(alice).get("/api/v1/reports/contact-reasons/?days=7&sort=-conversations&page_size=1").json()
    assert top["rows"][0]["label"].startswith("=HYPERLINK") and top["rows"][0]["conversations"] == 3
    assert api(alice).get("/api/v1/reports/contact-reasons/?sort=nope").json()["code"] == "invalid"

    response = api(alice).get("/api/v1/reports/contact-reasons.csv?days=7&sort=-conversations")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["label", "conversations", "share", "previous"]
    assert len(rows) == 32
    assert rows[1][0] == "'=HYPERLINK(\"http://x.example\")"


def test_a_drill_down_lists_exactly_the_conversations_behind_a_row(api, alice, bob, messenger_inbox):
    slow = customer_writes(messenger_inbox, "slow", midday(1))
    agent_replies(slow, bob, timedelta(hours=2))
    fast = customer_writes(messenger_inbox, "fast", midday(1))
    agent_replies(fast, bob, timedelta(minutes=1))
    resolve(slow, after=timedelta(hours=3))

    body = api(alice).get("/api/v1/reports/first-response/?days=7").json()
    hour_row = next(r for r in body["rows"] if r["bucket"] == "1–4 h")
    drilled = api(alice).get("/api/v1/reports/first-response/conversations/", {"days": 7, **hour_row["drill"]}).json()
    assert [c["id"] for c in drilled["results"]] == [slow.conversation_id]
    assert drilled["results"][0]["url"] == f"/conversations/{slow.conversation_id}/"
    resolution = api(alice).get("/api/v1/reports/resolution/conversations/", {"days": 7, "bucket": 1}).json()
    assert [c["id"] for c in resolution["results"]] == [slow.conversation_id]
    agents = api(alice).get("/api/v1/reports/agents/conversations/", {"days": 7, "agent": bob.pk}).json()
    assert agents["count"] == 2


def test_an_unknown_report_or_a_bad_period_is_a_readable_4xx(api, alice, messenger_inbox):
    missing = api(alice).get("/api/v1/reports/nope/")
    assert missing.status_code == 404 and "volume" in missing.json()["detail"]
    bad = api(alice).get("/api/v1/reports/volume/?days=0")
    assert bad.status_code == 400 and bad.json()["code"]
