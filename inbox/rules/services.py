"""Saving rules (admins only; the API checks who): refused with `{code, detail}` when they cannot work."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from inbox.audit import audit_record
from inbox.models import Rule, RuleRun
from inbox.rules.schema import RuleRefused, rule_clean


def rule_create(*, data: Any, by) -> Rule:
    fields = rule_clean(data)
    with transaction.atomic():
        rule = Rule.objects.create(**fields, created_by=by)
        audit_record(actor=by, action="rule.create", target=rule, data={"name": rule.name, "trigger": rule.trigger})
    return rule


def rule_update(*, rule: Rule, data: Any, by) -> Rule:
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        fields = rule_clean(data, instance=rule)
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.save()
        audit_record(actor=by, action="rule.update", target=rule, data={"fields": sorted(data) if isinstance(data, dict) else []})
    return rule


def rule_delete(*, rule: Rule, by) -> None:
    if rule.key:
        raise RuleRefused("default_rule", "A default rule is switched off, not deleted: PATCH it with {\"active\": false}.", 409)
    with transaction.atomic():
        audit_record(actor=by, action="rule.delete", target=rule, data={"name": rule.name})
        rule.delete()


def runs_of(*, rule: Rule | None = None, conversation_id: int | None = None) -> QuerySet[RuleRun]:
    runs = RuleRun.objects.select_related("rule")
    if rule is not None:
        runs = runs.filter(rule=rule)
    if conversation_id is not None:
        runs = runs.filter(conversation_id=conversation_id)
    return runs
