"""The SLA report: achievement per target by agent, team, channel and period, over the live
clocks — equal to a rebuild of every clock from the raw messages and status history."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command

from inbox.conversations.reply import reply_send
from inbox.conversations.triage import conversation_update
from inbox.models import ConversationStatus, SlaClock
from inbox.sla import reports

from .helpers import T0, customer_writes, fresh, make_policy, page_replies

pytestmark = pytest.mark.django_db
REPORT = "/api/v1/reports/sla/"
NOW = T0 + timedelta(hours=3, minutes=10)


@pytest.fixture
def history(messenger_inbox, sms_inbox, alice, bob, fake_provider, commit):
    """Five conversations on two channels, answered in time, late, never, resolved and reopened."""
    make_policy()  # first response 15 min, next response 30 min, resolution 24 h
    conversations = {}
    with time_machine.travel(T0, tick=False):
        a = customer_writes(messenger_inbox, "psid-a", T0).conversation  # answered in time by bob
        b = customer_writes(messenger_inbox, "psid-b", T0).conversation  # answered late (by the page)
        c = customer_writes(sms_inbox, "+14155550100", T0).conversation  # never answered
        d = customer_writes(messenger_inbox, "psid-d", T0).conversation  # resolved, reopened, answered late
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        reply_send(conversation=a, author=bob, text="Here you go.")
    page_replies(messenger_inbox, "psid-b", T0 + timedelta(minutes=40))
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        reply_send(conversation=d, author=bob, text="Done.")
    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        conversation_update(conversation=d, by=bob, status=ConversationStatus.RESOLVED)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        customer_writes(messenger_inbox, "psid-d", T0 + timedelta(hours=2))  # reopens (the default rule)
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        reply_send(conversation=fresh(d), author=bob, text="Again?")  # an hour: late
        customer_writes(messenger_inbox, "psid-a", T0 + timedelta(hours=3))  # next response, still running
        conversation_update(conversation=a, by=alice, assignee=alice)
    conversations.update(a=a.pk, b=b.pk, c=c.pk, d=d.pk)
    return conversations


def facts() -> list[tuple]:
    return sorted(SlaClock.objects.values_list("conversation_id", "target", "started_at", "due_at", "met_at", "met_by_id",
                                               "stopped_at"))


def report(api, user, **params) -> dict:
    with time_machine.travel(NOW, tick=False):
        response = api(user).get(REPORT, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_report_counts_targets_met_in_time_breached_and_still_running(api, alice, history):
    totals = {t["target"]: t for t in report(api, alice)["totals"]}
    # First response: a in time; b late; c never (breached); d in time.
    assert (totals["first_response"]["achieved"], totals["first_response"]["breached"]) == (2, 2)
    assert totals["first_response"]["achievement_rate"] == pytest.approx(0.5)
    # Next response: d late after reopening; a's is running and not due yet (pending).
    assert (totals["next_response"]["achieved"], totals["next_response"]["breached"], totals["next_response"]["pending"]) \
        == (0, 1, 1)
    # Resolution: d's first was met in time; the second (from the reopening) and the others run, not due yet.
    assert (totals["resolution"]["achieved"], totals["resolution"]["breached"], totals["resolution"]["pending"]) == (1, 0, 4)


def test_the_report_groups_by_agent_team_channel_and_period(api, alice, bob, team_a, history):
    by_agent = {(r["target"], r["agent"]["id"]): r for r in report(api, alice, group_by="agent")["rows"]}
    assert by_agent[("first_response", bob.pk)]["achieved"] == 2
    assert by_agent[("next_response", bob.pk)]["breached"] == 1
    assert by_agent[("next_response", alice.pk)]["pending"] == 1  # a's running clock: its assignee, alice
    assert by_agent[("first_response", bob.pk)]["agent"]["name"] == "bob"
    by_channel = {(r["target"], r["channel"]): r for r in report(api, alice, group_by="channel")["rows"]}
    assert by_channel[("first_response", "sms")]["breached"] == 1 and by_channel[("first_response", "messenger")]["counted"] == 3
    by_team = report(api, alice, group_by="team", target="first_response")["rows"]
    assert [(r["team"]["name"], r["counted"]) for r in by_team] == [("Support", 4)]
    by_day = report(api, alice, group_by="period", period="day", target="first_response")["rows"]
    assert [(r["period"], r["counted"]) for r in by_day] == [("2026-11-16", 4)]


def test_the_live_clocks_and_the_report_equal_a_rebuild_from_the_raw_messages(api, alice, history):
    live, live_report = facts(), report(api, alice, group_by="agent")
    states = {pk: (fresh(pk).sla_state, fresh(pk).sla_next_due_at) for pk in history.values()}
    SlaClock.objects.all().delete()  # lose everything: the rebuild reads only messages and status history
    with time_machine.travel(NOW, tick=False):
        call_command("sla_rebuild", stdout=io.StringIO())
    assert facts() == live
    assert report(api, alice, group_by="agent") == live_report
    assert {pk: (fresh(pk).sla_state, fresh(pk).sla_next_due_at) for pk in history.values()} == states
    # What was already due was marked told: the rebuild pages nobody.
    assert not SlaClock.objects.filter(due_at__lte=NOW, breach_sent=False).exists()


def test_the_report_as_csv_neutralises_formulas_and_agents_do_not_see_it(api, alice, bob, history):
    bob.username = "=HYPERLINK(1)"
    bob.save()
    with time_machine.travel(NOW, tick=False):
        response = api(alice).get("/api/v1/reports/sla.csv", {"group_by": "agent"})
        assert api(bob).get(REPORT).status_code == 403
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == reports.CSV_HEADER
    assert ["first_response", "all", "2", "2", "0", "4", "0.5000"] in rows
    assert any(r[1] == "'=HYPERLINK(1)" for r in rows)


def test_a_period_before_the_history_is_empty_and_other_inboxes_are_not_counted(api, alice, history, email_inbox):
    assert report(api, alice, since="2026-11-01", until="2026-11-10")["totals"] == []
    assert report(api, alice, inbox=email_inbox.pk)["totals"] == []
