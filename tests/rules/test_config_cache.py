"""Rules and SLA policies are cached per process (inbox/versions.py) and every change is seen by the
next message: through the services, a `QuerySet.update` or raw SQL (no Django signal: what another
process's change looks like to this one), a delete, a change rolled back (never seen), a schedule
changed in the inbox's settings. A batch of events checks the versions once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inbox import versions
from inbox.models import Rule, RuleRun, SlaClock, SlaPolicy
from inbox.rules import engine
from inbox.rules.services import rule_create, rule_update

from ..sla.helpers import T0, customer_writes, fresh, make_policy

pytestmark = pytest.mark.django_db


def labelled(name: str, text: str, label: str) -> Rule:
    return rule_create(data={"name": name, "trigger": "message_received", "conditions": [
        {"field": "text", "op": "contains", "value": text}], "actions": [{"type": "label", "add": [label]}]}, by=None)


def labels(message) -> set[str]:
    return set(fresh(message.conversation_id).labels.values_list("name", flat=True))


def rule_reads(queries) -> int:
    return sum('FROM "inbox_rule"' in q["sql"] for q in queries.captured_queries)


def test_rules_are_read_once_and_again_only_after_a_change(messenger_inbox):
    labelled("Refunds", "refund", "refund")
    customer_writes(messenger_inbox, "p1", T0, text="a refund please")
    with CaptureQueriesContext(connection) as unchanged:
        message = customer_writes(messenger_inbox, "p2", T0, text="refund?")
    assert labels(message) == {"refund"}
    assert rule_reads(unchanged) == 0  # cached: only the versions were read

    labelled("Invoices", "invoice", "invoice")
    with CaptureQueriesContext(connection) as changed:
        message = customer_writes(messenger_inbox, "p3", T0, text="refund and invoice")
    assert labels(message) == {"refund", "invoice"}
    assert rule_reads(changed) >= 1


@pytest.mark.parametrize("how", ["service", "queryset_update", "raw_sql"])
def test_a_changed_rule_is_seen_by_the_next_message_however_it_was_changed(messenger_inbox, how):
    rule = labelled("Refunds", "refund", "refund")
    assert labels(customer_writes(messenger_inbox, "p1", T0, text="refund")) == {"refund"}
    conditions = [{"field": "text", "op": "contains", "value": "parcel"}]
    if how == "service":
        rule_update(rule=rule, data={"conditions": conditions}, by=None)
    elif how == "queryset_update":  # no post_save: as when another process saved it
        Rule.objects.filter(pk=rule.pk).update(conditions=conditions)
    else:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE inbox_rule SET active = false WHERE id = %s", [rule.pk])

    assert labels(customer_writes(messenger_inbox, "p2", T0, text="refund")) == set()
    if how != "raw_sql":
        assert labels(customer_writes(messenger_inbox, "p3", T0, text="my parcel")) == {"refund"}


def test_a_deleted_rule_no_longer_runs_and_a_change_rolled_back_is_never_seen(messenger_inbox):
    rule = labelled("Refunds", "refund", "refund")
    customer_writes(messenger_inbox, "p1", T0, text="refund")
    try:
        with transaction.atomic():
            Rule.objects.filter(pk=rule.pk).update(conditions=[{"field": "text", "op": "contains", "value": "x"}])
            assert engine.rules_for("message_received")[-1].conditions[0]["value"] == "x"  # cached under its version
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert engine.rules_for("message_received")[-1].conditions[0]["value"] == "refund"
    assert labels(customer_writes(messenger_inbox, "p2", T0, text="refund")) == {"refund"}

    Rule.objects.filter(pk=rule.pk).delete()
    message = customer_writes(messenger_inbox, "p3", T0, text="refund")
    assert labels(message) == set()
    assert not RuleRun.objects.filter(conversation_id=message.conversation_id, rule_id=rule.pk).exists()


def test_a_policy_changed_or_added_is_seen_by_the_next_message(messenger_inbox):
    policy = make_policy(first_response_seconds=900)
    first = customer_writes(messenger_inbox, "p1", T0)
    assert SlaClock.objects.get(conversation_id=first.conversation_id, target="first_response").due_at == \
        T0 + timedelta(seconds=900)

    SlaPolicy.objects.filter(pk=policy.pk).update(first_response_seconds=60)  # no signal, no updated_at
    second = customer_writes(messenger_inbox, "p2", T0)
    assert SlaClock.objects.get(conversation_id=second.conversation_id, target="first_response").due_at == \
        T0 + timedelta(seconds=60)

    SlaPolicy.objects.filter(pk=policy.pk).update(active=False)
    third = customer_writes(messenger_inbox, "p3", T0)
    assert fresh(third.conversation_id).sla_state == {}

    make_policy("Later", first_response_seconds=120)
    fourth = customer_writes(messenger_inbox, "p4", T0)
    assert fresh(fourth.conversation_id).sla_state["policy"]["name"] == "Later"


def test_business_hours_changed_in_the_inbox_settings_are_seen_by_the_next_message(messenger_inbox):
    rule_create(data={"name": "After hours", "trigger": "message_received", "conditions": [
        {"field": "business_hours", "op": "is", "value": False}], "actions": [{"type": "label", "add": ["after"]}]},
        by=None)
    at = T0  # Monday 09:00 UTC
    messenger_inbox.settings = {"business_hours": {"timezone": "UTC", "hours": {"mon": [["08:00", "17:00"]]}}}
    messenger_inbox.save(update_fields=["settings"])
    import time_machine

    with time_machine.travel(at, tick=False):
        assert labels(customer_writes(messenger_inbox, "p1", at)) == set()  # open
        messenger_inbox.settings = {"business_hours": {"timezone": "UTC", "hours": {"mon": [["10:00", "17:00"]]}}}
        messenger_inbox.save(update_fields=["settings"])
        assert labels(customer_writes(messenger_inbox, "p2", at)) == {"after"}  # closed now


def test_within_one_scope_the_versions_are_read_once():
    with CaptureQueriesContext(connection) as queries, versions.checked_once():
        for _ in range(5):
            engine.rules_for("message_received")
            engine.rules_for("resolved")
            from inbox.sla.policies import active_policies

            active_policies()
    reads = [q for q in queries.captured_queries if "inbox_config_version" in q["sql"]]
    assert len(reads) <= 2  # at most the table's existence (once per process) and the versions
    assert sum("FROM inbox_config_version" in q["sql"] for q in reads) == 1
