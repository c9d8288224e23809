"""The weekly digest: last week's figures by email to the leads, managers and admins who asked for it.

Opting in is joining the Django group `weekly-digest` (DIGEST_GROUP), so no table of its own is
needed. It goes out on Monday from 08:00 in the user's time zone (their agent profile's
`time_zone` when they set one, else the shop's TIME_ZONE) and covers the seven UTC days before
that Monday, against the seven before. One beat dispatcher (inbox.tasks.reports_digest_dispatch)
looks every quarter of an hour; each send is recorded in the audit log (`reports.digest_sent`, the
week in its data) and claimed in the cache first, so a week's digest goes out once per person.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.mail import send_mail
from django.utils import timezone

from inbox.audit import audit_record
from inbox.models import AuditEntry
from inbox.team import access

from . import builders
from .scope import MANAGING_ROLES, scope_for

logger = logging.getLogger(__name__)

DIGEST_GROUP = "weekly-digest"
SENT = "reports.digest_sent"
SEND_AT = time(8, 0)
# The reports whose figures the digest carries, in this order.
DIGEST_REPORTS = ("volume", "first-response", "resolution", "csat", "revenue")


def zone_of(user: User) -> ZoneInfo:
    agent = access.agent_of(user)
    for name in (getattr(agent, "time_zone", "") if agent else "", settings.TIME_ZONE):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return ZoneInfo("UTC")


def _monday(local_day: date) -> date:
    return local_day - timedelta(days=local_day.weekday())


def next_send(user: User, *, now: datetime | None = None) -> datetime:
    """The next Monday 08:00 in the user's zone (this Monday's if it is still to come)."""
    zone = zone_of(user)
    local = (now or timezone.now()).astimezone(zone)
    monday = _monday(local.date())
    at = datetime.combine(monday, SEND_AT, zone)
    if at <= local:
        at = datetime.combine(monday + timedelta(days=7), SEND_AT, zone)
    return at


def subscription(user: User) -> dict:
    enabled = user.groups.filter(name=DIGEST_GROUP).exists()
    return {"enabled": enabled, "time_zone": str(zone_of(user)), "next_at": next_send(user) if enabled else None}


def subscribe(user: User, *, enabled: bool) -> None:
    group, _ = Group.objects.get_or_create(name=DIGEST_GROUP)
    (user.groups.add if enabled else user.groups.remove)(group)


def _week_key(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _value(f: dict) -> str:
    value, unit = f["value"], f["unit"]
    if value is None:
        return "–"
    if unit == "rate":
        return f"{value * 100:.1f} %"
    if unit == "seconds":
        minutes = round(value / 60)
        return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    return str(value)


def _change(f: dict) -> str:
    value, previous, unit = f["value"], f["previous"], f["unit"]
    if value is None or previous is None or unit == "text":
        return ""
    try:
        delta = Decimal(str(value)) - Decimal(str(previous))
    except ArithmeticError:
        return ""
    if unit == "rate":
        return f" ({delta * 100:+.1f} points)"
    if unit == "seconds":
        return f" ({'+' if delta >= 0 else '−'}{_value({'value': abs(float(delta)), 'unit': 'seconds'})})"
    return f" ({delta:+})"


def digest_text(user: User, *, monday: date) -> tuple[str, str]:
    """(subject, body) of the digest for the week that ended the Sunday before `monday`."""
    scope = scope_for(user, days=7, today=monday - timedelta(days=1))
    lines = [f"Your week in the inbox, {scope.first_day:%d %b} – {scope.last_day:%d %b %Y} (UTC days),",
             "against the week before:", ""]
    for name in DIGEST_REPORTS:
        report = builders.build(name, scope)
        if not report["available"] or not report["figures"]:
            continue
        lines.append(report["title"])
        for f in report["figures"]:
            lines.append(f"  {f['label']}: {_value(f)}{_change(f)}")
        lines.append("")
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    lines += [f"The reports: {base}/reports/volume/",
              f"Stop these emails: untick “Weekly digest” on {base}/reports/volume/"]
    return f"Weekly inbox digest: {scope.first_day:%d %b} – {scope.last_day:%d %b}", "\n".join(lines)


def digest_send(user: User, *, monday: date) -> bool:
    """Send one user's digest for one week, once: False when it was already sent (or is being sent)."""
    week = _week_key(monday)
    if AuditEntry.objects.filter(action=SENT, target_type="auth.user", target_id=str(user.pk), data__week=week).exists():
        return False
    if not cache.add(f"reports:digest:{user.pk}:{week}", 1, 8 * 86400):
        return False
    subject, body = digest_text(user, monday=monday)
    send_mail(subject, body, None, [user.email], fail_silently=False)
    audit_record(actor=None, action=SENT, target=user, data={"week": week})
    return True


def dispatch(*, now: datetime | None = None) -> int:
    """Every digest due now: subscribers whose local time is Monday 08:00 or later this week."""
    now = now or timezone.now()
    sent = 0
    users = User.objects.filter(groups__name=DIGEST_GROUP, is_active=True).exclude(email="").select_related("agent")
    for user in users:
        if access.role_of(user) not in MANAGING_ROLES:
            continue
        local = now.astimezone(zone_of(user))
        monday = _monday(local.date())
        if local < datetime.combine(monday, SEND_AT, local.tzinfo):
            continue
        try:
            sent += digest_send(user, monday=monday)
        except Exception:  # one failed mail must not stop the others; the next run tries again
            cache.delete(f"reports:digest:{user.pk}:{_week_key(monday)}")
            logger.exception("weekly digest for user %s failed", user.pk)
    return sent


__all__ = ["DIGEST_GROUP", "dispatch", "digest_send", "digest_text", "next_send", "subscribe", "subscription"]
