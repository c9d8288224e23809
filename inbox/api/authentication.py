"""API token authentication that reads the user's agent profile with the token.

Every API view asks who the user is in the inbox (role, teams: `inbox.team.access`), so DRF's
token lookup (token joined to its user) also joins the agent profile: one query instead of two.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with `user.agent` read in the same query (a user without
    an agent profile still authenticates; `access.agent_of` answers None for them)."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = model.objects.select_related("user", "user__agent").get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
