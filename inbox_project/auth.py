"""Authentication backends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from axes.backends import AxesStandaloneBackend

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes in over HTTP.

    Logins over HTTP (the admin, /accounts/login/) always carry the request. A call without one
    comes from inside the process (a management command, the test client's `login()`), where there
    is no client to count failures for; axes would refuse it outright, so it is let through to
    the next backend.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
