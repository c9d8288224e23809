"""Roles as Django groups: agent, lead, manager, admin.

The inbox checks roles through `Agent.role` (see `inbox.team.access`); the groups carry the matching
model permissions so Django admin and any permission-based tooling agree with the role.
`groups_sync` is idempotent: the data migration runs it, and so does post_migrate, so models
added by later migrations get their permissions too.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.db import transaction

from inbox.models import Role

# (app_label, model name or "*", actions). Each role also holds everything of the roles before it.
Grants = list[tuple[str, str, tuple[str, ...]]]
_AGENT: Grants = [
    ("inbox", "*", ("view",)),
    ("inbox", "conversation", ("change",)),
    ("inbox", "message", ("add",)),
    ("inbox", "notification", ("change",)),
    ("customers", "*", ("view",)),
    ("customers", "customer", ("change",)),
]
_LEAD: Grants = [
    ("inbox", "agent", ("change",)),
    ("customers", "label", ("add", "change")),
    ("campaigns", "*", ("view",)),
]
_MANAGER: Grants = [
    ("campaigns", "*", ("add", "change")),
    ("customers", "consentevent", ("add",)),
]
_ADMIN: Grants = [
    ("inbox", "*", ("add", "change", "delete", "view")),
    ("customers", "*", ("add", "change", "delete", "view")),
    ("campaigns", "*", ("add", "change", "delete", "view")),
    ("auth", "user", ("add", "change", "view")),
    ("auth", "group", ("view",)),
    ("authtoken", "*", ("add", "change", "delete", "view")),
]

ROLE_PERMISSIONS: dict[str, Grants] = {
    Role.AGENT: _AGENT,
    Role.LEAD: _AGENT + _LEAD,
    Role.MANAGER: _AGENT + _LEAD + _MANAGER,
    Role.ADMIN: _AGENT + _LEAD + _MANAGER + _ADMIN,
}


def _permissions_for(spec, *, Permission):
    wanted = set()
    for app_label, model, actions in spec:
        perms = Permission.objects.filter(content_type__app_label=app_label)
        if model != "*":
            perms = perms.filter(content_type__model=model)
        for perm in perms.values_list("id", "codename"):
            if perm[1].split("_", 1)[0] in actions:
                wanted.add(perm[0])
    return wanted


def groups_sync(*, apps=global_apps, using: str = "default") -> None:
    """Create the four role groups and give each exactly its permissions."""
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # On a fresh database permissions are only created after all migrations; make them now.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=global_apps)
    with transaction.atomic(using=using):
        for role, spec in ROLE_PERMISSIONS.items():
            group, _ = Group.objects.using(using).get_or_create(name=str(role))
            group.permissions.set(_permissions_for(spec, Permission=Permission))


def user_groups_sync(*, user, role: str) -> None:
    """Put the user in exactly the group of their role (other, non-role groups are kept)."""
    from django.contrib.auth.models import Group

    role_names = [str(r) for r in Role]
    group, created = Group.objects.get_or_create(name=str(role))
    if created:
        group.permissions.set(_permissions_for(ROLE_PERMISSIONS[role], Permission=_permission_model()))
    user.groups.remove(*Group.objects.filter(name__in=role_names).exclude(pk=group.pk))
    user.groups.add(group)
    # Django admin is for admins only; superusers stay staff whatever their inbox role.
    is_staff = role == Role.ADMIN or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])


def _permission_model():
    from django.contrib.auth.models import Permission

    return Permission


def post_migrate_groups_sync(sender, using: str = "default", **kwargs) -> None:
    if sender.name == "inbox":
        groups_sync(using=using)


def on_agent_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """Keep the user's role group in step however the role was set (API, Django admin, fixtures)."""
    if update_fields is not None and "role" not in update_fields:
        return
    user_groups_sync(user=instance.user, role=instance.role)
