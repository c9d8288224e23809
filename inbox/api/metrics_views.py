"""Responsiveness metrics for managers: the badge per inbox, team and agent, trend, at-risk list."""

from __future__ import annotations

import csv
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Q
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox import metrics
from inbox.models import ResponseRecord, Role, Team
from inbox.team import access

MANAGING_ROLES = {Role.LEAD, Role.MANAGER, Role.ADMIN}


class CanSeeDashboards(BasePermission):
    message = "Dashboards are for leads, managers and admins."

    def has_permission(self, request, view) -> bool:
        return access.role_of(request.user) in MANAGING_ROLES


class MetricsQuery(serializers.Serializer):
    inbox = serializers.IntegerField(required=False, min_value=1)
    team = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.ChoiceField(choices=["messenger", "instagram", "sms", "email"], required=False)
    days = serializers.IntegerField(required=False, default=7, min_value=1, max_value=365)
    business = serializers.BooleanField(required=False, default=False)


QUERY_PARAMETERS = [
    OpenApiParameter("inbox", int, description="An inbox id (default: every inbox you may see)"),
    OpenApiParameter("team", int, description="Only conversations routed to this team"),
    OpenApiParameter("channel", str, enum=["messenger", "instagram", "sms", "email"]),
    OpenApiParameter("days", int, description="Period ending now, 1–365 days (default 7)"),
    OpenApiParameter("business", bool, description="Response times in business hours instead of wall-clock"),
]

RESPONSIVENESS = inline_serializer(
    "Responsiveness",
    {
        "inbox": serializers.IntegerField(allow_null=True),
        "team": serializers.IntegerField(allow_null=True),
        "channel": serializers.CharField(allow_null=True),
        "days": serializers.IntegerField(),
        "business": serializers.BooleanField(),
        "counted": serializers.IntegerField(),
        "answered": serializers.IntegerField(),
        "response_rate": serializers.FloatField(allow_null=True),
        "response_time_seconds": serializers.FloatField(allow_null=True),
        "median_response_seconds": serializers.FloatField(allow_null=True),
        "p90_response_seconds": serializers.FloatField(allow_null=True),
        "very_responsive": serializers.BooleanField(),
    },
)


class _MetricsView(APIView):
    permission_classes = [IsAuthenticated, CanSeeDashboards]

    def scope(self, request) -> dict:
        query = MetricsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        visible = access.inboxes_visible_to(request.user)
        if "inbox" in params:
            if not visible.filter(pk=params["inbox"]).exists():
                raise Http404
            params["inbox_ids"] = [params["inbox"]]
        else:
            params["inbox_ids"] = list(visible.values_list("pk", flat=True))
        if "team" in params and not access.is_admin(request.user):
            if params["team"] not in access.team_ids_of(request.user):
                raise Http404
        params["since"], params["until"] = metrics.window(params["days"])
        return params

    @staticmethod
    def measure(params: dict, **extra):
        return metrics.responsiveness(
            since=params["since"], until=params["until"], inbox_ids=params["inbox_ids"], team_id=params.get("team"),
            channel=params.get("channel"), business=params["business"], **extra,
        )


class ResponsivenessView(_MetricsView):
    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: RESPONSIVENESS})
    def get(self, request):
        params = self.scope(request)
        return Response({
            "inbox": params.get("inbox"), "team": params.get("team"), "channel": params.get("channel"),
            "days": params["days"], "business": params["business"], **self.measure(params).as_dict(),
        })


class AgentsView(_MetricsView):
    """Per agent: how many counted messages they answered first, and how fast."""

    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: inline_serializer("AgentResponsiveness", {
        "agent": serializers.DictField(), "answered": serializers.IntegerField(),
        "response_time_seconds": serializers.FloatField(allow_null=True),
        "median_response_seconds": serializers.FloatField(allow_null=True),
        "p90_response_seconds": serializers.FloatField(allow_null=True),
    }, many=True)})
    def get(self, request):
        params = self.scope(request)
        responders = (
            ResponseRecord.objects.filter(
                inbox_id__in=params["inbox_ids"], received_at__gte=params["since"], received_at__lt=params["until"],
                responder__isnull=False,
            ).values_list("responder_id", flat=True).distinct()
        )
        users = get_user_model().objects.filter(pk__in=list(responders)).order_by("username")
        rows = []
        for user in users:
            figures = self.measure(params, responder_id=user.pk).as_dict()
            rows.append({
                "agent": {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()},
                "answered": figures["answered"],
                "response_time_seconds": figures["response_time_seconds"],
                "median_response_seconds": figures["median_response_seconds"],
                "p90_response_seconds": figures["p90_response_seconds"],
            })
        rows.sort(key=lambda r: -(r["response_time_seconds"] or 0))  # slowest first
        return Response(rows)


