"""Open sockets follow changes of who may see what.

A socket joins its channel-layer groups at connect (`inbox.realtime.consumers`). When what a user may see
changes — added to or removed from a team, another role, deactivated or made superuser, an inbox
moved to another team or connected, a team deleted — the users concerned are collected here and,
once the transaction commits, their sockets are told (`access.recompute` to `user-<id>`) to re-read
their access: leave the groups no longer allowed, join the new ones, and tell the browser
(`access.changed`) to refetch over REST. A deactivated user's sockets are closed.

Model signals, so the REST API, Django admin, the shell and fixtures are all covered; writes made
with `QuerySet.update()` send no signals and are not (the app makes none on these fields).
Several changes in one transaction send one control message per user.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_delete

from inbox.models import Agent, Inbox, Role, Team
from inbox.realtime import publish as realtime

_local = threading.local()
_UNKNOWN = object()


def _pending() -> set[int]:
    pending = getattr(_local, "user_ids", None)
    if pending is None:
        pending = _local.user_ids = set()
    return pending


def access_changed(user_ids: Iterable[int | None]) -> None:
    """Recompute these users' socket groups once the current transaction commits (at once outside one).

    Ids wait in a per-thread set that the first callback to run after a commit empties, so one
    transaction's changes make one message per user. Ids from a rolled-back transaction stay
    and go out with the next commit: a needless recompute, never a missed one.
    """
    ids = {int(pk) for pk in user_ids if pk}
    if not ids:
        return
    _pending().update(ids)
    transaction.on_commit(_flush, robust=True)


def _flush() -> None:
    pending = _pending()
    if not pending:
        return
    ids = set(pending)
    pending.clear()
    realtime.access_recompute_send(ids)


def _members_of(team_ids: Iterable[int | None]) -> list[int]:
    team_ids = [pk for pk in team_ids if pk]
    if not team_ids:
        return []
    return list(Agent.objects.filter(teams__in=team_ids).values_list("user_id", flat=True).distinct())


def _admins() -> list[int]:
    User = get_user_model()
    return list(
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(agent__role=Role.ADMIN))
        .values_list("pk", flat=True)
    )


def _remember(instance, fields: tuple[str, ...]) -> None:
    """The values as loaded (deferred ones unknown), to tell on save whether they changed."""
    instance._access_loaded = {f: instance.__dict__.get(f, _UNKNOWN) for f in fields}


def _changed(instance, fields: tuple[str, ...]) -> bool:
    loaded = getattr(instance, "_access_loaded", None) or {}
    return any(loaded.get(f, _UNKNOWN) is _UNKNOWN or loaded[f] != getattr(instance, f) for f in fields)


def _relevant(update_fields, fields: tuple[str, ...]) -> bool:
    return update_fields is None or bool(set(update_fields) & set(fields))


# --- Agents: role, existence ------------------------------------------------------------------------

AGENT_FIELDS = ("role",)


def on_agent_init(sender, instance, **kwargs) -> None:
    _remember(instance, AGENT_FIELDS)


def on_agent_saved(sender, instance, created: bool, update_fields=None, raw: bool = False, **kwargs) -> None:
    if created or (_relevant(update_fields, AGENT_FIELDS) and _changed(instance, AGENT_FIELDS)):
        access_changed([instance.user_id])
    _remember(instance, AGENT_FIELDS)


def on_agent_deleted(sender, instance, **kwargs) -> None:
    access_changed([instance.user_id])


# --- Team membership (either side of Agent.teams) --------------------------------------------------


def on_membership_changed(sender, instance, action: str, reverse: bool, pk_set=None, **kwargs) -> None:
    if not reverse:  # agent.teams.add/remove/set/clear
        if (action in ("post_add", "post_remove") and pk_set) or action == "post_clear":
            access_changed([instance.user_id])
        return
    # team.agents.add/remove/set/clear: pk_set holds agent ids; a clear says nothing of whom, so
    # the members are read just before.
    if action in ("post_add", "post_remove") and pk_set:
        access_changed(Agent.objects.filter(pk__in=pk_set).values_list("user_id", flat=True))
    elif action == "pre_clear":
        instance._access_cleared = list(instance.agents.values_list("user_id", flat=True))
    elif action == "post_clear":
        access_changed(getattr(instance, "_access_cleared", ()))


def on_team_deleting(sender, instance, **kwargs) -> None:
    # Its memberships go with it (no m2m signal) and its inboxes lose their team (no save signal).
    access_changed(_members_of([instance.pk]))


# --- Inboxes: which team owns them --------------------------------------------------------------------

INBOX_FIELDS = ("team_id",)


def on_inbox_init(sender, instance, **kwargs) -> None:
    _remember(instance, INBOX_FIELDS)


def on_inbox_saved(sender, instance, created: bool, update_fields=None, raw: bool = False, **kwargs) -> None:
    if created:
        # Admins see every inbox; the owning team's members see it too.
        access_changed(_admins() + _members_of([instance.team_id]))
    elif _relevant(update_fields, ("team", "team_id")) and _changed(instance, INBOX_FIELDS):
        before = (getattr(instance, "_access_loaded", None) or {}).get("team_id", _UNKNOWN)
        if before is _UNKNOWN:
            # The old team is not known: every member of any team may have lost it.
            access_changed(Agent.objects.exclude(teams=None).values_list("user_id", flat=True).distinct())
        else:
            access_changed(_members_of([before, instance.team_id]))
    _remember(instance, INBOX_FIELDS)


# --- Users: active, superuser -------------------------------------------------------------------------

USER_FIELDS = ("is_active", "is_superuser")


def on_user_init(sender, instance, **kwargs) -> None:
    _remember(instance, USER_FIELDS)


def on_user_saved(sender, instance, created: bool, update_fields=None, raw: bool = False, **kwargs) -> None:
    if not created and _relevant(update_fields, USER_FIELDS) and _changed(instance, USER_FIELDS):
        access_changed([instance.pk])
    _remember(instance, USER_FIELDS)


def on_user_deleted(sender, instance, **kwargs) -> None:
    access_changed([instance.pk])


def connect() -> None:
    """Called from InboxConfig.ready."""
    User = get_user_model()
    uid = "inbox.team.access_events."
    post_init.connect(on_agent_init, sender=Agent, dispatch_uid=uid + "agent_init")
    post_save.connect(on_agent_saved, sender=Agent, dispatch_uid=uid + "agent_saved")
    post_delete.connect(on_agent_deleted, sender=Agent, dispatch_uid=uid + "agent_deleted")
    m2m_changed.connect(on_membership_changed, sender=Agent.teams.through, dispatch_uid=uid + "membership")
    pre_delete.connect(on_team_deleting, sender=Team, dispatch_uid=uid + "team_deleting")
    post_init.connect(on_inbox_init, sender=Inbox, dispatch_uid=uid + "inbox_init")
    post_save.connect(on_inbox_saved, sender=Inbox, dispatch_uid=uid + "inbox_saved")
    post_init.connect(on_user_init, sender=User, dispatch_uid=uid + "user_init")
    post_save.connect(on_user_saved, sender=User, dispatch_uid=uid + "user_saved")
    post_delete.connect(on_user_deleted, sender=User, dispatch_uid=uid + "user_deleted")
