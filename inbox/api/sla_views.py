"""`/api/v1/sla-policies/` (everyone reads; admins write) and the SLA report `/api/v1/reports/sla/`
(and `/api/v1/reports/sla.csv`) for leads, managers and admins over the inboxes they see."""

from __future__ import annotations

import csv

from django.db.models import Q
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.api.errors import ApiError
from inbox.api.metrics_views import CanSeeDashboards
from inbox.api.pagination import CursorPagination
from inbox.api.serializers import ErrorSerializer
from inbox.models import SlaPolicy, SlaTarget
from inbox.reports.scope import ScopeRefused, scope_for
from inbox.sla import policies, reports
from inbox.team import access


class HasAgentProfile(BasePermission):
    message = "Only agents see SLA policies."

    def has_permission(self, request, view) -> bool:
        return access.role_of(request.user) is not None


class SlaPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = SlaPolicy
        fields = [
            "id", "name", "active", "first_response_seconds", "next_response_seconds", "resolution_seconds",
            "business_hours", "warn_before_seconds", "inboxes", "channels", "labels", "customer_tags",
            "notify_assignee", "notify_leads", "notify_users", "created_at", "updated_at",
        ]
        read_only_fields = fields


class SlaPolicyWriteSerializer(serializers.Serializer):
    """The body's shape for the schema; the service checks it (refusing what cannot work)."""

    name = serializers.CharField(max_length=100)
    active = serializers.BooleanField(required=False)
    first_response_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    next_response_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    resolution_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    business_hours = serializers.BooleanField(required=False, help_text="Count only the inbox's business hours")
    warn_before_seconds = serializers.IntegerField(required=False, min_value=0, help_text="Default 900")
    inboxes = serializers.ListField(child=serializers.IntegerField(), required=False)
    channels = serializers.ListField(child=serializers.CharField(), required=False)
    labels = serializers.ListField(child=serializers.CharField(), required=False)
    customer_tags = serializers.ListField(child=serializers.CharField(), required=False)
    notify_assignee = serializers.BooleanField(required=False)
    notify_leads = serializers.BooleanField(required=False)
    notify_users = serializers.ListField(child=serializers.IntegerField(), required=False,
                                         help_text="Managers or admins (user ids) told of warnings and breaches")


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="A policy that cannot work: `unknown_field`, `invalid_value`, "
                                                      "`no_targets`, `unknown_inbox`, `unknown_channel`, `not_a_manager`"),
    403: OpenApiResponse(ErrorSerializer, description="Only admins change policies (`forbidden`)"),
    404: OpenApiResponse(ErrorSerializer, description="No such policy (`not_found`)"),
    409: OpenApiResponse(ErrorSerializer, description="A policy of that name exists (`duplicate`)"),
}
EXAMPLE = OpenApiExample("VIP, business hours", request_only=True, value={
    "name": "VIP", "first_response_seconds": 900, "next_response_seconds": 1800, "resolution_seconds": 86400,
    "business_hours": True, "customer_tags": ["vip"], "warn_before_seconds": 300, "notify_users": [3],
})


def _admin(request: Request) -> None:
    if not access.is_admin(request.user):
        raise PermissionDenied("Only admins change SLA policies.")


class PolicyPagination(CursorPagination):
    ordering = ("name", "id")  # type: ignore[assignment]  # DRF takes a tuple of fields


@extend_schema_view(
    list=extend_schema(summary="SLA policies (everyone reads them)"),
    retrieve=extend_schema(summary="One SLA policy", responses={200: SlaPolicySerializer, **ERRORS}),
    create=extend_schema(summary="Create an SLA policy (admins)", request=SlaPolicyWriteSerializer,
                         responses={201: SlaPolicySerializer, **ERRORS}, examples=[EXAMPLE]),
    partial_update=extend_schema(summary="Change an SLA policy (admins); its conversations' clocks follow",
                                 request=SlaPolicyWriteSerializer, responses={200: SlaPolicySerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete an SLA policy (admins)", responses={204: None, **ERRORS}),
)
@extend_schema(tags=["sla"])
class SlaPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                       viewsets.GenericViewSet):
    serializer_class = SlaPolicySerializer
    pagination_class = PolicyPagination
    permission_classes = [HasAgentProfile]
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = SlaPolicy.objects.all()

    def get_object(self) -> SlaPolicy:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise Http404 from None
        policy = SlaPolicy.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
        if policy is None:
            raise Http404
        return policy

    def create(self, request, *args, **kwargs):
        _admin(request)
        policy = policies.policy_create(data=request.data, by=request.user)
        return Response(SlaPolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        _admin(request)
        policy = policies.policy_update(policy=self.get_object(), data=request.data)
        return Response(SlaPolicySerializer(policy).data)

    def destroy(self, request, *args, **kwargs):
        _admin(request)
        policies.policy_delete(policy=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The report ------------------------------------------------------------------------------------------


class SlaReportQuery(serializers.Serializer):
    inbox = serializers.IntegerField(required=False, min_value=1)
    team = serializers.IntegerField(required=False, min_value=1)
    agent = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.ChoiceField(choices=["messenger", "instagram", "sms", "email"], required=False)
    target = serializers.ChoiceField(choices=SlaTarget.values, required=False)
    group_by = serializers.ChoiceField(choices=reports.GROUPS, required=False)
    period = serializers.ChoiceField(choices=list(reports.PERIODS), required=False, default="day")
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=366)
    since = serializers.DateField(required=False, help_text="First day (UTC), instead of `days`")
    until = serializers.DateField(required=False, help_text="Last day (UTC), inclusive; default today")

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"since": "since is after until."})
        return attrs


