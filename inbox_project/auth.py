"""Authentication backends."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes in over HTTP.

    Logins over HTTP (the admin, /accounts/login/) always carry the request. A call without one
    comes from inside the process (a management command, the test client's `login()`), where there
    is no client to count failures for; axes would refuse it outright, so it is let through to
    the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
