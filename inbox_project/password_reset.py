"""`/accounts/password_reset/`: Django's reset by email, throttled, with links to PUBLIC_BASE_URL.

Django's view builds the link from the request (its Host header and scheme), so a request with a
forged Host would mail a real user a link to somebody else's site; here the link is always
PUBLIC_BASE_URL's. Every POST counts against the submitted address and against the client's IP
(`inbox_project.client_ip`, as login lockout does): more than PASSWORD_RESET_LIMIT in
PASSWORD_RESET_WINDOW_MINUTES on either answers 429 and sends nothing. With the cache (Redis)
down the counters fail open, as the API throttles do, and the outage is logged.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from .client_ip import client_ip

logger = logging.getLogger(__name__)


def _count(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def reset_allowed(request: HttpRequest, email: str) -> bool:
    """Count this request; False when the address or the client asked too often lately."""
    limit = settings.PASSWORD_RESET_LIMIT
    window = settings.PASSWORD_RESET_WINDOW_MINUTES * 60
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    keys = [f"password-reset:email:{digest}", f"password-reset:ip:{client_ip(request) or 'unknown'}"]
    try:
        counts = [_count(key, window) for key in keys]
    except Exception as exc:  # redis-py's ConnectionError/TimeoutError, OSError: whatever the cache raises
        logger.warning("password reset throttle unavailable (%s); request let through", type(exc).__name__)
        return True
    return max(counts) <= limit


class PasswordResetView(auth_views.PasswordResetView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not reset_allowed(request, str(request.POST.get("email", ""))):
            return HttpResponse(
                "Too many password reset requests. Try again later.", status=429, content_type="text/plain; charset=utf-8"
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        base = urlsplit(settings.PUBLIC_BASE_URL)
        form.save(
            domain_override=base.netloc,
            use_https=base.scheme == "https",
            token_generator=self.token_generator,
            from_email=self.from_email,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            html_email_template_name=self.html_email_template_name,
            extra_email_context=self.extra_email_context,  # type: ignore[arg-type]  # the stubs: Mapping here, dict there
            request=self.request,
        )
        return HttpResponseRedirect(self.get_success_url())
