"""Macros over the API: who sees and changes which, preview, all-or-nothing apply under the
channel's rules, one timeline entry, usage counts, bulk."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from customers.models import Order, OrderItem
from customers.services import consent_withdraw_or_grant
from inbox.models import AuditEntry, Conversation, ConversationEvent, Inbox, Macro, Message, Role
from tests.api.conversation_factories import conversation_make
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

MESSAGES_PATH = "/messages$"
REPLY = {"type": "reply", "text": "Hi {{ customer.first_name }}, order #{{ order.number }} is {{ order.status }}: "
                                  "{{ order.tracking_url }} ({{ order.items }})"}
FOUR_ACTIONS = [
    REPLY,
    {"type": "labels", "add": ["shipping"], "remove": ["new"]},
    {"type": "assign", "to": "me"},
    {"type": "status", "status": "resolved"},
]


def create(api, user, **body):
    return api(user).post("/api/v1/macros/", {"name": "Where is my order", "actions": FOUR_ACTIONS, **body}, format="json")


def team_macro(alice, team, actions=None) -> Macro:
    return Macro.objects.create(name="Where is my order", team=team, actions=actions or FOUR_ACTIONS, created_by=alice)


def apply(api, user, macro, conversation, **body):
    return api(user).post(f"/api/v1/macros/{macro.pk}/apply/", {"conversation": conversation.pk, **body}, format="json")


@pytest.fixture
def open_chat(messenger_inbox):
    conversation = conversation_make(messenger_inbox, name="Jane Doe", customer_wrote_ago=timedelta(minutes=5),
                                     labels=["new"])
    order = Order.objects.create(
        customer=conversation.customer, external_id="9001", number="1042", total=Decimal("59.00"),
        fulfillment_status="fulfilled", tracking_number="1Z999", tracking_url="https://track.example/1Z999",
        placed_at=timezone.now() - timedelta(days=3),
    )
    OrderItem.objects.create(order=order, title="Blue tee", quantity=2, price=Decimal("29.50"))
    return conversation


def snapshot(conversation: Conversation) -> tuple:
    c = Conversation.objects.get(pk=conversation.pk)
    return (c.status, c.assignee_id, sorted(c.label_names), Message.objects.filter(conversation=c).count(),
            ConversationEvent.objects.filter(conversation=c).count(), AuditEntry.objects.count())


# --- Who sees and changes which -------------------------------------------------------------------------


def test_a_lead_shares_a_macro_with_their_team_but_an_agent_may_only_make_personal_ones(api, alice, bob, team_a):
    assert create(api, alice, team=team_a.pk).status_code == 201
    refused = create(api, bob, team=team_a.pk)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    personal = create(api, bob)
    assert personal.status_code == 201 and personal.json()["scope"] == "personal"
    assert personal.json()["owner"] == bob.pk


def test_team_members_see_the_teams_macros_and_nobody_sees_anothers_personal_ones(api, alice, bob, charlie, team_a):
    shared = team_macro(alice, team_a)
    mine = Macro.objects.create(name="Bob's", owner=bob, actions=FOUR_ACTIONS)

    assert {m["id"] for m in api(bob).get("/api/v1/macros/").json()["results"]} == {shared.pk, mine.pk}
    assert {m["id"] for m in api(alice).get("/api/v1/macros/").json()["results"]} == {shared.pk}
    assert api(charlie).get("/api/v1/macros/").json()["results"] == []
    assert api(charlie).get(f"/api/v1/macros/{shared.pk}/").status_code == 404
    assert api(alice).get(f"/api/v1/macros/{mine.pk}/").status_code == 404


def test_an_agent_uses_the_teams_macro_but_only_its_leads_change_or_delete_it(api, alice, bob, team_a):
    shared = team_macro(alice, team_a)

    refused = api(bob).patch(f"/api/v1/macros/{shared.pk}/", {"name": "Mine now"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert api(bob).delete(f"/api/v1/macros/{shared.pk}/").status_code == 403
    assert api(alice).patch(f"/api/v1/macros/{shared.pk}/", {"name": "WISMO"}, format="json").json()["name"] == "WISMO"
    assert api(alice).delete(f"/api/v1/macros/{shared.pk}/").status_code == 204


@pytest.mark.parametrize(
    "actions, field",
    [
        ([{"type": "reply", "text": "{% include 'x' %}"}], "actions[0]"),
        ([{"type": "assign", "to": "everyone"}], "actions[0]"),
        ([{"type": "status", "status": "snoozed"}], "actions[0]"),
        ([{"type": "labels", "add": ["x" * 65]}], "actions[0]"),
        ([REPLY, REPLY], "at most one reply"),
        ([{"type": "attach", "file": "forged"}], "attach"),
        ([], "at least one action"),
    ],
)
def test_a_macro_with_an_invalid_action_is_refused_when_saved(api, bob, actions, field):
    response = api(bob).post("/api/v1/macros/", {"name": "Bad", "actions": actions}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert field in response.json()["detail"]
    assert not Macro.objects.exists()


# --- Preview ---------------------------------------------------------------------------------------------


def test_the_preview_renders_the_reply_and_describes_each_action_and_changes_nothing(api, alice, bob, team_a, open_chat):
    macro = team_macro(alice, team_a)
    before = snapshot(open_chat)

    response = apply(api, bob, macro, open_chat, preview=True)

    assert response.status_code == 200
    data = response.json()
    assert data["reply"]["text"] == "Hi Jane, order #1042 is shipped: https://track.example/1Z999 (2 × Blue tee)"
    assert [a["description"] for a in data["actions"]][1:] == [
        "Labels: add shipping; remove new", "Assign to me", "Resolve",
    ]
    assert data["allowed"] is True
    assert snapshot(open_chat) == before
    assert Macro.objects.get(pk=macro.pk).usage_count == 0


def test_the_preview_says_which_action_may_not_run_and_why(api, alice, bob, team_a, open_chat):
    macro = team_macro(alice, team_a, [REPLY, {"type": "assign", "to": "agent", "agent": alice.pk}])

    data = apply(api, bob, macro, open_chat, preview=True).json()

    assert data["allowed"] is False
    assert data["actions"][0]["allowed"] is True
    assert (data["actions"][1]["allowed"], data["actions"][1]["code"]) == (False, "forbidden")


# --- Apply --------------------------------------------------------------------------------------------------


def test_applying_runs_every_action_leaves_one_timeline_entry_and_counts_the_use(
    api, client, alice, bob, team_a, open_chat, commit, fake_provider
):
    macro = team_macro(alice, team_a)

    response = apply(api, bob, macro, open_chat)

    assert response.status_code == 200, response.content
    conversation = Conversation.objects.get(pk=open_chat.pk)
    assert conversation.status == "resolved"
    assert conversation.label_names == ["shipping"]
    [sent] = fake_provider.sent(MESSAGES_PATH)
    assert sent.json()["message"]["text"].startswith("Hi Jane, order #1042 is shipped")
    client.force_login(bob)
    timeline = client.get(f"/conversations/{open_chat.pk}/timeline/").json()["items"]
    events = [item for item in timeline if item["kind"] == "event"]
    assert [e["event"] for e in events] == ["macro"]
    assert events[0]["data"]["steps"][1:] == ["Labels: add shipping; remove new", "Assign to me", "Resolve"]
    # The steps' own entries are kept (the assignment history and its metrics read them), folded in.
    assert ConversationEvent.objects.filter(conversation=open_chat, part_of__isnull=False).exists()
    assert Macro.objects.get(pk=macro.pk).usage_count == 1


def test_charlie_cannot_apply_alices_team_macro(api, alice, charlie, team_a, team_b):
    macro = team_macro(alice, team_a)
    inbox = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550999", team=team_b)
    theirs = conversation_make(inbox)

    response = apply(api, charlie, macro, theirs)

    assert response.status_code == 404
    assert Macro.objects.get(pk=macro.pk).usage_count == 0


def test_an_agent_cannot_use_a_macro_to_assign_to_someone_else_and_nothing_runs(api, alice, bob, team_a, open_chat, commit,
                                                                              fake_provider):
    macro = team_macro(alice, team_a, [REPLY, {"type": "labels", "add": ["vip"]},
                                       {"type": "assign", "to": "agent", "agent": alice.pk}])
    before = snapshot(open_chat)

    response = apply(api, bob, macro, open_chat)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden" and response.json()["action"] == 2
    assert snapshot(open_chat) == before
    assert fake_provider.sent() == []


def test_a_lead_may_use_the_same_macro_to_assign_to_a_colleague(api, alice, bob, team_a, open_chat, commit, fake_provider):
    macro = team_macro(alice, team_a, [{"type": "assign", "to": "agent", "agent": bob.pk}])
    assert apply(api, alice, macro, open_chat).status_code == 200
    assert Conversation.objects.get(pk=open_chat.pk).assignee_id == bob.pk


def test_a_reply_the_channel_would_refuse_refuses_the_whole_macro(api, alice, bob, team_a, messenger_inbox, commit,
                                                                  fake_provider):
    closed = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(hours=30))
    macro = team_macro(alice, team_a, [{"type": "labels", "add": ["late"]}, REPLY, {"type": "status", "status": "resolved"}])
    before = snapshot(closed)

    response = apply(api, bob, macro, closed)

    assert response.status_code == 409 and response.json()["code"] == "window_closed"
    assert snapshot(closed) == before
    # A person may still answer under HUMAN_AGENT within 7 days: the macro may too, when asked to.
    assert apply(api, bob, macro, closed, tag="HUMAN_AGENT").status_code == 200
    assert fake_provider.sent(MESSAGES_PATH)[-1].json()["tag"] == "HUMAN_AGENT"


def test_a_reply_to_a_customer_who_opted_out_refuses_the_macro(api, alice, bob, team_a, sms_inbox, commit, fake_provider):
    conversation = conversation_make(sms_inbox)
    consent_withdraw_or_grant(customer=conversation.customer, channel="sms", granted=False, source="test")
    macro = team_macro(alice, team_a, [{"type": "status", "status": "pending"}, {"type": "reply", "text": "Hi"}])

    response = apply(api, bob, macro, conversation)

    assert response.status_code == 409 and response.json()["code"] == "opted_out"
    assert Conversation.objects.get(pk=conversation.pk).status == "open"


def test_a_reply_too_long_for_sms_refuses_the_macro(api, alice, bob, team_a, sms_inbox, commit):
    conversation = conversation_make(sms_inbox)
    macro = team_macro(alice, team_a, [{"type": "reply", "text": "x" * 1700}])
    assert apply(api, bob, macro, conversation).json()["code"] == "too_long"


def test_a_macro_that_fails_halfway_leaves_nothing(api, alice, bob, team_a, open_chat, commit, fake_provider, monkeypatch):
    macro = team_macro(alice, team_a)
    before = snapshot(open_chat)
    # The reply and the labels have run when the assignment blows up.
    monkeypatch.setattr("inbox.macros.actions.conversation_update", _failing_on_assignee())
    with pytest.raises(RuntimeError):
        apply(api, bob, macro, open_chat)

    assert snapshot(open_chat) == before
    assert fake_provider.sent() == []
    assert Macro.objects.get(pk=macro.pk).usage_count == 0


def _failing_on_assignee():
    from inbox.conversations.triage import conversation_update

    def update(**kwargs):
        if "assignee" in kwargs:
            raise RuntimeError("the database went away mid-macro")
        return conversation_update(**kwargs)

    return update


def test_a_snooze_action_snoozes_for_its_duration(api, alice, bob, team_a, open_chat, commit):
    macro = team_macro(alice, team_a, [{"type": "status", "status": "snoozed", "snooze_minutes": 120}])
    apply(api, bob, macro, open_chat)
    conversation = Conversation.objects.get(pk=open_chat.pk)
    assert conversation.status == "snoozed"
    assert abs((conversation.snoozed_until - timezone.now()) - timedelta(hours=2)) < timedelta(minutes=1)


def test_a_chosen_order_is_the_one_the_reply_talks_about_and_anothers_order_is_refused(api, alice, bob, team_a, open_chat,
                                                                                      sms_inbox):
    older = Order.objects.create(customer=open_chat.customer, external_id="9000", number="1001", total=Decimal("10.00"),
                                 placed_at=timezone.now() - timedelta(days=30))
    macro = team_macro(alice, team_a, [REPLY])
    assert apply(api, bob, macro, open_chat, preview=True, order=older.pk).json()["reply"]["text"].startswith(
        "Hi Jane, order #1001 is unfulfilled")
    stranger = conversation_make(sms_inbox)
    theirs = Order.objects.create(customer=stranger.customer, external_id="9100", number="2000", placed_at=timezone.now())
    assert apply(api, bob, macro, open_chat, preview=True, order=theirs.pk).status_code == 400


def test_a_note_and_round_robin_assignment(api, alice, bob, team_a, open_chat, commit):
    evan = make_user("evan", Role.AGENT, [team_a])
    macro = team_macro(alice, team_a, [{"type": "note", "text": "Escalated for {{ customer.name }}"},
                                       {"type": "assign", "to": "round_robin"}])
    response = apply(api, alice, macro, open_chat)
    assert response.status_code == 200
    assert response.json()["note"]["text"] == "Escalated for Jane Doe"
    assert Conversation.objects.get(pk=open_chat.pk).assignee_id in {bob.pk, evan.pk}


def test_an_attach_action_sends_the_stored_file_with_the_reply(api, alice, bob, team_a, open_chat, commit, fake_provider):
    upload = api(alice).post("/api/v1/macros/files/", {"file": SimpleUploadedFile("size-guide.pdf", b"%PDF-1.4 guide",
                                                                                   content_type="application/pdf")})
    assert upload.status_code == 201
    created = api(alice).post("/api/v1/macros/", {"name": "Size guide", "team": team_a.pk, "actions": [
        {"type": "reply", "text": "Here is our size guide."}, {"type": "attach", "file": upload.json()["file"]}]},
        format="json")
    assert created.status_code == 201, created.content

    response = api(bob).post(f"/api/v1/macros/{created.json()['id']}/apply/", {"conversation": open_chat.pk}, format="json")

    assert response.status_code == 200
    message = response.json()["message"]
    assert [a["name"] for a in message["attachments"]] == ["size-guide.pdf"]
    assert len(fake_provider.sent(MESSAGES_PATH)) == 2  # Meta takes the file and the text as two messages


def test_the_bulk_apply_answers_per_conversation(api, alice, bob, team_a, messenger_inbox, commit, fake_provider):
    macro = team_macro(alice, team_a, [{"type": "labels", "add": ["wismo"]}, {"type": "status", "status": "resolved"}])
    first, second = conversation_make(messenger_inbox), conversation_make(messenger_inbox)

    response = api(bob).post(f"/api/v1/macros/{macro.pk}/apply/", {"conversations": [first.pk, second.pk, 999999]},
                             format="json")

    assert [(r["id"], r["ok"]) for r in response.json()["results"]] == [(first.pk, True), (second.pk, True), (999999, False)]
    assert Macro.objects.get(pk=macro.pk).usage_count == 2


def test_the_bulk_bar_runs_a_macro_on_each_ticked_conversation_and_reports_refusals(
    api, alice, bob, team_a, messenger_inbox, commit, fake_provider
):
    macro = team_macro(alice, team_a, [REPLY, {"type": "status", "status": "resolved"}])
    fresh = conversation_make(messenger_inbox, name="Ann Lee", customer_wrote_ago=timedelta(minutes=3))
    stale = conversation_make(messenger_inbox, name="Old Tom", customer_wrote_ago=timedelta(days=3))

    response = api(bob).post("/api/v1/conversations/bulk/", {"ids": [fresh.pk, stale.pk], "action": "macro",
                                                              "macro": macro.pk}, format="json")

    assert response.status_code == 200
    rows = {r["id"]: r for r in response.json()["results"]}
    assert rows[fresh.pk]["ok"] is True and rows[fresh.pk]["conversation"]["status"] == "resolved"
    assert rows[stale.pk]["ok"] is False and rows[stale.pk]["error"]["code"] == "window_closed"
    assert Conversation.objects.get(pk=stale.pk).status == "open"


def test_the_bulk_macro_must_be_one_the_user_may_use(api, alice, charlie, team_a, messenger_inbox):
    macro = team_macro(alice, team_a)
    response = api(charlie).post("/api/v1/conversations/bulk/", {"ids": [1], "action": "macro", "macro": macro.pk},
                                 format="json")
    assert response.status_code == 400 and "macro" in response.json()["detail"]