QUERY = [
    OpenApiParameter("inbox", int, description="An inbox id (default: every inbox you may see)"),
    OpenApiParameter("team", int, description="Only the conversations of this team"),
    OpenApiParameter("agent", int, description="Only clocks met by (or still with) this agent"),
    OpenApiParameter("channel", str, enum=["messenger", "instagram", "sms", "email"]),
    OpenApiParameter("target", str, enum=list(SlaTarget.values)),
    OpenApiParameter("group_by", str, enum=list(reports.GROUPS)),
    OpenApiParameter("period", str, enum=list(reports.PERIODS), description="With group_by=period (default day)"),
    OpenApiParameter("days", int, description="The period: the last 1–366 UTC days, today included (default 30)"),
    OpenApiParameter("since", str, description="YYYY-MM-DD, instead of days"),
    OpenApiParameter("until", str, description="YYYY-MM-DD, inclusive"),
]


def _report(request: Request) -> tuple[dict, dict]:
    query = SlaReportQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = dict(query.validated_data)
    try:
        scope = scope_for(request.user, days=params["days"], inbox=params.get("inbox"), team=params.get("team"),
                          channel=params.get("channel"), first_day=params.get("since"), last_day=params.get("until"))
    except ScopeRefused as exc:
        raise ApiError(exc.code, exc.detail, exc.status) from None
    now = timezone.now()
    clocks = reports.clocks_in(inbox_ids=list(scope.inbox_ids), since=scope.since, until=scope.until,
                               target=params.get("target"))
    if scope.channel:
        clocks = clocks.filter(conversation__channel=scope.channel)
    if scope.team:
        clocks = clocks.filter(Q(conversation__team_id=scope.team)
                               | Q(conversation__team__isnull=True, conversation__inbox__team_id=scope.team))
    if params.get("agent"):
        clocks = clocks.filter(Q(met_by_id=params["agent"]) | Q(met_by__isnull=True, conversation__assignee_id=params["agent"]))
    report = reports.sla_report(clocks, now=now, group_by=params.get("group_by"), period=params["period"])
    meta = {"since": scope.since, "until": scope.until, "group_by": params.get("group_by"),
            "period": params["period"] if params.get("group_by") == "period" else None}
    return {**meta, **report}, params


class SlaReportView(APIView):
    permission_classes = [CanSeeDashboards]

    @extend_schema(
        tags=["reports"], parameters=QUERY, summary="SLA achievement per target, by agent, team, channel or period",
        description=(
            "A clock counts in the period its target started. `achieved`: met by its due time; `breached`: met "
            "or stopped late, or still running past it; `pending`: running, not yet due. `achievement_rate` = "
            "achieved / (achieved + breached). The figures equal a rebuild from the raw messages "
            "(`manage.py sla_rebuild`)."
        ),
        responses={200: OpenApiResponse(description="{since, until, group_by, period, totals: [...], rows: [...]}")},
    )
    def get(self, request):
        return Response(_report(request)[0])


class SlaReportCsvView(APIView):
    permission_classes = [CanSeeDashboards]

    @extend_schema(tags=["reports"], parameters=QUERY, summary="The SLA report as CSV", responses={(200, "text/csv"): str})
    def get(self, request):
        report, params = _report(request)
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="sla.csv"'
        csv.writer(response).writerows(reports.csv_rows(report, group_by=params.get("group_by")))
        return response
