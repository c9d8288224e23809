"""What every page's app shell (templates/base.html) needs: who is here and which sections they may open.

The flags follow the pages' own checks, so the navigation never offers a page that answers 403:
the dashboard is for leads, managers and admins (inbox/pages/dashboard.py); the CSV import for
managers, admins and staff (inbox/pages/customers.py); campaigns for every role (agents read the
list, managers and admins also create: campaigns/views.py); Django admin for staff. tests/ui/test_shell.py checks
each link of each role against the page's answer.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

REPORT_ROLES = frozenset({"lead", "manager", "admin"})
IMPORT_ROLES = frozenset({"manager", "admin"})
AVAILABILITY = (("online", gettext_lazy("Online")), ("busy", gettext_lazy("Busy")), ("away", gettext_lazy("Away")))

# The section a path belongs to, for aria-current in the navigation (first match wins).
_SECTIONS = (
    ("/dashboard/", "reports"),
    ("/reports/", "reports"),
    ("/campaigns/", "campaigns"),
    ("/customers/", "customers"),
    ("/admin/", "admin"),
    ("/", "inbox"),
)


def _section(path: str) -> str:
    for prefix, name in _SECTIONS:
        if path.startswith(prefix):
            return name
    return ""


def shell(request: HttpRequest) -> dict:
    """`shell`: the signed-in user's name, availability and the navigation flags (empty when anonymous)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"shell": {"signed_in": False}}
    from inbox.team.access import agent_of, role_of

    role = role_of(user)
    agent = agent_of(user)
    return {
        "shell": {
            "signed_in": True,
            "name": user.get_full_name() or user.get_username(),
            "user_id": user.pk,
            "role": role or "",
            "section": _section(request.path),
            "inbox": role is not None,
            "reports": role in REPORT_ROLES,
            "customers_import": user.is_staff or user.is_superuser or role in IMPORT_ROLES,
            "campaigns": role is not None,
            "admin": user.is_staff,
            "availability": agent.availability if agent else "",
            "availability_choices": AVAILABILITY if agent else (),
            # The user menu's language and time zone (PATCH /api/v1/agents/me/); blank: the browser's.
            "language": (agent.language if agent else "") or "",
            "languages": settings.LANGUAGES if agent else (),
            "time_zone": (agent.time_zone if agent else "") or "",
        }
    }
