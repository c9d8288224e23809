"""Canned responses: saved replies an agent inserts by typing `/shortcut` in the composer.

A response belongs to a team (only its members see it) or to nobody (everyone sees it).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from inbox.models import CannedResponse
from inbox.team.access import is_admin, team_ids_of


def canned_for(*, user, q: str = "", limit: int = 200) -> QuerySet[CannedResponse]:
    """The canned responses `user` may use, matching `q` on the shortcut (prefix) or title."""
    qs = CannedResponse.objects.all()
    if not is_admin(user):
        qs = qs.filter(Q(team__isnull=True) | Q(team__in=team_ids_of(user)))
    q = q.strip().lstrip("/")
    if q:
        qs = qs.filter(Q(shortcut__istartswith=q) | Q(title__icontains=q))
    return qs[:limit]
