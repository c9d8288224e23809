"""Request id and security headers on every response."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .logs import request_id_from, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """`request.id` from a safe incoming X-Request-ID (a proxy's) or a new one; echoed in the response.

    It is put in a contextvar so every log line of the request carries it, and so does the Celery
    task that processes what the request stored.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request.id
        return response


class ContentSecurityPolicyMiddleware:
    """Content-Security-Policy (settings.CONTENT_SECURITY_POLICY) unless a view set its own.

    Referrer-Policy, nosniff and X-Frame-Options come from Django's SecurityMiddleware and
    XFrameOptionsMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response and not request.path.startswith(settings.CSP_EXEMPT_PATHS):
            response["Content-Security-Policy"] = policy
        return response
