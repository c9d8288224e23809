"""Request id, security headers, query-string checks and the language of every request.

All but the language one run sync or async, whichever the server calls with (no thread hop of their
own under daphne); the language one reads the user from the database, so it is Django's sync kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.deprecation import MiddlewareMixin

from .logs import request_id_from, request_id_var, request_var

REQUEST_ID_HEADER = "X-Request-ID"


class _Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)  # type: ignore[attr-defined]  # asgiref's type guard narrows self
        refused = self.refuse(request)
        if refused is not None:
            return refused
        self.before(request)
        try:
            response = self.get_response(request)
        finally:
            self.finally_(request)
        return self.after(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        refused = self.refuse(request)
        if refused is not None:
            return refused
        self.before(request)
        try:
            response = await self.get_response(request)
        finally:
            self.finally_(request)
        return self.after(request, response)

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        """An answer that ends the request here, or None to go on."""
        return None

    def before(self, request: HttpRequest) -> None:
        pass

    def finally_(self, request: HttpRequest) -> None:
        pass

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class RequestIdMiddleware(_Middleware):
    """`request.id` from a safe incoming X-Request-ID (a proxy's) or a new one; echoed in the response.

    It is put in a contextvar so every log line of the request carries it, and so does the Celery
    task that processes what the request stored.
    """

    # `id` and `_context_tokens` are attributes this middleware adds to the request (hence the ignores).
    def before(self, request: HttpRequest) -> None:
        request.id = request_id_from(request.headers.get(REQUEST_ID_HEADER))  # type: ignore[attr-defined]
        request._context_tokens = (request_id_var.set(request.id), request_var.set(request))  # type: ignore[attr-defined]

    def finally_(self, request: HttpRequest) -> None:
        id_token, request_token = request._context_tokens  # type: ignore[attr-defined]
        request_var.reset(request_token)
        request_id_var.reset(id_token)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response[REQUEST_ID_HEADER] = request.id  # type: ignore[attr-defined]
        return response


class ContentSecurityPolicyMiddleware(_Middleware):
    """Content-Security-Policy (settings.CONTENT_SECURITY_POLICY) unless a view set its own.

    Referrer-Policy, nosniff and X-Frame-Options come from Django's SecurityMiddleware and
    XFrameOptionsMiddleware.
    """

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class QueryStringMiddleware(_Middleware):
    """A NUL character in a query parameter's name or value is refused with 400 `{code, detail}`.

    PostgreSQL cannot hold NUL in text, so such a value reaching a filter is a 500; no route has a
    use for one, so they are refused for every route in one place (views check the rest: dates,
    ids, choices).
    """

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        if not request.META.get("QUERY_STRING"):
            return None
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                shown = name.replace("\x00", "\\x00")[:64]
                return JsonResponse(
                    {"code": "invalid", "detail": f"The query parameter {shown!r} contains a NUL character."},
                    status=400,
                )
        return None


class LanguageMiddleware(MiddlewareMixin):
    """The language and time zone of each request: the signed-in agent's choice (`Agent.language`,
    `Agent.time_zone`), else the browser's `Accept-Language` (or Django's language cookie), else the
    shop's LANGUAGE_CODE; the time zone stays UTC unless the agent set one (the pages then format
    dates in the browser's own zone, static/app/format.js).

    In place of Django's LocaleMiddleware and after AuthenticationMiddleware (it reads the user).
    Token-authenticated API calls are anonymous here (DRF authenticates in the view): their error
    texts follow Accept-Language. Both are reset after the response, so code running later on the
    same thread (a test, a task) is back in the default language.
    """

    def process_request(self, request: HttpRequest) -> None:
        language, zone = _agent_preferences(getattr(request, "user", None))
        if not language:
            language = translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()  # type: ignore[attr-defined]
        if zone:
            try:
                timezone.activate(ZoneInfo(zone))
            except (ZoneInfoNotFoundError, ValueError):
                pass

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language()
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        timezone.deactivate()
        return response


def _agent_preferences(user: Any) -> tuple[str, str]:
    """(language, time zone) the user picked as an agent; blanks when none or anonymous."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "", ""
    try:
        agent = user.agent
    except ObjectDoesNotExist:
        return "", ""
    language = getattr(agent, "language", "") or ""
    if language and not translation.check_for_language(language):
        language = ""
    return language, getattr(agent, "time_zone", "") or ""
