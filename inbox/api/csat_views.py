"""`/api/v1/csat/`: satisfaction survey answers, their summary (CSAT score, response rate) by agent,
team and channel, and a CSV export — for leads, managers and admins, over the inboxes they see."""

from __future__ import annotations

import csv

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.api.errors import ApiError
from inbox.api.metrics_views import CanSeeDashboards
from inbox.csat import reports
from inbox.models import CsatResponse, CsatStatus
from inbox.reports.scope import ScopeRefused, scope_for

CHANNELS = ["messenger", "instagram", "sms", "email"]


class CsatQuery(serializers.Serializer):
    inbox = serializers.IntegerField(required=False, min_value=1)
    agent = serializers.IntegerField(required=False, min_value=1)
    team = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.ChoiceField(choices=CHANNELS, required=False)
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=365)
    since = serializers.DateField(required=False, help_text="First day (UTC), instead of `days`")
    until = serializers.DateField(required=False, help_text="Last day (UTC), inclusive; default today")
    status = serializers.ChoiceField(choices=CsatStatus.choices, required=False)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"since": "since is after until."})
        return attrs


QUERY_PARAMETERS = [
    OpenApiParameter("inbox", int, description="An inbox id (default: every inbox you may see)"),
    OpenApiParameter("agent", int, description="The agent whose conversation was rated (user id)"),
    OpenApiParameter("team", int),
    OpenApiParameter("channel", str, enum=CHANNELS),
    OpenApiParameter("days", int, description="The period: the last 1–365 UTC days, today included (default 30)"),
    OpenApiParameter("since", str, description="YYYY-MM-DD, instead of days"),
    OpenApiParameter("until", str, description="YYYY-MM-DD, inclusive"),
    OpenApiParameter("status", str, enum=list(CsatStatus.values),
                     description="Default: sent and answered surveys; `scheduled`/`skipped` by when they were due"),
]


def _scope(request) -> dict:
    query = CsatQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = dict(query.validated_data)
    try:
        scope = scope_for(request.user, days=params["days"], inbox=params.get("inbox"), team=params.get("team"),
                          channel=params.get("channel"), first_day=params.get("since"), last_day=params.get("until"))
    except ScopeRefused as exc:
        raise ApiError(exc.code, exc.detail, exc.status) from None
    return {
        "filters": {"inbox": params.get("inbox"), "agent": params.get("agent"), "team": scope.team,
                    "channel": scope.channel, "since": scope.since, "until": scope.until},
        "responses": reports.responses_filtered(
            inbox_ids=list(scope.inbox_ids), since=scope.since, until=scope.until, agent_id=params.get("agent"),
            team_id=scope.team, channel=scope.channel, status=params.get("status"),
        ),
    }


class CsatResponseSerializer(serializers.ModelSerializer):
    customer = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()

    class Meta:
        model = CsatResponse
        fields = ["id", "conversation", "inbox", "customer", "agent", "team", "channel", "status", "skip_reason",
                  "rating", "comment", "due_at", "sent_at", "answered_at", "commented_at"]
        read_only_fields = fields

    def get_customer(self, obj: CsatResponse) -> dict:
        return {"id": obj.customer_id, "name": str(obj.customer)}

    def get_agent(self, obj: CsatResponse) -> dict | None:
        if obj.agent is None:
            return None
        return {"id": obj.agent_id, "name": obj.agent.get_full_name() or obj.agent.get_username()}


@extend_schema(tags=["csat"], parameters=QUERY_PARAMETERS, summary="Survey answers (newest first)")
class CsatListView(generics.ListAPIView):
    serializer_class = CsatResponseSerializer
    permission_classes = [IsAuthenticated, CanSeeDashboards]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CsatResponse.objects.none()
        return _scope(self.request)["responses"].select_related("customer", "agent")


FIGURES: dict[str, serializers.Field] = {
    "sent": serializers.IntegerField(), "answered": serializers.IntegerField(),
    "response_rate": serializers.FloatField(allow_null=True, help_text="answered / sent"),
    "csat_score": serializers.FloatField(allow_null=True, help_text="share of answers rating 4 or 5"),
    "average_rating": serializers.FloatField(allow_null=True),
}


class CsatSummaryView(APIView):
    permission_classes = [IsAuthenticated, CanSeeDashboards]

    @extend_schema(tags=["csat"], parameters=QUERY_PARAMETERS, summary="CSAT score and response rate, by agent, team and channel",
                   responses={200: inline_serializer("CsatSummary", {
                       "filters": serializers.DictField(),
                       "summary": inline_serializer("CsatFigures", {
                           **FIGURES, "ratings": serializers.DictField(child=serializers.IntegerField()),
                           "comments": serializers.IntegerField()}),
                       "by_agent": serializers.ListField(child=serializers.DictField()),
                       "by_team": serializers.ListField(child=serializers.DictField()),
                       "by_channel": serializers.ListField(child=serializers.DictField()),
                       "comments": CsatResponseSerializer(many=True),
                   })})
    def get(self, request):
        scope = _scope(request)
        responses = scope["responses"]
        comments = responses.exclude(comment="").select_related("customer", "agent").order_by("-commented_at", "-id")[:20]
        return Response({
            "filters": scope["filters"],
            "summary": reports.summary(responses),
            "by_agent": reports.breakdown(responses, "agent"),
            "by_team": reports.breakdown(responses, "team"),
            "by_channel": reports.breakdown(responses, "channel"),
            "comments": CsatResponseSerializer(comments, many=True).data,
        })


class CsatExportView(APIView):
    """Every survey of the period as CSV; cells that a spreadsheet would run as a formula are neutralised."""

    permission_classes = [IsAuthenticated, CanSeeDashboards]

    @extend_schema(tags=["csat"], parameters=QUERY_PARAMETERS, responses={(200, "text/csv"): str})
    def get(self, request):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="csat.csv"'
        csv.writer(response).writerows(reports.export_rows(_scope(request)["responses"]))
        return response
