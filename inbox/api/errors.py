"""Every API error is `{"code": "<machine_code>", "detail": "<human text>"}` with a fitting 4xx.

`detail` is in the request's language (inbox_project.middleware.LanguageMiddleware: the agent's, else
Accept-Language): the services mark their sentences with gettext, DRF's own are translated by DRF's
catalogs; `code` never changes with the language.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from inbox.conversations.errors import ReplyRefused


class ApiError(exceptions.APIException):
    def __init__(self, code: str, detail: str, status_code: int = 400):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.machine_code = code


def _flatten(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}{name}: " if name else prefix)
        return out
    if isinstance(detail, list):
        out = []
        for item in detail:
            out += _flatten(item, prefix)
        return out
    return [f"{prefix}{detail}"]


def exception_handler(exc, context):
    if isinstance(exc, ReplyRefused):
        return Response({"code": exc.code, "detail": exc.detail}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        return Response({"code": "invalid", "detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response({"code": "not_found", "detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        code = exc.machine_code
    elif isinstance(exc, exceptions.ValidationError):
        code = "invalid"
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "invalid"
    detail = response.data.get("detail") if isinstance(response.data, dict) and "detail" in response.data else None
    if detail is None:
        detail = "; ".join(_flatten(response.data))
    body = {"code": code, "detail": str(detail)}
    extra = getattr(exc, "extra", None)
    if isinstance(extra, dict):  # more an error names, e.g. a merged customer's survivor
        body.update({k: v for k, v in extra.items() if k not in body})
    if isinstance(exc, exceptions.ValidationError) and isinstance(response.data, dict):
        body["fields"] = response.data
    response.data = body
    return response
