"""SLA policies: which one applies to a conversation, and saving one (refused when it cannot work).

Which applies: a rule's choice (`Conversation.sla_policy_source == "rule"`), else the most specific
active policy whose conditions all match. A policy's conditions are lists (`inboxes`, `channels`,
`labels` of the conversation, `customer_tags`, the customer's labels), each matched when the
conversation has any of its values; a condition left empty matches everything. Specificity compares
which conditions a policy sets, in this order: label, customer tag, inbox, channel — so a label
policy beats a customer-tag policy, which beats an inbox policy, which beats a channel policy, and a
policy naming an inbox *and* a channel beats one naming the inbox alone. Equal ones: the oldest wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from customers.models import Channel, Label
from inbox import jobs, versions
from inbox.conversations.errors import ReplyRefused
from inbox.models import Agent, Conversation, Inbox, Role, SlaPolicy, SlaTarget

# A target longer than this is a typo, not a service level.
MAX_TARGET_SECONDS = 90 * 24 * 3600
MAX_LIST = 50
TARGET_FIELDS = {
    SlaTarget.FIRST_RESPONSE: "first_response_seconds",
    SlaTarget.NEXT_RESPONSE: "next_response_seconds",
    SlaTarget.RESOLUTION: "resolution_seconds",
}
FIELDS = {
    "name", "active", "first_response_seconds", "next_response_seconds", "resolution_seconds", "business_hours",
    "warn_before_seconds", "inboxes", "channels", "labels", "customer_tags", "notify_assignee", "notify_leads",
    "notify_users",
}
NOTIFIABLE_ROLES = (Role.MANAGER, Role.ADMIN)


class PolicyRefused(ReplyRefused):
    """A policy that cannot work: 400 `{code, detail}` (the API's error shape)."""

    def __init__(self, code: str, detail: str, status: int = 400):
        super().__init__(code, detail, status)


# --- Matching ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What policies match on, for one conversation."""

    inbox_id: int
    channel: str
    labels: frozenset[str]
    customer_tags: frozenset[str]


def specificity(policy: SlaPolicy) -> tuple[bool, bool, bool, bool]:
    return (bool(policy.labels), bool(policy.customer_tags), bool(policy.inboxes), bool(policy.channels))


def matches(policy: SlaPolicy, facts: Facts) -> bool:
    return (
        (not policy.inboxes or facts.inbox_id in policy.inboxes)
        and (not policy.channels or facts.channel in policy.channels)
        and (not policy.labels or bool(facts.labels & set(policy.labels)))
        and (not policy.customer_tags or bool(facts.customer_tags & set(policy.customer_tags)))
    )


def best_policy(policies: list[SlaPolicy], facts: Facts) -> SlaPolicy | None:
    """The most specific active policy matching `facts` (the oldest of equals), or None."""
    found = [p for p in policies if p.active and matches(p, facts)]
    if not found:
        return None
    return min(found, key=lambda p: (tuple(not s for s in specificity(p)), p.pk))


def facts_for(conversation_id: int, *, inbox_id: int, channel: str, customer_id: int, policies: list[SlaPolicy]) -> Facts:
    """Read only what some policy asks about (labels, customer tags): none, one or two queries."""
    labels: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    if any(p.labels for p in policies):
        labels = frozenset(Label.objects.filter(conversations=conversation_id).values_list("name", flat=True))
    if any(p.customer_tags for p in policies):
        tags = frozenset(Label.objects.filter(customers=customer_id).values_list("name", flat=True))
    return Facts(inbox_id=inbox_id, channel=channel, labels=labels, customer_tags=tags)


def _load(_key: object) -> list[SlaPolicy]:
    return list(SlaPolicy.objects.filter(active=True).order_by("pk"))


_active: versions.Cached[list[SlaPolicy]] = versions.Cached(versions.SLA_POLICIES, _load)


def active_policies() -> list[SlaPolicy]:
    """The active policies (oldest first), kept by this process until a policy changes in any
    process (inbox/versions.py). Treat them as read-only."""
    return _active.get()


# --- Saving -----------------------------------------------------------------------------------------


def _seconds(value: Any, name: str, *, allow_null: bool = True, minimum: int = 1) -> int | None:
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_TARGET_SECONDS:
        raise PolicyRefused("invalid_value", f"{name}: a whole number of seconds from {minimum} to {MAX_TARGET_SECONDS}.")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise PolicyRefused("invalid_value", f"{name}: a list of at most {MAX_LIST} names.")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 64:
            raise PolicyRefused("invalid_value", f"{name}: each is a name of 1 to 64 characters.")
        if item.strip() not in out:
            out.append(item.strip())
    return out


def _ids(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_LIST or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
    ):
        raise PolicyRefused("invalid_value", f"{name}: a list of at most {MAX_LIST} ids.")
    return list(dict.fromkeys(value))


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyRefused("invalid_value", f"{name}: true or false.")
    return value


def policy_clean(data: Any, *, instance: SlaPolicy | None = None) -> dict[str, Any]:
    """The fields to save, or PolicyRefused naming what cannot work (`unknown_field`, `invalid_value`,
    `no_targets`, `unknown_inbox`, `unknown_channel`, `not_a_manager`, `duplicate`)."""
    if not isinstance(data, dict):
        raise PolicyRefused("invalid", "A policy is a JSON object.")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise PolicyRefused("unknown_field", f"Unknown field {unknown[0]!r}; a policy has {', '.join(sorted(FIELDS))}.")
    out: dict[str, Any] = {}
    if "name" in data or instance is None:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100 or "\x00" in name:
            raise PolicyRefused("invalid_value", "name: 1 to 100 characters.")
        clash = SlaPolicy.objects.filter(name=name.strip())
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            raise PolicyRefused("duplicate", f"A policy named {name.strip()!r} exists.", 409)
        out["name"] = name.strip()
    for field in TARGET_FIELDS.values():
        if field in data:
            out[field] = _seconds(data[field], field)
    if "warn_before_seconds" in data:
        out["warn_before_seconds"] = _seconds(data["warn_before_seconds"], "warn_before_seconds", allow_null=False, minimum=0)
    for field in ("active", "business_hours", "notify_assignee", "notify_leads"):
        if field in data:
            out[field] = _bool(data[field], field)
    if "inboxes" in data:
        ids = _ids(data["inboxes"], "inboxes")
        missing = sorted(set(ids) - set(Inbox.objects.filter(pk__in=ids).values_list("pk", flat=True)))
        if missing:
            raise PolicyRefused("unknown_inbox", f"inboxes: no inbox {missing[0]}.")
        out["inboxes"] = ids
    if "channels" in data:
        channels = _strings(data["channels"], "channels")
        bad = [c for c in channels if c not in Channel.values]
        if bad:
            raise PolicyRefused("unknown_channel", f"channels: {bad[0]!r} is not one of {', '.join(Channel.values)}.")
        out["channels"] = channels
    for field in ("labels", "customer_tags"):
        if field in data:
            out[field] = _strings(data[field], field)
    if "notify_users" in data:
        ids = _ids(data["notify_users"], "notify_users")
        managers = set(
            get_user_model().objects.filter(pk__in=ids, is_active=True)
            .filter(agent__role__in=NOTIFIABLE_ROLES).values_list("pk", flat=True)
        ) | set(get_user_model().objects.filter(pk__in=ids, is_active=True, is_superuser=True).values_list("pk", flat=True))
        others = [i for i in ids if i not in managers]
        if others:
            raise PolicyRefused("not_a_manager", f"notify_users: user {others[0]} is not an active manager or admin.")
        out["notify_users"] = ids
    merged = {field: out.get(field, getattr(instance, field) if instance else None) for field in TARGET_FIELDS.values()}
    if not any(merged.values()):
        raise PolicyRefused("no_targets", "A policy needs at least one target: first_response_seconds, "
                                          "next_response_seconds or resolution_seconds.")
    return out


def policy_create(*, data: Any, by) -> SlaPolicy:
    fields = policy_clean(data)
    with transaction.atomic():
        policy = SlaPolicy.objects.create(**fields, created_by=by)
        policies_changed()
    return policy


def policy_update(*, policy: SlaPolicy, data: Any) -> SlaPolicy:
    fields = policy_clean(data, instance=policy)
    with transaction.atomic():
        policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.save()
        policies_changed(policy_ids=[policy.pk])
    return policy


def policy_delete(*, policy: SlaPolicy) -> None:
    with transaction.atomic():
        ids = list(Conversation.objects.filter(sla_policy=policy).values_list("pk", flat=True)[:10_000])
        policy.delete()
        policies_changed(conversation_ids=ids)


def policies_changed(*, policy_ids: list[int] | None = None, conversation_ids: list[int] | None = None) -> None:
    """Once this commits, the conversations a change may touch get their clocks again (a task):
    every unresolved conversation (a policy may now match it, or no longer), and those that had it."""
    args = [policy_ids or [], conversation_ids or []]
    transaction.on_commit(lambda: jobs.enqueue("inbox.tasks.sla_policies_apply", *args))


def lead_user_ids(team_id: int | None) -> list[int]:
    """The active leads of a team: who hears of its conversations' warnings and breaches."""
    if team_id is None:
        return []
    return list(
        Agent.objects.filter(teams=team_id, role=Role.LEAD, user__is_active=True).values_list("user_id", flat=True)
    )