class TeamsView(_MetricsView):
    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: inline_serializer("TeamResponsiveness", {
        "team": serializers.DictField(), "days": serializers.IntegerField(),
        "counted": serializers.IntegerField(), "answered": serializers.IntegerField(),
        "response_rate": serializers.FloatField(allow_null=True),
        "response_time_seconds": serializers.FloatField(allow_null=True),
        "median_response_seconds": serializers.FloatField(allow_null=True),
        "p90_response_seconds": serializers.FloatField(allow_null=True),
        "very_responsive": serializers.BooleanField(),
    }, many=True)})
    def get(self, request):
        params = self.scope(request)
        teams = Team.objects.all() if access.is_admin(request.user) else Team.objects.filter(pk__in=access.team_ids_of(request.user))
        out = []
        for team in teams.order_by("name"):
            figures = metrics.responsiveness(
                since=params["since"], until=params["until"], inbox_ids=params["inbox_ids"], team_id=team.pk,
                channel=params.get("channel"), business=params["business"],
            ).as_dict()
            out.append({"team": {"id": team.pk, "name": team.name}, "days": params["days"], **figures})
        return Response(out)


class TrendView(_MetricsView):
    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: inline_serializer("TrendDay", {
        "day": serializers.DateField(), "counted": serializers.IntegerField(), "answered": serializers.IntegerField(),
        "response_rate": serializers.FloatField(allow_null=True),
        "mean_response_seconds": serializers.FloatField(allow_null=True),
    }, many=True)})
    def get(self, request):
        params = self.scope(request)
        until = params["until"].date()
        return Response(metrics.daily_trend(inbox_ids=params["inbox_ids"], since=until - timedelta(days=params["days"] - 1), until=until))


def _breakers(params: dict):
    """Counted messages that cost the badge: never answered, or answered after 15 minutes."""
    field = "business_seconds" if params["business"] else "response_seconds"
    records = ResponseRecord.objects.filter(
        Q(responded_at__isnull=True) | Q(**{f"{field}__gt": metrics.BADGE_SECONDS}),
        inbox_id__in=params["inbox_ids"], received_at__gte=params["since"], received_at__lt=params["until"],
    )
    if params.get("team"):
        records = records.filter(team_id=params["team"])
    if params.get("channel"):
        records = records.filter(channel=params["channel"])
    return records.select_related("conversation__customer", "responder").order_by("-received_at")


class BreakersView(_MetricsView):
    @extend_schema(parameters=QUERY_PARAMETERS, description=(
        "The latest 200 counted messages that cost the badge (never answered, or after 15 minutes), newest "
        "first; the `X-Total-Count` header says how many there are in the period (the CSV export lists them all)."
    ), responses={200: inline_serializer("Breaker", {
        "conversation": serializers.IntegerField(), "customer": serializers.CharField(),
        "channel": serializers.CharField(), "received_at": serializers.DateTimeField(),
        "responded_at": serializers.DateTimeField(allow_null=True),
        "response_seconds": serializers.FloatField(allow_null=True),
        "responder": serializers.CharField(allow_null=True),
    }, many=True)})
    def get(self, request):
        params = self.scope(request)
        records = _breakers(params)
        rows = list(records[:BREAKERS_SHOWN])
        # The list holds the latest BREAKERS_SHOWN; the header says how many there are in all (the
        # CSV export has every one), so a page never passes a cut list off as the whole.
        total = records.count() if len(rows) == BREAKERS_SHOWN else len(rows)
        return Response([_breaker_row(r) for r in rows], headers={"X-Total-Count": str(total)})


# The breakers list returns the latest this many (X-Total-Count: all of them).
BREAKERS_SHOWN = 200


