"""The customers CSV import page (staff, managers and admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from customers.csv_import import MAX_IMPORT_BYTES, ImportFailed, csv_import
from inbox.team.access import role_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def _may_import(user: User | AnonymousUser) -> bool:
    return user.is_staff or user.is_superuser or role_of(user) in ("admin", "manager")


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    """Upload a CSV; everything or nothing is imported, and every bad row is listed.

    The import runs in the request (files are small: at most MAX_IMPORT_BYTES); the page's
    progress bar follows the upload, then waits for the answer.
    """
    if not _may_import(request.user):
        raise PermissionDenied
    wants_json = "application/json" in request.headers.get("Accept", "")
    context: dict = {"max_bytes": MAX_IMPORT_BYTES}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["errors"] = [{"row": None, "message": "Choose a CSV file to import."}]
            status = 400
        elif (upload.size or 0) > MAX_IMPORT_BYTES:
            context["errors"] = [{"row": None, "message": f"The file is over {MAX_IMPORT_BYTES // 1024} KiB."}]
            status = 413
        else:
            try:
                context["result"] = csv_import(stream=upload.read(), by=request.user).as_dict()
            except ImportFailed as exc:
                context["errors"] = exc.errors
                status = 400
    if wants_json and request.method == "POST":
        if status == 200:
            return JsonResponse(context["result"])
        return JsonResponse(
            {"code": "invalid_csv", "detail": "Nothing was imported.", "errors": context["errors"]}, status=status
        )
    return render(request, "customers/import.html", context, status=status)
