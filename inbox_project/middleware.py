"""Request id and security headers on every response.

Both run sync or async, whichever the server calls with (no thread hop of their own under daphne).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .logs import request_id_from, request_id_var, request_var

REQUEST_ID_HEADER = "X-Request-ID"


class _Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        self.before(request)
        try:
            response = self.get_response(request)
        finally:
            self.finally_(request)
        return self.after(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        self.before(request)
        try:
            response = await self.get_response(request)
        finally:
            self.finally_(request)
        return self.after(request, response)

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

    def before(self, request: HttpRequest) -> None:
        request.id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request._context_tokens = (request_id_var.set(request.id), request_var.set(request))

    def finally_(self, request: HttpRequest) -> None:
        id_token, request_token = request._context_tokens
        request_var.reset(request_token)
        request_id_var.reset(id_token)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response[REQUEST_ID_HEADER] = request.id
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