def _breaker_row(record: ResponseRecord) -> dict:
    return {
        "conversation": record.conversation_id,
        "customer": str(record.conversation.customer),
        "channel": record.channel,
        "received_at": record.received_at,
        "responded_at": record.responded_at,
        "response_seconds": record.response_seconds,
        "responder": record.responder.get_username() if record.responder else None,
    }


class AtRiskView(_MetricsView):
    """Live panel: open conversations waiting over 10 minutes, and Meta windows closing within 2 hours."""

    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: inline_serializer("AtRisk", {
        "waiting": serializers.ListField(child=serializers.DictField()),
        "closing": serializers.ListField(child=serializers.DictField()),
    })})
    def get(self, request):
        params = self.scope(request)
        return Response(at_risk(user=request.user, inbox_ids=params["inbox_ids"]))


def at_risk(*, user, inbox_ids, now=None) -> dict:
    now = now or timezone.now()
    base = access.conversations_visible_to(user).filter(inbox_id__in=inbox_ids, status__in=["open", "pending"])
    base = base.select_related("customer", "assignee")
    waiting = base.filter(waiting_since__lte=now - timedelta(minutes=10)).order_by("waiting_since")[:50]
    closing = base.filter(
        window_expires_at__gt=now, window_expires_at__lte=now + timedelta(hours=2), waiting_since__isnull=False,
    ).order_by("window_expires_at")[:50]

    def row(c):
        return {
            "conversation": c.pk, "customer": str(c.customer), "channel": c.channel,
            "assignee": c.assignee.get_username() if c.assignee else None,
            "waiting_since": c.waiting_since, "window_expires_at": c.window_expires_at,
        }

    return {"waiting": [row(c) for c in waiting], "closing": [row(c) for c in closing]}


class ExportView(_MetricsView):
    """CSV of every counted message in the period, for spreadsheets."""

    @extend_schema(parameters=QUERY_PARAMETERS, responses={(200, "text/csv"): str})
    def get(self, request):
        params = self.scope(request)
        records = ResponseRecord.objects.filter(
            inbox_id__in=params["inbox_ids"], received_at__gte=params["since"], received_at__lt=params["until"]
        ).select_related("responder", "inbox").order_by("received_at")
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="responsiveness.csv"'
        writer = csv.writer(response)
        writer.writerow(["inbox", "channel", "conversation", "received_at", "responded_at", "response_seconds",
                         "business_seconds", "responder"])
        for r in records.iterator(chunk_size=2000):
            writer.writerow([r.inbox.name, r.channel, r.conversation_id, r.received_at.isoformat(),
                             r.responded_at.isoformat() if r.responded_at else "", _blank(r.response_seconds),
                             _blank(r.business_seconds), r.responder.get_username() if r.responder else ""])
        return response



def _blank(value):
    return "" if value is None else value


class HeatmapView(_MetricsView):
    """Counted messages by weekday and hour (in `tz`, default UTC) with their mean response time."""

    @extend_schema(parameters=[*QUERY_PARAMETERS, OpenApiParameter("tz", str, description="IANA time zone")],
                   responses={200: inline_serializer("HeatCell", {
                       "weekday": serializers.IntegerField(), "hour": serializers.IntegerField(),
                       "counted": serializers.IntegerField(),
                       "mean_response_seconds": serializers.FloatField(allow_null=True)}, many=True)})
    def get(self, request):
        params = self.scope(request)
        tz_name = request.query_params.get("tz", "UTC")
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
            raise serializers.ValidationError({"tz": f"unknown time zone {tz_name[:64]!r}"}) from None
        records = ResponseRecord.objects.filter(
            inbox_id__in=params["inbox_ids"], received_at__gte=params["since"], received_at__lt=params["until"]
        )
        if params.get("channel"):
            records = records.filter(channel=params["channel"])
        rows = (
            records.annotate(weekday=ExtractIsoWeekDay("received_at", tzinfo=tz), hour=ExtractHour("received_at", tzinfo=tz))
            .values("weekday", "hour")
            .annotate(counted=Count("id"), mean=Avg("response_seconds"))
            .order_by("weekday", "hour")
        )
        return Response([
            {"weekday": r["weekday"], "hour": r["hour"], "counted": r["counted"], "mean_response_seconds": r["mean"]}
            for r in rows
        ])
