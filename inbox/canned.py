"""Canned responses: saved replies an agent inserts by typing `/shortcut` in the composer.

A response belongs to a team (only its members see it) or to nobody (everyone sees it).
The model lives here and is imported by `inbox.models` so migrations find it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q, QuerySet


class CannedResponse(models.Model):
    shortcut = models.SlugField(max_length=40, help_text="Typed after a slash in the composer, e.g. /refund")
    title = models.CharField(max_length=100)
    text = models.TextField()
    team = models.ForeignKey(
        "inbox.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="canned_responses",
        help_text="Empty: shared by every team",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "inbox"
        ordering = ["shortcut", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "shortcut"], name="canned_unique_shortcut_per_team"),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


def canned_for(*, user, q: str = "", limit: int = 200) -> QuerySet[CannedResponse]:
    """The canned responses `user` may use, matching `q` on the shortcut (prefix) or title."""
    from .access import is_admin, team_ids_of

    qs = CannedResponse.objects.all()
    if not is_admin(user):
        qs = qs.filter(Q(team__isnull=True) | Q(team__in=team_ids_of(user)))
    q = q.strip().lstrip("/")
    if q:
        qs = qs.filter(Q(shortcut__istartswith=q) | Q(title__icontains=q))
    return qs[:limit]
