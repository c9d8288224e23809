"""The reports pages, /reports/<name>/ (the figures come from /api/v1/reports/<name>/)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from inbox.reports.builders import REPORTS
from inbox.reports.scope import MANAGING_ROLES
from inbox.team import access


def report_names() -> list[tuple[str, str]]:
    return [(slug, spec["title"]) for slug, spec in REPORTS.items()]


@login_required
def reports_index(request: HttpRequest) -> HttpResponse:
    return redirect("report", name="volume")


@login_required
def report_page(request: HttpRequest, name: str) -> HttpResponse:
    if access.role_of(request.user) not in MANAGING_ROLES:
        raise PermissionDenied("Reports are for leads, managers and admins.")
    if name not in REPORTS:
        raise Http404("No such report")
    return render(request, "reports/report.html", {
        "report_name": name, "report_title": REPORTS[name]["title"], "report_description": REPORTS[name]["description"],
        "report_names": report_names(),
        "inboxes": access.inboxes_visible_to(request.user).order_by("name"),
        "teams": access.teams_visible_to(request.user).order_by("name"),
    })
