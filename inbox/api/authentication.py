"""API token authentication that reads the user's agent profile and team ids with the token.

Every API view asks who the user is in the inbox (role, teams: `inbox.team.access`), so DRF's
token lookup (token joined to its user) also joins the agent profile and, on PostgreSQL, reads the
agent's team ids as an array: one query instead of three. They are the request's snapshot, as the
user row itself is.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from inbox.models import Agent
from inbox.team.access import KNOWN_TEAM_IDS


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with `user.agent` and its team ids read in the same query
    (a user without an agent profile still authenticates; `access.agent_of` answers None for them)."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        tokens = model.objects.select_related("user", "user__agent")
        if connections[tokens.db].vendor == "postgresql":
            from django.contrib.postgres.expressions import ArraySubquery  # not on the embedded SQLite

            teams = Agent.teams.through.objects.filter(agent__user_id=OuterRef("user_id")).values("team_id")
            tokens = tokens.annotate(agent_team_ids=ArraySubquery(teams))
        try:
            token = tokens.get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        team_ids = getattr(token, "agent_team_ids", None)
        if team_ids is not None:
            try:
                token.user.agent.__dict__[KNOWN_TEAM_IDS] = team_ids
            except Agent.DoesNotExist:
                pass
        return (token.user, token)
