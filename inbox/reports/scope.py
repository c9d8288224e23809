"""What a report is asked for: a period of whole UTC days ending today, the same length before it
(for the change), and the inboxes, team and channel it covers — never more than the user may see."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from inbox.models import Role
from inbox.team import access

MANAGING_ROLES = frozenset({Role.LEAD, Role.MANAGER, Role.ADMIN})


class ScopeRefused(Exception):
    """The user may not see reports at all (403) or this inbox/team (404)."""

    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


@dataclass(frozen=True)
class Scope:
    first_day: date
    last_day: date  # inclusive
    inbox_ids: tuple[int, ...]
    team_ids: tuple[int, ...]  # the teams the user may see (every team for an admin)
    team: int | None = None
    channel: str | None = None
    admin: bool = False

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first_day, time.min, UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time.min, UTC)

    def previous(self) -> Scope:
        """The period of the same length just before this one."""
        return replace(self, first_day=self.first_day - timedelta(days=self.days), last_day=self.first_day - timedelta(days=1))

    def day_list(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    def as_dict(self) -> dict:
        return {"first_day": self.first_day, "last_day": self.last_day, "days": self.days, "team": self.team,
                "channel": self.channel, "inboxes": list(self.inbox_ids)}


def scope_for(
    user, *, days: int = 30, inbox: int | None = None, team: int | None = None, channel: str | None = None,
    today: date | None = None, first_day: date | None = None, last_day: date | None = None,
) -> Scope:
    """The scope of a request, or ScopeRefused: agents may not see reports; an inbox or team out of
    the user's reach is answered as not found, so ids don't leak.

    The period is the `days` whole UTC days ending today, or from `first_day` (instead of `days`) to
    `last_day` (inclusive, today at the latest)."""
    role = access.role_of(user)
    if role not in MANAGING_ROLES:
        raise ScopeRefused("forbidden", "Reports are for leads, managers and admins.", 403)
    admin = role == Role.ADMIN
    visible = access.inboxes_visible_to(user)
    inbox_ids: tuple[int, ...]
    if inbox is not None:
        if not visible.filter(pk=inbox).exists():
            raise ScopeRefused("not_found", "No such inbox.", 404)
        inbox_ids = (inbox,)
    else:
        inbox_ids = tuple(visible.order_by("pk").values_list("pk", flat=True))
    team_ids = tuple(access.teams_visible_to(user).order_by("pk").values_list("pk", flat=True))
    if team is not None and team not in team_ids:
        raise ScopeRefused("not_found", "No such team.", 404)
    today = today or timezone.now().astimezone(UTC).date()
    last = min(last_day, today) if last_day is not None else today
    first = first_day if first_day is not None else last - timedelta(days=days - 1)
    if first > last:
        raise ScopeRefused("invalid", "The period starts after its last day (today at the latest).", 400)
    return Scope(first_day=first, last_day=last, inbox_ids=inbox_ids, team_ids=team_ids,
                 team=team, channel=channel or None, admin=admin)
