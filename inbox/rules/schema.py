"""What a rule may say, checked when it is saved: a rule that cannot work is refused with 400
`{code, detail}` (RuleRefused), never stored to fail later.

    {"name": "VIP refunds to Alice", "trigger": "message_received", "position": 10,
     "conditions": [{"field": "customer_tag", "op": "has", "value": "vip"},
                    {"field": "text", "op": "contains_word", "value": ["refund", "money back"]}],
     "actions": [{"type": "assign", "to": "agent", "agent": 7}, {"type": "set_priority", "priority": "high"}]}

Triggers: message_received, conversation_created, assigned, resolved, reopened, order_created,
order_fulfilled, order_refunded, sla_warning, sla_breach, snooze_ended, and the time-based
no_customer_reply / no_agent_reply (with `delay_seconds`: how long the silence lasts).

Conditions (all must hold): a `field`, an `op` and a `value` of the field's type (FIELDS below). Text
is matched with substrings, whole words or `*`/`?` wildcards only (inbox/rules/matching.py).

Actions, in order: assign {to: agent|round_robin|nobody, agent}, move_team {team}, label {add, remove},
set_priority {priority}, apply_macro {macro} (a team macro), reply {text} and note {text} (the
macros' template language), snooze {minutes}, resolve, reopen, apply_sla_policy {policy: id|null},
notify {users, assignee, team_leads, text}.

Codes: unknown_trigger, missing_delay, unknown_field, unknown_operator, invalid_value,
unsafe_pattern, unknown_action, invalid_action, conflicting_actions, macro_cycle, invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model

from customers.models import Channel
from inbox.conversations import templating
from inbox.conversations.errors import ReplyRefused
from inbox.macros.context import sample_context
from inbox.models import ConversationStatus, Inbox, Macro, Priority, Rule, SlaPolicy, Team
from inbox.rules import matching

TRIGGERS = {
    "message_received": "A customer message arrives",
    "conversation_created": "A conversation starts (its first customer message)",
    "assigned": "The conversation is assigned, reassigned or unassigned",
    "resolved": "The conversation is resolved",
    "reopened": "A resolved conversation is reopened",
    "order_created": "The customer places an order",
    "order_fulfilled": "The customer's order ships",
    "order_refunded": "The customer's order is refunded",
    "sla_warning": "An SLA target is due soon",
    "sla_breach": "An SLA target is breached",
    "snooze_ended": "A snoozed conversation's snooze ends",
    "no_customer_reply": "We wrote last and the customer has not answered for `delay_seconds`",
    "no_agent_reply": "The customer has waited `delay_seconds` for an agent's reply",
}
TIMED = frozenset({"no_customer_reply", "no_agent_reply"})
MIN_DELAY, MAX_DELAY = 60, 90 * 24 * 3600
MAX_CONDITIONS, MAX_ACTIONS, MAX_LIST, MAX_TEXT = 20, 10, 50, 5000
ORDER_STATUSES = (
    "pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided",
    "unfulfilled", "partial", "fulfilled", "restocked", "in_transit", "out_for_delivery", "delivered", "cancelled",
)
LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})?")

# field -> (value type, operators)
SET_OPS = ("is", "is_not", "in", "not_in")
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "channel": ("channel", SET_OPS),
    "inbox": ("inbox", SET_OPS),
    "text": ("text", ("contains", "not_contains", "contains_word", "matches")),
    "label": ("names", ("has", "has_not")),
    "customer_tag": ("names", ("has", "has_not")),
    "lifetime_value": ("number", ("gt", "gte", "lt", "lte", "eq")),
    "has_open_order": ("bool", ("is",)),
    "order_status": ("order_status", SET_OPS),
    "business_hours": ("bool", ("is",)),
    "language": ("language", SET_OPS),
    "assignee": ("user", SET_OPS),
    "team": ("team", SET_OPS),
    "status": ("status", SET_OPS),
    "priority": ("priority", SET_OPS),
}
ACTION_KEYS: dict[str, set[str]] = {
    "assign": {"to", "agent"},
    "move_team": {"team"},
    "label": {"add", "remove"},
    "set_priority": {"priority"},
    "apply_macro": {"macro"},
    "reply": {"text"},
    "note": {"text"},
    "snooze": {"minutes"},
    "resolve": set(),
    "reopen": set(),
    "apply_sla_policy": {"policy"},
    "notify": {"users", "assignee", "team_leads", "text"},
}
# What an action changes, for conflicts (two actions of one rule on the same thing are refused).
TOUCHES = {"assign": "assignee", "move_team": "team", "set_priority": "priority", "snooze": "status",
           "resolve": "status", "reopen": "status", "apply_sla_policy": "sla_policy", "reply": "reply"}
MAX_SNOOZE_MINUTES = 90 * 24 * 60


class RuleRefused(ReplyRefused):
    """A rule that cannot work: `{code, detail}` with 400 (the API's error shape)."""

    def __init__(self, code: str, detail: str, status: int = 400):
        super().__init__(code, detail, status)


def _bad(name: str, detail: str, code: str = "invalid_value") -> RuleRefused:
    return RuleRefused(code, f"{name}: {detail}")


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _names(value: Any, name: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_LIST:
        raise _bad(name, f"a name or a list of 1 to {MAX_LIST} names")
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 64 or "\x00" in item:
            raise _bad(name, "each name is 1 to 64 characters")
        out.append(item.strip())
    return out


def _one_or_list(op: str, value: Any, name: str, check: Callable[[Any], bool], what: str) -> Any:
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST or not all(check(v) for v in value):
            raise _bad(name, f"a list of 1 to {MAX_LIST} {what}")
        return list(dict.fromkeys(value))
    if not check(value):
        raise _bad(name, f"one {what[:-1] if what.endswith('s') else what}")
    return value


def _exists(model: Any, value: Any) -> bool:
    return value == "none" or (_is_id(value) and model.objects.filter(pk=value).exists())


def _active_agent(value: Any) -> bool:
    return value == "none" or (_is_id(value) and get_user_model().objects.filter(
        pk=value, is_active=True, agent__isnull=False).exists())


VALUE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "channel": (lambda v: v in Channel.values, f"channels ({', '.join(Channel.values)})"),
    "inbox": (lambda v: _is_id(v) and Inbox.objects.filter(pk=v).exists(), "inbox ids"),
    "order_status": (lambda v: v in ORDER_STATUSES, f"order statuses ({', '.join(ORDER_STATUSES)})"),
    "language": (lambda v: isinstance(v, str) and LANGUAGE.fullmatch(v) is not None, "language codes (en, fr, pt-br)"),
    "user": (_active_agent, "active agents' user ids (or \"none\")"),
    "team": (lambda v: _exists(Team, v), "team ids (or \"none\")"),
    "status": (lambda v: v in ConversationStatus.values, f"statuses ({', '.join(ConversationStatus.values)})"),
    "priority": (lambda v: v in Priority.values, f"priorities ({', '.join(Priority.values)})"),
}


def condition_clean(condition: Any, index: int) -> dict[str, Any]:
    name = f"conditions[{index}]"
    if not isinstance(condition, dict) or set(condition) - {"field", "op", "value"} or "field" not in condition:
        raise _bad(name, "an object {field, op, value}", "invalid")
    field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    if field not in FIELDS:
        raise RuleRefused("unknown_field", f"{name}: unknown field {str(field)[:40]!r}; one of {', '.join(FIELDS)}.")
    kind, ops = FIELDS[field]
    if op == "regex" or (kind == "text" and op in ("regexp", "re", "matches_regex")):
        raise RuleRefused("unsafe_pattern", f"{name}: regular expressions are not accepted (their cost on a "
                                            "customer's message is unbounded); use contains, contains_word or "
                                            "matches with * and ? wildcards.")
    if op not in ops:
        raise RuleRefused("unknown_operator", f"{name}: {field} takes {', '.join(ops)}, not {str(op)[:20]!r}.")
    if kind == "text":
        if op == "contains_word":
            value = _names(value, f"{name}.value")
        elif op == "matches":
            problem = matching.pattern_problem(value)
            if problem:
                raise RuleRefused("unsafe_pattern", f"{name}.value: {problem}.")
        elif not isinstance(value, str) or not value.strip() or len(value) > matching.MAX_PATTERN:
            raise _bad(f"{name}.value", f"a phrase of 1 to {matching.MAX_PATTERN} characters")
    elif kind == "names":
        value = _names(value, f"{name}.value")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _bad(f"{name}.value", "a number (an amount in the shop's currency)")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise _bad(f"{name}.value", "a number (an amount in the shop's currency)") from None
        if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
            raise _bad(f"{name}.value", "a finite amount")
        value = str(amount)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _bad(f"{name}.value", "true or false")
    else:
        check, what = VALUE_CHECKS[kind]
        value = _one_or_list(op, value, f"{name}.value", check, what)
    return {"field": field, "op": op, "value": value}


def _template(action: dict, name: str) -> str:
    text = action.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT or "\x00" in text:
        raise _bad(f"{name}.text", f"1 to {MAX_TEXT} characters")
    try:
        templating.render(text, sample_context())
    except templating.TemplateRefused as exc:
        raise _bad(f"{name}.text", str(exc)) from None
    return text


def macro_problem(macro: Macro) -> str | None:
    """Why a rule may not apply this macro (it acts as nobody: no "me", no order actions)."""
    if macro.team_id is None:
        return "a personal macro; a rule applies team macros only"
    for step in macro.actions or []:
        if step.get("type") == "assign" and step.get("to") == "me":
            return "it assigns to \"me\", and a rule is nobody"
        if step.get("type") == "order_action":
            return "it acts on orders, which a rule may not do"
    return None


def action_clean(action: Any, index: int) -> dict[str, Any]:
    name = f"actions[{index}]"
    if not isinstance(action, dict) or action.get("type") not in ACTION_KEYS:
        kind = action.get("type") if isinstance(action, dict) else None
        raise RuleRefused("unknown_action", f"{name}: unknown action {str(kind)[:40]!r}; one of {', '.join(ACTION_KEYS)}.")
    kind = action["type"]
    unknown = sorted(set(action) - ACTION_KEYS[kind] - {"type"})
    if unknown:
        raise RuleRefused("invalid_action", f"{name}: {kind} takes no {unknown[0]!r}.")
    out: dict[str, Any] = {"type": kind}
    if kind == "assign":
        to = action.get("to")
        if to not in ("agent", "round_robin", "nobody"):
            raise RuleRefused("invalid_action", f"{name}: to is agent, round_robin or nobody.")
        out["to"] = to
        if to == "agent":
            if not _active_agent(action.get("agent")) or action.get("agent") == "none":
                raise _bad(f"{name}.agent", "the user id of an active agent")
            out["agent"] = action["agent"]
    elif kind == "move_team":
        if not (_is_id(action.get("team")) and Team.objects.filter(pk=action["team"]).exists()):
            raise _bad(f"{name}.team", "a team id")
        out["team"] = action["team"]
    elif kind == "label":
        add = _names(action["add"], f"{name}.add") if action.get("add") else []
        remove = _names(action["remove"], f"{name}.remove") if action.get("remove") else []
        if not add and not remove:
            raise RuleRefused("invalid_action", f"{name}: add or remove at least one label.")
        if set(add) & set(remove):
            raise RuleRefused("conflicting_actions", f"{name}: adds and removes {sorted(set(add) & set(remove))[0]!r}.")
        out.update(add=add, remove=remove)
    elif kind == "set_priority":
        if action.get("priority") not in Priority.values:
            raise _bad(f"{name}.priority", f"one of {', '.join(Priority.values)}")
        out["priority"] = action["priority"]
    elif kind == "apply_macro":
        macro = Macro.objects.filter(pk=action["macro"]).first() if _is_id(action.get("macro")) else None
        if macro is None:
            raise _bad(f"{name}.macro", "a macro id")
        problem = macro_problem(macro)
        if problem:
            raise RuleRefused("invalid_action", f"{name}: macro {macro.name!r} is {problem}.")
        out["macro"] = macro.pk
    elif kind in ("reply", "note"):
        out["text"] = _template(action, name)
    elif kind == "snooze":
        minutes = action.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SNOOZE_MINUTES:
            raise _bad(f"{name}.minutes", f"a whole number from 1 to {MAX_SNOOZE_MINUTES}")
        out["minutes"] = minutes
    elif kind == "apply_sla_policy":
        policy = action.get("policy")
        if policy is not None and not (_is_id(policy) and SlaPolicy.objects.filter(pk=policy).exists()):
            raise _bad(f"{name}.policy", "an SLA policy id, or null to go back to matching")
        out["policy"] = policy
    elif kind == "notify":
        users = action.get("users") or []
        if not isinstance(users, list) or len(users) > MAX_LIST or not all(_active_agent(u) and u != "none" for u in users):
            raise _bad(f"{name}.users", "a list of active agents' user ids")
        for flag in ("assignee", "team_leads"):
            if not isinstance(action.get(flag, False), bool):
                raise _bad(f"{name}.{flag}", "true or false")
        if not users and not action.get("assignee") and not action.get("team_leads"):
            raise RuleRefused("invalid_action", f"{name}: notify whom? users, assignee or team_leads.")
        out.update(users=users, assignee=bool(action.get("assignee")), team_leads=bool(action.get("team_leads")),
                   text=_template(action, name))
    return out


def _conflicts(actions: list[dict]) -> None:
    seen: dict[str, int] = {}
    labels: dict[str, tuple[int, bool]] = {}
    for index, action in enumerate(actions):
        touched = TOUCHES.get(action["type"])
        if touched:
            if touched in seen:
                raise RuleRefused("conflicting_actions", f"actions[{seen[touched]}] and actions[{index}] both set the "
                                                         f"{touched}; a rule sets each thing once.")
            seen[touched] = index
        if action["type"] == "label":
            for name, adding in [(n, True) for n in action["add"]] + [(n, False) for n in action["remove"]]:
                if name in labels and labels[name][1] != adding:
                    raise RuleRefused("conflicting_actions", f"actions[{labels[name][0]}] and actions[{index}] "
                                                             f"both add and remove the label {name!r}.")
                labels[name] = (index, adding)


def rule_clean(data: Any, *, instance: Rule | None = None) -> dict[str, Any]:
    """The fields to save, or RuleRefused. A partial `data` is checked merged with `instance`."""
    if not isinstance(data, dict):
        raise RuleRefused("invalid", "A rule is a JSON object.")
    known = {"name", "active", "position", "trigger", "delay_seconds", "conditions", "actions"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RuleRefused("unknown_field", f"A rule has no {unknown[0]!r}; it has {', '.join(sorted(known))}.")
    merged = {name: data[name] if name in data else getattr(instance, name, None) for name in known}
    out: dict[str, Any] = {}
    name = merged["name"]
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100 or "\x00" in name:
        raise _bad("name", "1 to 100 characters")
    out["name"] = name.strip()
    active = True if merged["active"] is None else merged["active"]
    if not isinstance(active, bool):
        raise _bad("active", "true or false")
    out["active"] = active
    position = 100 if merged["position"] is None else merged["position"]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 1_000_000:
        raise _bad("position", "a whole number from 0 to 1000000 (lower runs first)")
    out["position"] = position
    trigger = merged["trigger"]
    if trigger not in TRIGGERS:
        raise RuleRefused("unknown_trigger", f"trigger: unknown {str(trigger)[:40]!r}; one of {', '.join(TRIGGERS)}.")
    out["trigger"] = trigger
    delay = merged["delay_seconds"]
    if trigger in TIMED:
        if isinstance(delay, bool) or not isinstance(delay, int) or not MIN_DELAY <= delay <= MAX_DELAY:
            raise RuleRefused("missing_delay", f"delay_seconds: {trigger} needs a silence of {MIN_DELAY} to "
                                               f"{MAX_DELAY} seconds.")
    elif delay is not None:
        raise RuleRefused("invalid_value", f"delay_seconds: only for {' and '.join(sorted(TIMED))}.")
    out["delay_seconds"] = delay if trigger in TIMED else None
    conditions = merged["conditions"] or []
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise _bad("conditions", f"a list of at most {MAX_CONDITIONS} conditions", "invalid")
    out["conditions"] = [condition_clean(c, i) for i, c in enumerate(conditions)]
    actions = merged["actions"]
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        raise _bad("actions", f"a list of 1 to {MAX_ACTIONS} actions", "invalid")
    out["actions"] = [action_clean(a, i) for i, a in enumerate(actions)]
    _conflicts(out["actions"])
    if out["active"]:
        cycle_check(out, instance=instance)
    return out


# --- Cycles through "apply a macro" ------------------------------------------------------------------------


def _emits(action: dict, macros: dict[int, Macro]) -> set[str]:
    kind = action["type"]
    if kind == "assign":
        return {"assigned"}
    if kind == "resolve":
        return {"resolved"}
    if kind == "reopen":
        return {"reopened"}
    if kind == "apply_macro":
        out: set[str] = set()
        macro = macros.get(action["macro"])
        for step in (macro.actions if macro else []) or []:
            if step.get("type") == "assign" and step.get("to") != "team":
                out.add("assigned")
            elif step.get("type") == "status" and step.get("status") == ConversationStatus.RESOLVED:
                out.add("resolved")
            elif step.get("type") == "status" and step.get("status") in (ConversationStatus.OPEN, ConversationStatus.PENDING):
                out.add("reopened")
        return out
    return set()


def cycle_check(rule: dict[str, Any], *, instance: Rule | None) -> None:
    """Refuse a rule that closes a loop of rules whose way round passes through "apply a macro" (a
    macro's hidden steps set off a rule that applies it again). Loops of plain actions are cut at
    run time (a rule never runs twice in one chain of events; the chain stops at depth 3)."""
    others = Rule.objects.filter(active=True)
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    nodes: dict[Any, dict[str, Any]] = {r.pk: {"name": r.name, "trigger": r.trigger, "actions": r.actions} for r in others}
    me = instance.pk if instance is not None else "new"
    nodes[me] = {"name": rule["name"], "trigger": rule["trigger"], "actions": rule["actions"]}
    macro_ids = {a["macro"] for n in nodes.values() for a in n["actions"] if a.get("type") == "apply_macro"}
    macros = {m.pk: m for m in Macro.objects.filter(pk__in=macro_ids)}
    edges: dict[Any, list[tuple[Any, bool]]] = {k: [] for k in nodes}
    for key, node in nodes.items():
        for action in node["actions"]:
            emitted = _emits(action, macros)
            for other, target in nodes.items():
                if target["trigger"] in emitted:
                    edges[key].append((other, action.get("type") == "apply_macro"))
    path = _loop_through_macro(me, edges)
    if path:
        names = " → ".join(nodes[k]["name"] for k in path)
        raise RuleRefused("macro_cycle", f"These rules would set each other off for ever through a macro: {names}.")


def _loop_through_macro(start: Any, edges: dict[Any, list[tuple[Any, bool]]]) -> list[Any] | None:
    """A path start → … → start that uses at least one macro edge, or None (BFS over (node, used_macro))."""
    from collections import deque

    queue = deque([(start, False, [start])])
    seen = {(start, False)}
    while queue:
        node, used, path = queue.popleft()
        for nxt, is_macro in edges.get(node, []):
            flag = used or is_macro
            if nxt == start and flag:
                return path + [start]
            if (nxt, flag) not in seen and nxt != start:
                seen.add((nxt, flag))
                queue.append((nxt, flag, path + [nxt]))
    return None


def describe_trigger(trigger: str) -> str:
    return TRIGGERS.get(trigger, trigger)


def iter_fields() -> Iterable[str]:
    return FIELDS.keys()
