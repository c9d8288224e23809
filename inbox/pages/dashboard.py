"""The managers' dashboard page; its figures come from /api/v1/metrics/."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from inbox.api.metrics_views import MANAGING_ROLES
from inbox.models import Team
from inbox.pages.reports import report_names
from inbox.team import access


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if access.role_of(request.user) not in MANAGING_ROLES:
        raise PermissionDenied("Dashboards are for leads, managers and admins.")
    inboxes = access.inboxes_visible_to(request.user).order_by("name")
    teams = Team.objects.all() if access.is_admin(request.user) else Team.objects.filter(pk__in=access.team_ids_of(request.user))
    return render(request, "dashboard/dashboard.html", {
        "inboxes": inboxes, "teams": teams.order_by("name"), "report_name": "responsiveness", "report_names": report_names(),
    })
