"""`/api/v1/reports/<name>/` and `.csv`: the managers' reports (inbox/reports/), their drill-down to
the conversations behind a row, and each user's weekly-digest subscription.

Leads, managers and admins; a lead or manager sees only what their teams see (the inboxes of their
teams, their teams, their teams' agents), an admin everything; agents get 403. An inbox or team out
of reach is 404.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.api.errors import ApiError
from inbox.csat.reports import cell
from inbox.reports import builders, digest
from inbox.reports.scope import MANAGING_ROLES, Scope, ScopeRefused, scope_for
from inbox.team import access

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CHANNELS = ["messenger", "instagram", "sms", "email"]
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


class ReportQuery(serializers.Serializer):
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=365)
    inbox = serializers.IntegerField(required=False, min_value=1)
    team = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.ChoiceField(choices=CHANNELS, required=False)
    page = serializers.IntegerField(required=False, default=1, min_value=1)
    page_size = serializers.IntegerField(required=False, default=PAGE_SIZE, min_value=1, max_value=MAX_PAGE_SIZE)
    sort = serializers.CharField(required=False, max_length=40, default="")


QUERY_PARAMETERS = [
    OpenApiParameter("days", int, description="The period: the last 1–365 UTC days, today included (default 30)"),
    OpenApiParameter("inbox", int, description="One inbox (default: every inbox you may see)"),
    OpenApiParameter("team", int, description="One of your teams"),
    OpenApiParameter("channel", str, enum=CHANNELS),
    OpenApiParameter("page", int, description="Page of the table (default 1)"),
    OpenApiParameter("page_size", int, description=f"Rows a page (default {PAGE_SIZE}, at most {MAX_PAGE_SIZE})"),
    OpenApiParameter("sort", str, description="A column key, `-key` for descending (default: the report's order)"),
]
NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(builders.REPORTS))

REPORT = inline_serializer("Report", {
    "name": serializers.CharField(), "title": serializers.CharField(), "description": serializers.CharField(),
    "available": serializers.BooleanField(), "scope": serializers.DictField(), "previous": serializers.DictField(),
    "figures": serializers.ListField(child=serializers.DictField()),
    "charts": serializers.ListField(child=serializers.DictField()),
    "columns": serializers.ListField(child=serializers.DictField()),
    "rows": serializers.ListField(child=serializers.DictField()),
    "table": serializers.DictField(), "notes": serializers.ListField(child=serializers.CharField()),
})


def _scope(request: Request) -> tuple[Scope, dict[str, Any]]:
    query = ReportQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    v = dict(query.validated_data)
    try:
        scope = scope_for(request.user, days=v["days"], inbox=v.get("inbox"), team=v.get("team"), channel=v.get("channel"))
    except ScopeRefused as exc:
        raise ApiError(exc.code, exc.detail, exc.status) from None
    return scope, v


def _report(request: Request, name: str) -> tuple[Scope, dict[str, Any], dict[str, Any]]:
    if name not in builders.REPORTS:
        raise ApiError("not_found", f"No report named {name[:40]!r}; there are: {', '.join(builders.REPORTS)}.", 404)
    scope, v = _scope(request)
    return scope, v, builders.build(name, scope)


def _sort_key(unit: str):
    def key(row_value: Any) -> tuple:
        if row_value is None:
            return (1, 0)
        if unit == "money":
            try:
                return (0, Decimal(str(row_value)))
            except InvalidOperation:
                return (1, 0)
        return (0, row_value if not isinstance(row_value, str) else row_value.lower())
    return key


def sort_rows(rows: list[dict], columns: list[dict], sort: str) -> list[dict]:
    """Rows sorted by a column key (`-key` descending); empty values last either way."""
    key = sort.lstrip("-")
    units = {c["key"]: c["unit"] for c in columns}
    if key not in units:
        if sort:
            raise ApiError("invalid", f"sort must be one of the columns: {', '.join(units)} (with - for descending).")
        return rows
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: _sort_key(units[key])(r.get(key)), reverse=sort.startswith("-"))
    return present + missing


class ReportView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["reports"], parameters=[NAME, *QUERY_PARAMETERS], responses={200: REPORT})
    def get(self, request: Request, name: str) -> Response:
        """One report: its figures against the previous period, its charts and a page of its table."""
        scope, v, report = _report(request, name)
        rows = sort_rows(report.pop("rows"), report["columns"], v["sort"])
        size, page = v["page_size"], v["page"]
        pages = max(1, -(-len(rows) // size))
        report["rows"] = rows[(page - 1) * size: page * size]
        report["table"] = {"count": len(rows), "page": page, "pages": pages, "page_size": size, "sort": v["sort"]}
        return Response(report)


class ReportCsvView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["reports"], parameters=[NAME, *QUERY_PARAMETERS], responses={(200, "text/csv"): str})
    def get(self, request: Request, name: str) -> HttpResponse:
        """The report's whole table as CSV (sorted like the page); a cell that a spreadsheet would run
        as a formula (starting with = + - @) is neutralised with a leading quote."""
        scope, v, report = _report(request, name)
        rows = sort_rows(report["rows"], report["columns"], v["sort"])
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}-{scope.first_day}-{scope.last_day}.csv"'
        writer = csv.writer(response)
        keys = [c["key"] for c in report["columns"]]
        writer.writerow(keys)
        for row in rows:
            writer.writerow([cell("" if row.get(k) is None else row.get(k)) for k in keys])
        return response


class DrillView(APIView):
    permission_classes = [IsAuthenticated]
    LIMIT = 100

    @extend_schema(tags=["reports"], parameters=[
        NAME, *QUERY_PARAMETERS[:4], *(OpenApiParameter(k, str, description="A row's drill value") for k in builders.DRILL_KEYS),
    ], responses={200: inline_serializer("ReportConversations", {
        "count": serializers.IntegerField(), "results": serializers.ListField(child=serializers.DictField()),
    })})
    def get(self, request: Request, name: str) -> Response:
        """The conversations behind one row of a report (the newest 100), each a link into the inbox."""
        if name not in builders.REPORTS:
            raise ApiError("not_found", "No such report.", 404)
        scope, _ = _scope(request)
        params = {k: request.query_params[k][:100] for k in builders.DRILL_KEYS if request.query_params.get(k)}
        try:
            qs = builders.drill_conversations(name, scope, params)
        except (ValueError, KeyError):
            raise ApiError("invalid", "A drill-down value is malformed.") from None
        qs = qs.filter(pk__in=access.conversations_visible_to(request.user).values("pk"))
        count = qs.count()
        rows = qs.select_related("customer", "assignee", "inbox").order_by("-created_at", "-pk")[: self.LIMIT]
        return Response({"count": count, "results": [{
            "id": c.pk, "url": f"/conversations/{c.pk}/", "customer": str(c.customer), "channel": c.channel,
            "inbox": c.inbox.name, "status": c.status, "assignee": c.assignee.get_username() if c.assignee else None,
            "created_at": c.created_at, "resolved_at": c.resolved_at,
        } for c in rows]})


class DigestSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    time_zone = serializers.CharField(read_only=True)
    next_at = serializers.DateTimeField(read_only=True, allow_null=True)


class DigestView(APIView):
    """My weekly digest: on or off. It goes out Monday at 08:00 in my time zone, with last week's figures."""

    permission_classes = [IsAuthenticated]
    serializer_class = DigestSerializer

    def _check(self, request: Request) -> None:
        if access.role_of(request.user) not in MANAGING_ROLES:
            raise ApiError("forbidden", "The weekly digest is for leads, managers and admins.", 403)

    @extend_schema(tags=["reports"], responses={200: DigestSerializer})
    def get(self, request: Request) -> Response:
        self._check(request)
        return Response(digest.subscription(cast("User", request.user)))  # IsAuthenticated: never anonymous

    @extend_schema(tags=["reports"], request=DigestSerializer, responses={200: DigestSerializer})
    def put(self, request: Request) -> Response:
        self._check(request)
        data = DigestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = cast("User", request.user)  # IsAuthenticated: never anonymous
        digest.subscribe(user, enabled=data.validated_data["enabled"])
        return Response(digest.subscription(user))

