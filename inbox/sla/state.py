"""A conversation's `sla` object, the same in the REST API and in realtime frames (both call this).

Built from the row alone (`Conversation.sla_state`, `sla_next_due_at`), so a list page reads no other
table: per target its latest clock, with what time left or how late it is now.

    {"policy": {"id": 3, "name": "VIP"}, "due_at": "...", "breached": false,
     "targets": [{"target": "first_response", "status": "running", "started_at": "...", "due_at": "...",
                  "met_at": null, "stopped_at": null, "breached": false, "breached_by_seconds": 0,
                  "seconds_left": 720}, ...]}

`status`: running (still owed), met (answered or resolved; late when `breached`), stopped (the
conversation was resolved with a reply still owed: breached only if that came after the due time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from inbox.models import Conversation


def _at(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))


def target_state(entry: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One target's clock as the API shows it at `now`."""
    started, due = _at(entry.get("started_at")), _at(entry["due_at"])
    met, stopped = _at(entry.get("met_at")), _at(entry.get("stopped_at"))
    assert due is not None
    end = met or stopped
    if end is not None:
        late = (end - due).total_seconds()
        status, seconds_left = ("met" if met is not None else "stopped"), None
    else:
        late = (now - due).total_seconds()
        status, seconds_left = "running", max(0, int((due - now).total_seconds()))
    return {
        "target": entry["target"],
        "status": status,
        "started_at": started,
        "due_at": due,
        "met_at": met,
        "stopped_at": stopped,
        "breached": late > 0,
        "breached_by_seconds": int(late) if late > 0 else 0,
        "seconds_left": seconds_left,
    }


def sla_data(conversation: Conversation, now: datetime) -> dict[str, Any] | None:
    """The conversation's `sla` (None when no policy applies)."""
    state = conversation.sla_state or {}
    policy = state.get("policy")
    if not policy:
        return None
    targets = [target_state(entry, now) for entry in state.get("targets", [])]
    return {
        "policy": {"id": policy["id"], "name": policy["name"]},
        "due_at": conversation.sla_next_due_at,
        "breached": any(t["breached"] and t["status"] == "running" for t in targets),
        "targets": targets,
    }
