"""The workspace's server side, round 2: the list's last-message preview, search snippets, saved
views with live counts, bulk actions answering per id, per-agent unread state, resolve keeping the
owner, menus that list only what the user may choose, notifications for assignments, and Retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Order
from inbox.conversations.receive import message_receive
from inbox.conversations.reply import note_add
from inbox.models import Conversation, ConversationEvent, Message, MessageStatus, Notification, SavedView
from inbox.providers.base import InboundMessage
from inbox.realtime import publish as realtime
from tests.conftest import PAGE_ID, load_fixture, make_user

from .conversation_factories import conversation_make, customer_says

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"
MESSAGES_PATH = rf"/v24.0/{PAGE_ID}/messages$"


def receive(inbox, psid: str, text: str, *, at=None, name: str = "") -> Message:
    """A customer message through the real receiving path (as a webhook's handler stores it)."""
    mid = f"m_ws_{psid}_{Message.objects.count()}"
    return message_receive(inbox=inbox, incoming=InboundMessage(
        channel="messenger", inbox_external_id=PAGE_ID, customer_external_id=psid, external_id=mid,
        timestamp=at or timezone.now(), text=text, customer_name=name,
    ))


def listed(client, **params) -> dict[int, dict]:
    response = client.get(URL, {"status": "", **params})
    assert response.status_code == 200, response.content
    return {c["id"]: c for c in response.json()["results"]}


@pytest.fixture
def frames(monkeypatch):
    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(realtime, "_send", lambda groups, frame: sent.append((groups, frame)))
    return sent


@pytest.fixture
def dave(team_a):
    """Another agent of Alice's team."""
    return make_user("dave", "agent", [team_a])


# --- 1. The list's preview --------------------------------------------------------------------------


def test_each_listed_conversation_carries_its_last_message_with_direction_and_sender(api, bob, messenger_inbox, commit):
    first = receive(messenger_inbox, "9001", "Where is   my\nparcel?", name="Ada")
    other = receive(messenger_inbox, "9002", "Do you ship to Norway?")
    api(bob).post(f"{URL}{first.conversation_id}/messages/", {"text": "It left this morning."}, format="json")

    rows = listed(api(bob))
    assert rows[first.conversation_id]["last_message"] | {"created_at": None} == {
        "text": "It left this morning.", "direction": "out", "sender_type": "agent", "created_at": None,
    }
    assert rows[other.conversation_id]["last_message"]["text"] == "Do you ship to Norway?"
    assert rows[other.conversation_id]["last_message"]["direction"] == "in"
    assert rows[other.conversation_id]["last_message"]["sender_type"] == "customer"
    assert rows[other.conversation_id]["last_message"]["created_at"] == rows[other.conversation_id]["last_message_at"]


def test_the_preview_collapses_whitespace_and_a_note_never_becomes_the_preview(api, bob, messenger_inbox):
    message = receive(messenger_inbox, "9003", "Hello\n\n   there " + "x" * 300)
    note_add(conversation=message.conversation, author=bob, text="Internal: VIP customer")

    preview = listed(api(bob))[message.conversation_id]["last_message"]
    assert preview["text"].startswith("Hello there xxx") and len(preview["text"]) == 200


def test_the_preview_costs_no_query_per_row(api, bob, messenger_inbox, django_assert_max_num_queries):
    for n in range(3):
        receive(messenger_inbox, f"91{n}", f"message {n}")
    client = api(bob)
    with django_assert_max_num_queries(12) as few:
        client.get(URL)
    for n in range(3, 25):
        receive(messenger_inbox, f"91{n}", f"message {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(URL).json()["results"]) == 25


def test_a_realtime_frame_carries_the_same_preview_as_the_list(api, bob, messenger_inbox, commit, frames):
    message = receive(messenger_inbox, "9004", "Is the navy one in stock?")
    frame = [f for _, f in frames if f["type"] == "conversation.updated"][-1]["conversation"]
    row = listed(api(bob))[message.conversation_id]
    assert frame["last_message"] == row["last_message"]
    assert frame["last_inbound_at"] == row["last_inbound_at"]


# --- 2. Search snippets -----------------------------------------------------------------------------


def test_a_search_hit_carries_a_snippet_with_the_match_highlighted_and_the_text_escaped(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox, name="Ada")
    customer_says(conversation, "Hi! Do you have the <b>NAVY</b> sweater in M? " + "It is for my brother. " * 10,
                  at=timezone.now() - timedelta(minutes=5))
    customer_says(conversation, "Also, the shipping cost?")

    [hit] = api(bob).get(URL, {"q": "navy", "status": ""}).json()["results"]
    assert hit["id"] == conversation.pk
    assert hit["snippet"].startswith("Hi! Do you have the &lt;b&gt;<mark>NAVY</mark>&lt;/b&gt; sweater in M?")
    assert hit["snippet"].endswith("…")
    assert len(hit["snippet"]) < 260


def test_a_snippet_says_where_a_hit_matched_when_it_is_not_a_message(api, bob, messenger_inbox, sms_inbox):
    by_name = conversation_make(messenger_inbox, name="Grace Hopper")
    by_phone = conversation_make(sms_inbox)
    by_order = conversation_make(messenger_inbox, name="Linus")
    Order.objects.create(customer=by_order.customer, number="1042", external_id="o-1042", placed_at=timezone.now())
    client = api(bob)

    [hit] = client.get(URL, {"q": "hopp", "status": ""}).json()["results"]
    assert (hit["id"], hit["snippet"]) == (by_name.pk, "Grace <mark>Hopp</mark>er")
    phone = by_phone.customer.phone
    [hit] = client.get(URL, {"q": phone[-7:], "status": ""}).json()["results"]
    assert hit["snippet"] == f"{phone[:-7]}<mark>{phone[-7:]}</mark>"
    [hit] = client.get(URL, {"q": "#1042", "status": ""}).json()["results"]
    assert (hit["id"], hit["snippet"]) == (by_order.pk, "Order <mark>#1042</mark>")


def test_without_a_search_no_row_carries_a_snippet(api, bob, messenger_inbox):
    conversation_make(messenger_inbox, name="Ada")
    assert [c["snippet"] for c in api(bob).get(URL, {"status": ""}).json()["results"]] == [None]


# --- 3. Saved views ---------------------------------------------------------------------------------


def test_an_agent_saves_a_private_view_and_lists_it_with_its_live_count(api, bob, dave, messenger_inbox, sms_inbox):
    conversation_make(messenger_inbox)
    conversation_make(messenger_inbox, assignee=bob)
    conversation_make(sms_inbox, assignee=bob)
    client = api(bob)

    created = client.post("/api/v1/views/", {"name": "My Messenger", "filters": {
        "channel": "messenger", "assignee": "me", "status": "open"}}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["shared_with_team"], body["mine"], body["count"]) == ("My Messenger", None, True, 1)

    conversation_make(messenger_inbox, assignee=bob)
    [view] = client.get("/api/v1/views/").json()["results"]
    assert view["count"] == 2
    # Private: Dave, in the same team, does not see it.
    assert api(dave).get("/api/v1/views/").json()["results"] == []
    assert api(dave).get(f"/api/v1/views/{view['id']}/").status_code == 404


def test_a_view_shared_with_a_team_counts_what_each_member_may_see_and_me_means_the_viewer(
    api, alice, bob, dave, team_a, messenger_inbox
):
    conversation_make(messenger_inbox, assignee=bob)
    conversation_make(messenger_inbox, assignee=bob)
    conversation_make(messenger_inbox, assignee=dave)
    view = api(alice).post("/api/v1/views/", {"name": "Mine, open", "filters": {"assignee": "me", "status": "open"},
                                             "shared_with_team": team_a.pk}, format="json").json()

    assert api(alice).get(f"/api/v1/views/{view['id']}/").json()["count"] == 0
    assert api(bob).get(f"/api/v1/views/{view['id']}/").json()["count"] == 2
    [seen_by_dave] = api(dave).get("/api/v1/views/").json()["results"]
    assert (seen_by_dave["count"], seen_by_dave["mine"], seen_by_dave["owner"]["id"]) == (1, False, alice.pk)


def test_a_view_counts_only_conversations_the_viewer_may_see(api, alice, charlie, team_b, messenger_inbox):
    conversation_make(messenger_inbox)
    conversation_make(messenger_inbox)
    mine = api(charlie).post("/api/v1/views/", {"name": "Everything", "filters": {"status": "open"}}, format="json").json()
    assert mine["count"] == 0
    assert api(alice).post("/api/v1/views/", {"name": "Everything", "filters": {"status": "open"}},
                           format="json").json()["count"] == 2


def test_saved_view_mistakes_are_refused_with_a_code_and_a_sentence(api, alice, bob, team_b, messenger_inbox):
    client = api(bob)
    unknown = client.post("/api/v1/views/", {"name": "x", "filters": {"colour": "blue"}}, format="json")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "invalid")
    assert "colour" in unknown.json()["detail"]
    bad_value = client.post("/api/v1/views/", {"name": "x", "filters": {"status": "lost"}}, format="json")
    assert bad_value.status_code == 400 and "status" in bad_value.json()["detail"]
    not_my_team = client.post("/api/v1/views/", {"name": "x", "filters": {}, "shared_with_team": team_b.pk}, format="json")
    assert (not_my_team.status_code, not_my_team.json()["code"]) == (403, "forbidden")
    assert client.post("/api/v1/views/", {"name": "Same", "filters": {}}, format="json").status_code == 201
    twice = client.post("/api/v1/views/", {"name": "Same", "filters": {}}, format="json")
    assert (twice.status_code, twice.json()["code"]) == (409, "duplicate")


def test_only_the_owner_changes_or_deletes_a_shared_view(api, alice, bob, team_a, messenger_inbox):
    view = api(alice).post("/api/v1/views/", {"name": "Team queue", "filters": {"assignee": "none"},
                                             "shared_with_team": team_a.pk}, format="json").json()
    url = f"/api/v1/views/{view['id']}/"
    assert api(bob).patch(url, {"name": "Mine now"}, format="json").json()["code"] == "forbidden"
    assert api(bob).delete(url).status_code == 403
    renamed = api(alice).patch(url, {"name": "Unassigned", "shared_with_team": None}, format="json").json()
    assert (renamed["name"], renamed["shared_with_team"]) == ("Unassigned", None)
    assert api(bob).get(url).status_code == 404
    assert api(alice).delete(url).status_code == 204
    assert not SavedView.objects.exists()


# --- 4. Bulk actions --------------------------------------------------------------------------------


def test_bulk_resolve_answers_per_id_and_a_conversation_out_of_sight_fails_alone(
    api, bob, messenger_inbox, charlie, team_b
):
    from inbox.models import Inbox

    mine = [conversation_make(messenger_inbox), conversation_make(messenger_inbox)]
    wholesale = Inbox.objects.create(kind="sms", name="Wholesale SMS", external_id="+14155550000", team=team_b)
    hidden = conversation_make(wholesale)

    response = api(bob).post(f"{URL}bulk/", {"ids": [mine[0].pk, hidden.pk, mine[1].pk], "action": "resolve"},
                             format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    assert [r["id"] for r in body["results"]] == [mine[0].pk, hidden.pk, mine[1].pk]
    assert body["results"][1] == {"id": hidden.pk, "ok": False, "error": {
        "code": "not_found", "detail": "No such conversation, or not visible to you."}}
    assert body["results"][0]["conversation"]["status"] == "resolved"
    assert set(Conversation.objects.filter(status="resolved").values_list("pk", flat=True)) == {c.pk for c in mine}
    assert Conversation.objects.get(pk=hidden.pk).status == "open"


def test_bulk_assign_applies_the_assignment_rules_row_by_row(api, bob, dave, messenger_inbox):
    free = conversation_make(messenger_inbox)
    daves = conversation_make(messenger_inbox, assignee=dave)

    body = api(bob).post(f"{URL}bulk/", {"ids": [free.pk, daves.pk], "action": "assign", "assignee": bob.pk},
                         format="json").json()

    assert [r["ok"] for r in body["results"]] == [True, False]
    assert body["results"][1]["error"]["code"] == "already_assigned"
    assert Conversation.objects.get(pk=free.pk).assignee == bob
    assert Conversation.objects.get(pk=daves.pk).assignee == dave
    # An agent may not hand work to someone else: refused for each row, not as a whole.
    body = api(bob).post(f"{URL}bulk/", {"ids": [free.pk], "action": "assign", "assignee": dave.pk}, format="json").json()
    assert body["results"][0]["error"]["code"] == "forbidden"


def test_bulk_label_adds_to_each_conversations_own_labels(api, alice, messenger_inbox):
    one = conversation_make(messenger_inbox, labels=["vip"])
    two = conversation_make(messenger_inbox)
    body = api(alice).post(f"{URL}bulk/", {"ids": [one.pk, two.pk], "action": "label", "labels": ["refund"]},
                           format="json").json()
    assert body["succeeded"] == 2
    assert sorted(Conversation.objects.get(pk=one.pk).label_names) == ["refund", "vip"]
    assert Conversation.objects.get(pk=two.pk).label_names == ["refund"]
    assert [r["conversation"]["labels"] for r in body["results"]] == [["refund", "vip"], ["refund"]]


def test_bulk_snooze_and_move_team_go_through_the_same_rules_as_one_conversation(api, alice, bob, team_b, messenger_inbox):
    one, two = conversation_make(messenger_inbox), conversation_make(messenger_inbox)
    until = timezone.now() + timedelta(hours=3)
    body = api(bob).post(f"{URL}bulk/", {"ids": [one.pk, two.pk], "action": "snooze", "snoozed_until": until.isoformat()},
                         format="json").json()
    assert body["succeeded"] == 2 and Conversation.objects.get(pk=two.pk).status == "snoozed"

    refused = api(bob).post(f"{URL}bulk/", {"ids": [one.pk], "action": "move_team", "team": team_b.pk}, format="json").json()
    assert refused["results"][0]["error"]["code"] == "forbidden"
    moved = api(alice).post(f"{URL}bulk/", {"ids": [one.pk], "action": "move_team", "team": team_b.pk}, format="json").json()
    assert moved["succeeded"] == 1 and Conversation.objects.get(pk=one.pk).team == team_b


def test_a_bulk_body_that_cannot_apply_is_a_400(api, bob, messenger_inbox):
    one = conversation_make(messenger_inbox)
    client = api(bob)
    for body in ({"ids": [], "action": "resolve"}, {"ids": [one.pk], "action": "explode"},
                 {"ids": [one.pk], "action": "snooze"},
                 {"ids": [one.pk], "action": "snooze", "snoozed_until": "2001-01-01T00:00:00Z"},
                 {"ids": [one.pk], "action": "label"}, {"ids": list(range(1, 102)), "action": "resolve"}):
        response = client.post(f"{URL}bulk/", body, format="json")
        assert (response.status_code, response.json()["code"]) == (400, "invalid"), body
    assert Conversation.objects.get(pk=one.pk).status == "open"


# --- 5. Per-agent unread ----------------------------------------------------------------------------


def test_opening_a_thread_marks_it_read_for_that_agent_only(api, alice, bob, messenger_inbox):
    message = receive(messenger_inbox, "9005", "Hello?")
    pk = message.conversation_id
    assert listed(api(bob))[pk]["unread"] is True
    assert listed(api(alice))[pk]["unread"] is True

    opened = api(bob).post(f"{URL}{pk}/opened/")

    assert opened.status_code == 200
    assert opened.json()["unread"] is False and opened.json()["read_at"]
    assert listed(api(bob))[pk]["unread"] is False
    assert listed(api(alice))[pk]["unread"] is True
    # The customer's read-receipt state is not touched: the count stays for the etiquette to clear.
    assert Conversation.objects.get(pk=pk).unread_count == 1
    assert [c["id"] for c in api(bob).get(URL, {"unread": "true", "status": ""}).json()["results"]] == []
    assert [c["id"] for c in api(alice).get(URL, {"unread": "true", "status": ""}).json()["results"]] == [pk]
    assert [c["id"] for c in api(bob).get(URL, {"unread": "false", "status": ""}).json()["results"]] == [pk]
    bad = api(bob).get(URL, {"unread": "maybe"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid") and "unread" in bad.json()["detail"]


def test_a_new_customer_message_makes_it_unread_again_for_the_agent_who_had_read_it(api, bob, messenger_inbox):
    message = receive(messenger_inbox, "9006", "Hello?", at=timezone.now() - timedelta(minutes=5))
    pk = message.conversation_id
    api(bob).post(f"{URL}{pk}/opened/")
    receive(messenger_inbox, "9006", "Anyone there?")
    assert listed(api(bob))[pk]["unread"] is True


def test_mark_unread_makes_it_unread_for_me_and_read_clears_it_for_everyone(api, alice, bob, messenger_inbox):
    pk = receive(messenger_inbox, "9007", "Hi").conversation_id
    api(bob).post(f"{URL}{pk}/opened/")
    assert api(bob).post(f"{URL}{pk}/unread/").json()["unread"] is True
    assert api(alice).post(f"{URL}{pk}/read/").json()["unread"] is False
    assert listed(api(bob))[pk]["unread"] is False


def test_a_realtime_frame_carries_no_one_agents_read_state(messenger_inbox, commit, frames):
    receive(messenger_inbox, "9008", "Hi")
    frame = [f for _, f in frames if f["type"] == "conversation.updated"][-1]["conversation"]
    assert (frame["unread"], frame["read_at"]) == (None, None)


# --- 6. Resolve keeps the owner ---------------------------------------------------------------------


def test_resolving_keeps_the_owner_so_mine_resolved_lists_it(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox, assignee=bob)
    assert api(bob).patch(f"{URL}{conversation.pk}/", {"status": "resolved"}, format="json").json()["assignee"] == bob.pk
    assert list(listed(api(bob), assignee="me", status="resolved")) == [conversation.pk]
    assert not ConversationEvent.objects.filter(conversation=conversation, kind="assigned").exists()


def test_the_inbox_setting_says_unassign_on_resolve_is_off_unless_turned_on(api, admin_user, messenger_inbox):
    url = f"/api/v1/inboxes/{messenger_inbox.pk}/"
    assert api(admin_user).get(url).json()["unassign_on_resolve"] is False
    assert api(admin_user).patch(url, {"unassign_on_resolve": True}, format="json").json()["unassign_on_resolve"] is True


def test_when_an_inbox_opts_in_the_history_says_the_setting_unassigned_it_not_the_agent(api, bob, messenger_inbox):
    messenger_inbox.settings = {"unassign_on_resolve": True}
    messenger_inbox.save()
    conversation = conversation_make(messenger_inbox, assignee=bob)
    api(bob).patch(f"{URL}{conversation.pk}/", {"status": "resolved"}, format="json")
    event = ConversationEvent.objects.get(conversation=conversation, kind="assigned")
    assert (event.actor, event.data["reason"], event.data["to"]) == (None, "resolved", None)


# --- 7. What the menus may offer --------------------------------------------------------------------


def test_an_agent_may_choose_only_themselves_and_their_own_teams(api, bob, dave, team_a, team_b, messenger_inbox):
    free = conversation_make(messenger_inbox)
    body = api(bob).get(f"{URL}{free.pk}/assignable/").json()
    assert [a["id"] for a in body["agents"]] == [bob.pk]
    assert body["agents"][0]["me"] is True and body["assign_to_me"] is True
    assert [t["id"] for t in body["teams"]] == [team_a.pk]
    assert body["may_unassign"] is False

    daves = conversation_make(messenger_inbox, assignee=dave)
    body = api(bob).get(f"{URL}{daves.pk}/assignable/").json()
    assert (body["agents"], body["assign_to_me"], body["may_unassign"]) == ([], False, False)


def test_a_lead_chooses_among_the_conversations_team_and_routes_to_any_team(
    api, alice, bob, dave, charlie, team_a, team_b, messenger_inbox
):
    conversation = conversation_make(messenger_inbox, assignee=bob)
    body = api(alice).get(f"{URL}{conversation.pk}/assignable/").json()
    assert {a["id"] for a in body["agents"]} == {alice.pk, bob.pk, dave.pk}
    assert {t["id"] for t in body["teams"]} == {team_a.pk, team_b.pk}
    assert body["may_unassign"] is True and body["assign_to_me"] is True
    # Each choice listed is one the server accepts.
    for agent in body["agents"]:
        response = api(alice).patch(f"{URL}{conversation.pk}/", {"assignee": agent["id"]}, format="json")
        assert response.status_code == 200, response.content
    assert api(alice).patch(f"{URL}{conversation.pk}/", {"assignee": charlie.pk}, format="json").status_code == 400


def test_an_agent_routing_outside_their_teams_is_refused(api, bob, team_b, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    response = api(bob).patch(f"{URL}{conversation.pk}/", {"team": team_b.pk}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert Conversation.objects.get(pk=conversation.pk).team_id != team_b.pk


# --- 8. Notifications -------------------------------------------------------------------------------


def test_an_assignment_by_someone_else_notifies_the_assignee_live_and_in_the_bell(api, alice, bob, messenger_inbox,
                                                                                 commit, frames):
    conversation = conversation_make(messenger_inbox, name="Ada")
    api(alice).patch(f"{URL}{conversation.pk}/", {"assignee": bob.pk}, format="json")

    live = [(groups, f) for groups, f in frames if f["type"] == "notification"]
    assert len(live) == 1
    groups, frame = live[0]
    assert groups == [f"user-{bob.pk}"]
    assert (frame["kind"], frame["conversation"], frame["by"]["id"], frame["text"]) == ("assignment", conversation.pk,
                                                                                        alice.pk, "Ada")
    page = api(bob).get("/api/v1/agents/me/notifications/").json()
    assert page["unread"] == 1
    assert [(n["id"], n["kind"], n["conversation"]) for n in page["results"]] == [
        (frame["notification"], "assignment", conversation.pk)]
    assert api(bob).post("/api/v1/agents/me/notifications/read/", {"ids": [frame["notification"]]},
                         format="json").json() == {"marked": 1}
    assert api(bob).get("/api/v1/agents/me/notifications/").json()["unread"] == 0


def test_taking_a_conversation_yourself_notifies_nobody(api, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    api(bob).patch(f"{URL}{conversation.pk}/", {"assignee": bob.pk}, format="json")
    assert not Notification.objects.exists()


def test_a_mention_and_an_assignment_both_count_in_the_bell(api, alice, bob, messenger_inbox):
    conversation = conversation_make(messenger_inbox)
    api(alice).post(f"{URL}{conversation.pk}/notes/", {"text": "@bob can you check this?"}, format="json")
    from inbox.team.mentions import note_mentions_notify

    note_mentions_notify(note=Message.objects.get(is_private=True))
    api(alice).patch(f"{URL}{conversation.pk}/", {"assignee": bob.pk}, format="json")
    page = api(bob).get("/api/v1/agents/me/notifications/").json()
    assert page["unread"] == 2
    assert [n["kind"] for n in page["results"]] == ["assignment", "mention"]


# --- 9. Retry a failed send -------------------------------------------------------------------------


@pytest.fixture
def failed_reply(api, bob, messenger_inbox, fake_provider, django_capture_on_commit_callbacks):
    """A reply Meta refused for good (the user cannot receive messages now), in an open window."""
    conversation = conversation_make(messenger_inbox, customer_wrote_ago=timedelta(minutes=10))
    fake_provider.script(MESSAGES_PATH, status=400, json_body=load_fixture("meta/error_user_unavailable.json"))
    with django_capture_on_commit_callbacks(execute=True):
        body = api(bob).post(f"{URL}{conversation.pk}/messages/", {"text": "Your parcel left."}, format="json").json()
    message = Message.objects.get(pk=body["id"])
    assert message.status == MessageStatus.FAILED
    fake_provider.reset()
    return message


def test_retry_requeues_the_same_row_and_sends_it(api, bob, failed_reply, fake_provider, django_capture_on_commit_callbacks):
    url = f"{URL}{failed_reply.conversation_id}/messages/{failed_reply.pk}/retry/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(bob).post(url)

    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["status"], response.json()["error"]) == (failed_reply.pk, "queued", None)
    failed_reply.refresh_from_db()
    assert failed_reply.status == "sent" and failed_reply.external_id.startswith("m_fake")
    assert len(fake_provider.sent(MESSAGES_PATH)) == 1
    assert Message.objects.filter(conversation=failed_reply.conversation, direction="out").count() == 1


def test_retry_after_the_window_closed_is_refused_and_the_message_stays_failed(api, bob, failed_reply, fake_provider):
    Conversation.objects.filter(pk=failed_reply.conversation_id).update(
        last_customer_action_at=timezone.now() - timedelta(days=2))
    response = api(bob).post(f"{URL}{failed_reply.conversation_id}/messages/{failed_reply.pk}/retry/")
    assert (response.status_code, response.json()["code"]) == (409, "window_closed")
    failed_reply.refresh_from_db()
    assert failed_reply.status == "failed" and failed_reply.error_code == "551"
    assert fake_provider.sent() == []


def test_only_a_failed_reply_of_this_conversation_can_be_retried(api, bob, messenger_inbox, failed_reply):
    conversation = failed_reply.conversation
    inbound = customer_says(conversation, "Hi")
    client = api(bob)
    assert client.post(f"{URL}{conversation.pk}/messages/{inbound.pk}/retry/").json()["code"] == "not_retryable"
    Message.objects.filter(pk=failed_reply.pk).update(status="sent")
    refused = client.post(f"{URL}{conversation.pk}/messages/{failed_reply.pk}/retry/")
    assert (refused.status_code, refused.json()["code"]) == (409, "not_failed")
    other = conversation_make(messenger_inbox)
    assert client.post(f"{URL}{other.pk}/messages/{failed_reply.pk}/retry/").status_code == 404
