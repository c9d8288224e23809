"""`/api/v1/rules/` (admins) refuses a rule that cannot work when it is saved, with `{code, detail}`;
`/api/v1/sla-policies/`: everyone reads, admins write, refused likewise."""

from __future__ import annotations

import pytest

from inbox.models import Macro, Rule

pytestmark = pytest.mark.django_db

RULES = "/api/v1/rules/"
POLICIES = "/api/v1/sla-policies/"


def rule(**fields) -> dict:
    return {"name": "A rule", "trigger": "message_received", "actions": [{"type": "set_priority", "priority": "high"}],
            **fields}


def refused(response, code: str, status: int = 400) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body["detail"]


def test_only_admins_see_and_write_rules(api, admin_user, alice, bob):
    assert api(bob).get(RULES).status_code == 403
    assert api(alice).post(RULES, rule(), format="json").status_code == 403
    created = api(admin_user).post(RULES, rule(position=5), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["position"] == 5 and created.json()["default"] is False
    listed = api(admin_user).get(RULES).json()["results"]
    assert [r["name"] for r in listed][:1] == ["Reopen when the customer writes"]  # position 0: the default


@pytest.mark.parametrize(("body", "code"), [
    (rule(trigger="message_deleted"), "unknown_trigger"),
    (rule(trigger="no_agent_reply"), "missing_delay"),
    (rule(delay_seconds=600), "invalid_value"),
    (rule(conditions=[{"field": "mood", "op": "is", "value": "angry"}]), "unknown_field"),
    (rule(conditions=[{"field": "channel", "op": "contains", "value": "sms"}]), "unknown_operator"),
    (rule(conditions=[{"field": "channel", "op": "is", "value": "fax"}]), "invalid_value"),
    (rule(conditions=[{"field": "lifetime_value", "op": "gt", "value": "lots"}]), "invalid_value"),
    (rule(conditions=[{"field": "has_open_order", "op": "is", "value": "yes"}]), "invalid_value"),
    (rule(conditions=[{"field": "status", "op": "in", "value": "open"}]), "invalid_value"),
    (rule(conditions=[{"field": "text", "op": "regex", "value": "(a+)+$"}]), "unsafe_pattern"),
    (rule(conditions=[{"field": "text", "op": "matches", "value": "*a*a*a*a*a*a*a*a*a*"}]), "unsafe_pattern"),
    (rule(actions=[{"type": "delete_customer"}]), "unknown_action"),
    (rule(actions=[{"type": "assign", "to": "agent", "agent": 999999}]), "invalid_value"),
    (rule(actions=[{"type": "assign", "to": "me"}]), "invalid_action"),
    (rule(actions=[{"type": "snooze", "minutes": 30}, {"type": "resolve"}]), "conflicting_actions"),
    (rule(actions=[{"type": "label", "add": ["vip"]}, {"type": "label", "remove": ["vip"]}]), "conflicting_actions"),
    (rule(actions=[{"type": "reply", "text": "Hi {% include 'x' %}"}]), "invalid_value"),
    (rule(actions=[]), "invalid"),
    (rule(colour="red"), "unknown_field"),
])
def test_a_rule_that_cannot_work_is_refused_when_saved(api, admin_user, body, code):
    refused(api(admin_user).post(RULES, body, format="json"), code)
    assert not Rule.objects.filter(name="A rule").exists()


def test_a_cycle_through_apply_a_macro_is_refused(api, admin_user, team_a):
    resolves = Macro.objects.create(name="Wrap up", team=team_a, actions=[{"type": "status", "status": "resolved"}])
    reopens = Macro.objects.create(name="Reopen", team=team_a, actions=[{"type": "status", "status": "open"}])
    client = api(admin_user)
    first = client.post(RULES, rule(name="Reopened: wrap up", trigger="reopened",
                                    actions=[{"type": "apply_macro", "macro": resolves.pk}]), format="json")
    assert first.status_code == 201, first.content
    detail = refused(client.post(RULES, rule(name="Resolved: reopen", trigger="resolved",
                                             actions=[{"type": "apply_macro", "macro": reopens.pk}]), format="json"),
                     "macro_cycle")
    assert "Reopened: wrap up" in detail and "Resolved: reopen" in detail
    # A macro setting off its own rule is a cycle too.
    refused(client.post(RULES, rule(name="Loop", trigger="resolved", actions=[{"type": "apply_macro", "macro": resolves.pk}]),
                        format="json"), "macro_cycle")
    # Switched off, it cannot loop: saved.
    assert client.post(RULES, rule(name="Off", trigger="resolved", active=False,
                                   actions=[{"type": "apply_macro", "macro": reopens.pk}]), format="json").status_code == 201


def test_a_personal_macro_or_one_acting_as_me_cannot_be_applied_by_a_rule(api, admin_user, bob, team_a):
    mine = Macro.objects.create(name="Mine", owner=bob, actions=[{"type": "status", "status": "resolved"}])
    take = Macro.objects.create(name="Take it", team=team_a, actions=[{"type": "assign", "to": "me"}])
    for macro in (mine, take):
        refused(api(admin_user).post(RULES, rule(actions=[{"type": "apply_macro", "macro": macro.pk}]), format="json"),
                "invalid_action")


def test_a_change_is_checked_with_the_rest_of_the_rule_and_a_default_rule_is_switched_off_not_deleted(api, admin_user):
    client = api(admin_user)
    default = Rule.objects.get(key="reopen_on_customer_message")
    refused(client.patch(f"{RULES}{default.pk}/", {"actions": [{"type": "reopen"}, {"type": "resolve"}]}, format="json"),
            "conflicting_actions")
    refused(client.delete(f"{RULES}{default.pk}/"), "default_rule", 409)
    assert client.patch(f"{RULES}{default.pk}/", {"active": False}, format="json").json()["active"] is False


def test_everyone_reads_sla_policies_and_only_admins_write_them(api, admin_user, alice, bob):
    created = api(admin_user).post(POLICIES, {"name": "Standard", "first_response_seconds": 900,
                                              "notify_users": [alice.pk]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["warn_before_seconds"] == 900
    assert [p["name"] for p in api(bob).get(POLICIES).json()["results"]] == ["Standard"]
    assert api(bob).post(POLICIES, {"name": "Mine", "first_response_seconds": 60}, format="json").status_code == 403
    assert api(alice).patch(f"{POLICIES}{created.json()['id']}/", {"active": False}, format="json").status_code == 403
    assert api(admin_user).patch(f"{POLICIES}{created.json()['id']}/", {"active": False}, format="json").json()["active"] is False


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "X", "first_response_seconds": 900, "colour": "red"}, "unknown_field"),
    ({"name": "X"}, "no_targets"),
    ({"name": "X", "first_response_seconds": "15 min"}, "invalid_value"),
    ({"name": "X", "first_response_seconds": 0}, "invalid_value"),
    ({"name": "X", "first_response_seconds": 900, "channels": ["fax"]}, "unknown_channel"),
    ({"name": "X", "first_response_seconds": 900, "inboxes": [999999]}, "unknown_inbox"),
    ({"name": "X", "first_response_seconds": 900, "labels": "vip"}, "invalid_value"),
])
def test_a_policy_that_cannot_work_is_refused(api, admin_user, body, code):
    refused(api(admin_user).post(POLICIES, body, format="json"), code)


def test_only_managers_may_be_chosen_to_hear_of_breaches(api, admin_user, bob):
    detail = refused(api(admin_user).post(POLICIES, {"name": "X", "first_response_seconds": 60, "notify_users": [bob.pk]},
                                          format="json"), "not_a_manager")
    assert str(bob.pk) in detail


def test_the_django_admin_refuses_the_same_rules_the_api_does(db):
    from inbox.admin import RuleAdminForm

    form = RuleAdminForm(data={"name": "Sneaky", "active": True, "position": 1, "trigger": "message_received",
                               "conditions": '[{"field": "text", "op": "regex", "value": "(a+)+$"}]',
                               "actions": '[{"type": "resolve"}]'})
    assert not form.is_valid()
    assert "unsafe_pattern" in str(form.errors)
