"""The default rules: what used to be code paths, now rules an admin can see, change and switch off.

- "Reopen when the customer writes" (on): a customer message in a resolved or snoozed conversation
  reopens it — what inbox/conversations/threads.py used to do itself.
- "Wake snoozed conversations" (on): when a snooze ends, the conversation is open again.
- "Resolve after 7 days without a customer reply" (off until an admin switches it on): we wrote
  last and the customer said nothing for a week.

They are made after every `migrate` (post_migrate, as the role groups are), once each — found by
their `key`, so a default an admin changed or switched off stays as they left it; the API switches
a default rule off instead of deleting it.
"""

from __future__ import annotations

from typing import Any

from inbox.models import Rule

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "key": "reopen_on_customer_message",
        "name": "Reopen when the customer writes",
        "active": True,
        "position": 0,
        "trigger": "message_received",
        "conditions": [{"field": "status", "op": "in", "value": ["resolved", "snoozed"]}],
        "actions": [{"type": "reopen"}],
    },
    {
        "key": "reopen_when_snooze_ends",
        "name": "Wake snoozed conversations",
        "active": True,
        "position": 0,
        "trigger": "snooze_ended",
        "conditions": [{"field": "status", "op": "is", "value": "snoozed"}],
        "actions": [{"type": "reopen"}],
    },
    {
        "key": "resolve_after_silence",
        "name": "Resolve after 7 days without a customer reply",
        "active": False,
        "position": 1000,
        "trigger": "no_customer_reply",
        "delay_seconds": 7 * 24 * 3600,
        "conditions": [{"field": "status", "op": "in", "value": ["open", "pending"]}],
        "actions": [{"type": "resolve"}],
    },
]


def default_rules_ensure() -> int:
    """Create the default rules that don't exist yet (by key); how many were made."""
    have = set(Rule.objects.filter(key__in=[d["key"] for d in DEFAULT_RULES]).values_list("key", flat=True))
    missing = [Rule(**d) for d in DEFAULT_RULES if d["key"] not in have]
    Rule.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def post_migrate_defaults(sender: Any, **kwargs: Any) -> None:
    apps = kwargs.get("apps")
    if apps is not None:
        try:
            apps.get_model("inbox", "Rule")
        except LookupError:  # migrated back to before the rules existed
            return
    default_rules_ensure()
