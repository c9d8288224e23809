"""Automation rules at work: conditions, actions, order, once per event, loops cut, conflicts (the
first rule wins), a failing action rolled back and logged, the default rules, time-based triggers,
order and SLA triggers, automated replies as `bot` under the channel's rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from customers.models import Order
from customers.services import customer_event_publish, labels_for
from inbox.conversations.triage import conversation_update
from inbox.models import (
    ConversationStatus,
    Macro,
    Message,
    Notification,
    ResponseRecord,
    Role,
    Rule,
    RuleRun,
    SenderType,
    SlaClock,
)
from inbox.rules import engine
from inbox.rules.services import rule_create
from inbox.rules.timers import time_rules_dispatch
from inbox.sla.alerts import alerts_dispatch

from ..conftest import make_user
from ..sla.helpers import T0, customer_writes, fresh, make_policy, page_replies

pytestmark = pytest.mark.django_db


def add_rule(name: str, trigger: str, actions: list, conditions: list | None = None, **fields) -> Rule:
    return rule_create(data={"name": name, "trigger": trigger, "actions": actions, "conditions": conditions or [],
                             **fields}, by=None)


def runs(rule: Rule) -> list[RuleRun]:
    return list(RuleRun.objects.filter(rule=rule).order_by("id"))


def test_a_matching_rule_acts_and_logs_what_it_did_and_a_rule_that_does_not_match_logs_why(messenger_inbox, bob):
    vip = add_rule("VIP refunds", "message_received",
                   [{"type": "assign", "to": "agent", "agent": bob.pk}, {"type": "set_priority", "priority": "high"}],
                   [{"field": "customer_tag", "op": "has", "value": "vip"},
                    {"field": "text", "op": "contains_word", "value": ["refund", "money back"]}])
    sms_only = add_rule("SMS only", "message_received", [{"type": "label", "add": ["sms"]}],
                        [{"field": "channel", "op": "is", "value": "sms"}])
    first = customer_writes(messenger_inbox, "psid-1", T0, text="hello")
    first.conversation.customer.labels.set(labels_for(["vip"]))
    message = customer_writes(messenger_inbox, "psid-1", T0 + timedelta(minutes=1), text="I want a REFUND, please")

    conversation = fresh(message.conversation_id)
    assert conversation.assignee == bob and conversation.priority == "high"
    done = runs(vip)[-1]
    assert (done.status, done.event_key, done.trigger) == ("done", f"message:{message.pk}", "message_received")
    assert [a["description"] for a in done.actions] == ["Assigned to bob", "Priority high"]
    skipped = runs(sms_only)[-1]
    assert skipped.status == "skipped" and skipped.reason == "condition not met: channel is sms"
    assert runs(vip)[0].reason == "condition not met: customer_tag has vip"  # not tagged yet


def test_rules_run_in_position_order_and_the_first_to_change_a_thing_wins(messenger_inbox, alice, bob, team_a):
    evan = make_user("evan", Role.AGENT, [team_a])
    later = add_rule("To Evan", "message_received", [{"type": "assign", "to": "agent", "agent": evan.pk}], position=20)
    sooner = add_rule("To Bob", "message_received", [{"type": "assign", "to": "agent", "agent": bob.pk}], position=10)
    message = customer_writes(messenger_inbox, "psid-2", T0)
    assert fresh(message.conversation_id).assignee == bob
    assert runs(sooner)[0].actions[0]["done"] is True
    lost = runs(later)[0]
    assert lost.status == "done" and lost.actions[0]["done"] is False
    assert "already set by the rule 'To Bob'" in lost.actions[0]["description"]


def test_a_rule_runs_once_per_event_however_often_the_event_is_seen(messenger_inbox):
    rule = add_rule("Note it", "message_received", [{"type": "note", "text": "Seen by the rules."}])
    message = customer_writes(messenger_inbox, "psid-3", T0)
    engine.rules_run(conversation_id=message.conversation_id, trigger="message_received",
                     event_key=f"message:{message.pk}", message=message)
    assert len(runs(rule)) == 1
    notes = Message.objects.filter(conversation_id=message.conversation_id, is_private=True)
    assert [(n.text, n.sender_type) for n in notes] == [("Seen by the rules.", SenderType.BOT)]


def test_rules_setting_each_other_off_stop_a_rule_never_runs_twice_in_one_chain(messenger_inbox, alice, bob):
    resolve = add_rule("Assigned: resolve", "assigned", [{"type": "resolve"}])
    hand_back = add_rule("Resolved: round-robin", "resolved", [{"type": "assign", "to": "nobody"}])
    message = customer_writes(messenger_inbox, "psid-4", T0)
    conversation_update(conversation=message.conversation, by=alice, assignee=bob)
    conversation = fresh(message.conversation_id)
    # assigned -> resolve -> resolved -> unassign -> assigned again: "Assigned: resolve" already acted.
    assert conversation.status == ConversationStatus.RESOLVED and conversation.assignee is None
    assert [r.status for r in runs(resolve)] == ["done", "skipped"]
    assert "already acted in this chain" in runs(resolve)[1].reason
    assert [(r.status, r.depth) for r in runs(hand_back)] == [("done", 1)]


def test_the_chain_stops_at_the_depth_limit(messenger_inbox, alice, bob, monkeypatch):
    monkeypatch.setattr(engine, "MAX_DEPTH", 0)
    add_rule("Assigned: resolve", "assigned", [{"type": "resolve"}])
    deep = add_rule("Resolved: label", "resolved", [{"type": "label", "add": ["done"]}])
    message = customer_writes(messenger_inbox, "psid-5", T0)
    conversation_update(conversation=message.conversation, by=alice, assignee=bob)
    [cut] = runs(deep)
    assert cut.status == "skipped" and "rules deep" in cut.reason
    assert not fresh(message.conversation_id).labels.exists()


def test_a_failing_action_rolls_back_everything_its_rule_did_and_is_logged(messenger_inbox, bob, team_a):
    evan = make_user("evan", Role.AGENT, [team_a])
    broken = add_rule("Label and assign", "message_received",
                      [{"type": "label", "add": ["triaged"]}, {"type": "set_priority", "priority": "urgent"},
                       {"type": "assign", "to": "agent", "agent": evan.pk}], position=1)
    fine = add_rule("Note", "message_received", [{"type": "note", "text": "Still here."}], position=2)
    evan.is_active = False  # left the company after the rule was saved
    evan.save()
    message = customer_writes(messenger_inbox, "psid-6", T0)
    conversation = fresh(message.conversation_id)
    assert not conversation.labels.exists() and conversation.priority == "normal" and conversation.assignee is None
    [failed] = runs(broken)
    assert failed.status == "failed"
    assert "action 3 (assign) failed: agent" in failed.reason and "nothing of this rule was kept" in failed.reason
    assert [a.get("rolled_back") for a in failed.actions[:2]] == [True, True]
    assert runs(fine)[0].status == "done"  # the other rules keep what they did
    assert Message.objects.filter(conversation=conversation, is_private=True, text="Still here.").exists()


def test_the_default_rule_reopens_a_resolved_conversation_when_the_customer_writes_and_can_be_switched_off(
    messenger_inbox, bob
):
    message = customer_writes(messenger_inbox, "psid-7", T0)
    conversation_update(conversation=message.conversation, by=bob, status=ConversationStatus.RESOLVED)
    customer_writes(messenger_inbox, "psid-7", T0 + timedelta(hours=1))
    assert fresh(message.conversation_id).status == ConversationStatus.OPEN
    default = Rule.objects.get(key="reopen_on_customer_message")
    assert runs(default)[-1].status == "done"
    Rule.objects.filter(pk=default.pk).update(active=False)
    conversation_update(conversation=message.conversation, by=bob, status=ConversationStatus.RESOLVED)
    customer_writes(messenger_inbox, "psid-7", T0 + timedelta(hours=2))
    assert fresh(message.conversation_id).status == ConversationStatus.RESOLVED


def test_an_automated_reply_is_a_bot_message_that_answers_nothing(messenger_inbox, fake_provider, commit):
    make_policy()
    add_rule("Acknowledge", "conversation_created", [{"type": "reply", "text": "Thanks {{ customer.first_name }}!"}])
    with time_machine.travel(T0, tick=False):
        message = message = customer_writes(messenger_inbox, "psid-8", T0)
    [reply] = Message.objects.filter(conversation_id=message.conversation_id, direction="out")
    assert (reply.sender_type, reply.status, reply.tag) == (SenderType.BOT, "sent", "")
    assert ResponseRecord.objects.get(customer_message=message).responded_at is None
    assert SlaClock.objects.get(conversation_id=message.conversation_id, target="first_response").met_at is None


def test_an_automated_reply_the_window_refuses_is_skipped_and_logged(messenger_inbox, commit):
    nudge = add_rule("Nudge", "no_agent_reply", [{"type": "reply", "text": "Still with us?"}, {"type": "set_priority",
                                                                                             "priority": "high"}],
                     delay_seconds=25 * 3600)
    message = customer_writes(messenger_inbox, "psid-9", T0)
    time_rules_dispatch(now=T0 + timedelta(hours=25, minutes=1))  # the 24 h window has closed
    [run] = runs(nudge)
    assert run.status == "done"
    assert run.actions[0]["done"] is False and "window_closed" in run.actions[0]["description"]
    assert fresh(message.conversation_id).priority == "high"
    assert not Message.objects.filter(conversation_id=message.conversation_id, direction="out").exists()


def test_an_sms_reply_from_a_time_based_rule_waits_for_the_end_of_quiet_hours(sms_inbox):
    nudge = add_rule("Nudge", "no_customer_reply", [{"type": "reply", "text": "Anything else?"}], delay_seconds=3600)
    message = customer_writes(sms_inbox, "+14155550111", T0)  # 09:00 UTC
    message.conversation.customer.timezone = "America/Los_Angeles"  # 01:00 there
    message.conversation.customer.save()
    from inbox.conversations.reply import reply_send

    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        reply_send(conversation=message.conversation, author=None, text="We're on it.", sender_type=SenderType.BOT)
    time_rules_dispatch(now=T0 + timedelta(hours=1, minutes=2))
    [run] = runs(nudge)
    assert "quiet hours" in run.actions[0]["description"]


def test_auto_resolve_after_days_without_a_customer_reply_is_a_rule_and_acts_once(messenger_inbox, commit):
    rule = Rule.objects.get(key="resolve_after_silence")
    rule.active = True
    rule.save()
    message = customer_writes(messenger_inbox, "psid-10", T0)
    page_replies(messenger_inbox, "psid-10", T0 + timedelta(minutes=5))
    assert time_rules_dispatch(now=T0 + timedelta(days=6)) == {}
    assert time_rules_dispatch(now=T0 + timedelta(days=7, minutes=10)) == {"no_customer_reply": 1}
    assert fresh(message.conversation_id).status == ConversationStatus.RESOLVED
    assert time_rules_dispatch(now=T0 + timedelta(days=7, minutes=11)) == {}
    assert len(runs(rule)) == 1


def test_a_customer_waiting_too_long_notifies_the_team_lead(messenger_inbox, team_a):
    dana = make_user("dana", Role.LEAD, [team_a])
    add_rule("Waiting 30 min", "no_agent_reply", [{"type": "notify", "team_leads": True,
                                                   "text": "{{ customer.name }} has waited 30 minutes."}],
             delay_seconds=1800)
    customer_writes(messenger_inbox, "psid-11", T0)
    time_rules_dispatch(now=T0 + timedelta(minutes=31))
    [note] = Notification.objects.filter(user=dana, kind="rule")
    assert note.data["text"].endswith("has waited 30 minutes.")


def test_a_snooze_that_ends_wakes_the_conversation(messenger_inbox, bob):
    message = customer_writes(messenger_inbox, "psid-12", T0)
    with time_machine.travel(T0, tick=False):
        conversation_update(conversation=message.conversation, by=bob, status=ConversationStatus.SNOOZED,
                            snoozed_until=T0 + timedelta(hours=2))
    time_rules_dispatch(now=T0 + timedelta(hours=1))
    assert fresh(message.conversation_id).status == ConversationStatus.SNOOZED
    time_rules_dispatch(now=T0 + timedelta(hours=2, minutes=1))
    conversation = fresh(message.conversation_id)
    assert conversation.status == ConversationStatus.OPEN and conversation.snoozed_until is None


def test_an_order_event_runs_its_rules_on_the_customers_conversation(messenger_inbox, commit):
    rule = add_rule("Big order", "order_created", [{"type": "label", "add": ["big order"]}],
                    [{"field": "lifetime_value", "op": "gte", "value": 100}, {"field": "has_open_order", "op": "is", "value": True}])
    message = customer_writes(messenger_inbox, "psid-13", T0)
    customer = message.conversation.customer
    order = Order.objects.create(customer=customer, external_id="o1", number="1042", total=Decimal("120.00"),
                                 financial_status="paid", placed_at=T0)
    customer_event_publish(customer=customer, name="order.created", properties={"order_id": order.pk},
                           dedupe_key="order.created:test:o1")
    assert list(fresh(message.conversation_id).labels.values_list("name", flat=True)) == ["big order"]
    assert runs(rule)[0].event_key.startswith("customer_event:")


def test_an_sla_breach_can_raise_the_priority_and_a_rule_can_apply_a_policy(messenger_inbox, admin_user):
    vip = make_policy("VIP", first_response_seconds=300)
    add_rule("VIP policy", "message_received", [{"type": "apply_sla_policy", "policy": vip.pk}],
             [{"field": "text", "op": "matches", "value": "*urgent*"}])
    add_rule("Breached: urgent", "sla_breach", [{"type": "set_priority", "priority": "urgent"}])
    make_policy("Standard")
    message = customer_writes(messenger_inbox, "psid-14", T0, text="This is URGENT")
    conversation = fresh(message.conversation_id)
    assert (conversation.sla_policy, conversation.sla_policy_source) == (vip, "rule")
    assert conversation.sla_next_due_at == T0 + timedelta(minutes=5)
    alerts_dispatch(now=T0 + timedelta(minutes=6))
    assert fresh(conversation).priority == "urgent"


def test_a_rule_applies_a_team_macro_whose_reply_goes_out_as_a_bot(messenger_inbox, team_a, fake_provider, commit):
    macro = Macro.objects.create(name="Where is my order", team=team_a, actions=[
        {"type": "reply", "text": "Hi {{ customer.first_name }}, we are checking."}, {"type": "labels", "add": ["wismo"]}])
    add_rule("WISMO", "message_received", [{"type": "apply_macro", "macro": macro.pk}],
             [{"field": "text", "op": "contains", "value": "where is my order"}])
    with time_machine.travel(T0, tick=False):
        message = customer_writes(messenger_inbox, "psid-15", T0, text="Hello, where is my order?")
    conversation = fresh(message.conversation_id)
    assert list(conversation.labels.values_list("name", flat=True)) == ["wismo"]
    [reply] = Message.objects.filter(conversation=conversation, direction="out")
    assert reply.sender_type == SenderType.BOT and reply.author is None
    assert Macro.objects.get(pk=macro.pk).usage_count == 1


def test_admins_see_a_conversations_rule_runs_and_agents_do_not(api, admin_user, bob, messenger_inbox):
    message = customer_writes(messenger_inbox, "psid-16", T0)
    url = f"/api/v1/conversations/{message.conversation_id}/rule-runs/"
    assert api(bob).get(url).status_code == 403
    body = api(admin_user).get(url).json()
    assert [r["rule"]["name"] for r in body["results"]] == ["Reopen when the customer writes"]
    assert body["results"][0]["status"] == "skipped"
    rule = Rule.objects.get(key="reopen_on_customer_message")
    assert api(admin_user).get(f"/api/v1/rules/{rule.pk}/runs/").json()["results"][0]["conversation"] == message.conversation_id
