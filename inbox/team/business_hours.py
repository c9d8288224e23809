"""Business hours and holidays of an inbox, time-zone aware (DST included, via zoneinfo).

The schedule lives in `Inbox.settings["business_hours"]` as
`{"timezone": "Europe/Paris", "hours": {"mon": [["09:00", "17:00"]], ...}}` (a day left out is
closed) and `Inbox.settings["holidays"]` as `["2026-12-25", ...]`. An inbox without a schedule
is always open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    # weekday (0 = Monday) -> list of (start, end) local times, end > start
    hours: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date]
    always_open: bool = False

    @classmethod
    def from_settings(cls, settings: dict | None) -> Schedule:
        settings = settings or {}
        raw = settings.get("business_hours")
        holidays = frozenset(date.fromisoformat(d) for d in settings.get("holidays", []) or [])
        if not raw:
            return cls(ZoneInfo("UTC"), {}, holidays, always_open=True)
        validate(raw, settings.get("holidays", []))
        hours = {
            DAYS.index(day): tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans)
            for day, spans in raw.get("hours", {}).items()
        }
        return cls(ZoneInfo(raw["timezone"]), hours, holidays)

    def _local_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals of a local day, as UTC datetimes (so that differences count real seconds:
        Python subtracts two datetimes of the same zone as wall-clock times, ignoring DST)."""
        return [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in self._wall_intervals(day)]

    def _wall_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        if self.always_open:
            start = datetime.combine(day, time(0), self.tz)
            return [(start, datetime.combine(day + timedelta(days=1), time(0), self.tz))]
        return [
            (datetime.combine(day, a, self.tz), datetime.combine(day, b, self.tz))
            for a, b in self.hours.get(day.weekday(), ())
        ]

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return any(start <= local < end for start, end in self._local_intervals(local.date()))

    def next_open(self, at: datetime, *, horizon_days: int = 366) -> datetime | None:
        """`at` itself when open, else the start of the next open interval."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.tz)
        for offset in range(horizon_days + 1):
            for start, _end in self._local_intervals(local.date() + timedelta(days=offset)):
                if start > local:
                    return start
        return None

    def open_after(self, start: datetime, seconds: float, *, horizon_days: int = 732) -> datetime | None:
        """When `seconds` of business time will have passed since `start` (an SLA target's due time).

        Counts only open intervals (nights, closed days and holidays don't count), each as real
        elapsed seconds (a 09:00–17:00 day is 8 h long on a DST change day too); None when the
        schedule is never open within `horizon_days`.
        """
        if self.always_open and not self.holidays:
            return start + timedelta(seconds=seconds)
        left = timedelta(seconds=seconds)
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(horizon_days + 2):
            for a, b in self._local_intervals(day):
                lo = max(a, start)
                if b <= lo:
                    continue
                if lo + left <= b:
                    return lo + left
                left -= b - lo
            day += timedelta(days=1)
        return None

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of business time in [start, end): what a customer waited while the shop was open."""
        if end <= start:
            return 0.0
        if self.always_open and not self.holidays:
            return (end - start).total_seconds()
        total = 0.0
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            for a, b in self._local_intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


def validate(business_hours: dict, holidays: list) -> None:
    """ValidationError with a readable message for a bad schedule (used by the API too)."""
    if not isinstance(business_hours, dict):
        raise ValidationError("business_hours must be an object")
    try:
        ZoneInfo(str(business_hours.get("timezone", "")))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise ValidationError(f"unknown time zone {str(business_hours.get('timezone'))[:64]!r}") from None
    hours = business_hours.get("hours", {})
    if not isinstance(hours, dict):
        raise ValidationError("business_hours.hours must be an object keyed by mon..sun")
    for day, spans in hours.items():
        if day not in DAYS:
            raise ValidationError(f"unknown day {day!r}; use mon..sun")
        if not isinstance(spans, list):
            raise ValidationError(f"hours for {day} must be a list of [start, end] pairs")
        for span in spans:
            if not (isinstance(span, list | tuple) and len(span) == 2 and all(isinstance(s, str) for s in span)):
                raise ValidationError(f"hours for {day} must be [\"HH:MM\", \"HH:MM\"] pairs")
            try:
                a, b = time.fromisoformat(span[0]), time.fromisoformat(span[1])
            except ValueError:
                raise ValidationError(f"bad time in {day}: {span!r}") from None
            if b <= a:
                raise ValidationError(f"in {day}, {span[1]} is not after {span[0]}")
    if not isinstance(holidays, list):
        raise ValidationError("holidays must be a list of YYYY-MM-DD dates")
    for d in holidays:
        try:
            date.fromisoformat(str(d))
        except ValueError:
            raise ValidationError(f"bad holiday date {d!r}") from None
