"""Saved views: a named set of the conversation list's filters, private or shared with a team.

The filters are the list's own query parameters (checked by the API with the list's FilterSet), so
a view lists, and counts, exactly what the list would with those parameters for whoever opens it:
`assignee: me` is the viewer, and the viewer's access decides what is counted.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from inbox.conversations.errors import ReplyRefused
from inbox.models import SavedView, Team
from inbox.team.access import is_admin, role_of, team_ids_of


class SavedViewRefused(ReplyRefused):
    """A change to a saved view the user may not make (`{code, detail}` and a 4xx, like every refusal)."""


def saved_views_for(*, user) -> QuerySet[SavedView]:
    """The user's own views and those shared with one of their teams, by name."""
    if role_of(user) is None:
        return SavedView.objects.none()
    return (
        SavedView.objects.filter(Q(owner_id=user.pk) | Q(team_id__in=team_ids_of(user)))
        .select_related("owner", "team")
        .order_by("name", "id")
    )


def _check_may_share(*, user, team: Team | None) -> None:
    if team is not None and not is_admin(user) and team.pk not in team_ids_of(user):
        raise SavedViewRefused("forbidden", "You may share a view only with a team you belong to.", 403)


def _check_may_change(*, user, view: SavedView) -> None:
    if view.owner_id != user.pk and not is_admin(user):
        raise SavedViewRefused("forbidden", "Only the person who saved this view may change or delete it.", 403)


def _saved(view: SavedView) -> SavedView:
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:
        raise SavedViewRefused("duplicate", f"You already have a view named “{view.name}”.", 409) from None
    return view


def saved_view_create(*, owner, name: str, filters: dict[str, str], team: Team | None = None) -> SavedView:
    """A new view of `owner`'s; `team` shares it with that team (a team `owner` belongs to)."""
    _check_may_share(user=owner, team=team)
    return _saved(SavedView(owner=owner, name=name.strip(), filters=filters, team=team))


def saved_view_update(*, view: SavedView, by, name: str | None = None, filters: dict[str, str] | None = None,
                      team: Team | None | bool = False) -> SavedView:
    """Rename, change the filters, or share (`team`) / make private (`team=None`); False keeps the sharing."""
    _check_may_change(user=by, view=view)
    if name is not None:
        view.name = name.strip()
    if filters is not None:
        view.filters = filters
    if team is not False:
        _check_may_share(user=by, team=team)  # type: ignore[arg-type]
        view.team = team  # type: ignore[assignment]
    return _saved(view)


def saved_view_delete(*, view: SavedView, by) -> None:
    _check_may_change(user=by, view=view)
    view.delete()
