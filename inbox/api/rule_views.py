"""`/api/v1/rules/` (automation rules; admins only), `/api/v1/rules/{id}/runs/` (what each run did,
or why it did nothing), and `/api/v1/conversations/{id}/rule-runs/` (the runs on one conversation)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from inbox.api.pagination import CursorPagination
from inbox.api.serializers import ErrorSerializer
from inbox.conversations import selectors
from inbox.models import Rule, RuleRun
from inbox.rules import schema, services
from inbox.team import access


class IsAdmin(BasePermission):
    message = "Automation rules are for admins."

    def has_permission(self, request, view) -> bool:
        return access.is_admin(request.user)


class RuleSerializer(serializers.ModelSerializer):
    default = serializers.SerializerMethodField(method_name="default_rule")

    class Meta:
        model = Rule
        fields = ["id", "name", "active", "position", "trigger", "delay_seconds", "conditions", "actions", "default",
                  "created_at", "updated_at"]
        read_only_fields = fields

    def default_rule(self, obj: Rule) -> bool:
        """One of the default rules (reopen on a customer message, wake snoozed, resolve after silence):
        switched off, never deleted."""
        return bool(obj.key)


class RuleWriteSerializer(serializers.Serializer):
    """The body's shape for the schema; inbox/rules/schema.py checks it and refuses what cannot work."""

    name = serializers.CharField(max_length=100)
    active = serializers.BooleanField(required=False)
    position = serializers.IntegerField(required=False, min_value=0, help_text="Lower runs first (default 100)")
    trigger = serializers.ChoiceField(choices=list(schema.TRIGGERS))
    delay_seconds = serializers.IntegerField(required=False, allow_null=True,
                                             help_text="no_customer_reply / no_agent_reply: how long the silence lasts")
    conditions = serializers.ListField(child=serializers.DictField(), required=False,
                                       help_text="[{field, op, value}], all must hold")
    actions = serializers.ListField(child=serializers.DictField(), help_text="[{type, ...}], in order")


class RuleRunSerializer(serializers.ModelSerializer):
    rule = serializers.SerializerMethodField()

    class Meta:
        model = RuleRun
        fields = ["id", "rule", "conversation", "trigger", "event_key", "status", "reason", "actions", "depth",
                  "created_at"]
        read_only_fields = fields

    def get_rule(self, obj: RuleRun) -> dict:
        return {"id": obj.rule_id, "name": obj.rule.name}


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description=(
        "A rule that cannot work: `unknown_trigger`, `missing_delay`, `unknown_field`, `unknown_operator`, "
        "`invalid_value`, `unsafe_pattern`, `unknown_action`, `invalid_action`, `conflicting_actions`, `macro_cycle`")),
    403: OpenApiResponse(ErrorSerializer, description="Not an admin (`forbidden`)"),
    404: OpenApiResponse(ErrorSerializer, description="No such rule (`not_found`)"),
    409: OpenApiResponse(ErrorSerializer, description="A default rule is switched off, not deleted (`default_rule`)"),
}
EXAMPLE = OpenApiExample("VIP refunds", request_only=True, value={
    "name": "VIP refunds to a lead", "trigger": "message_received", "position": 10,
    "conditions": [{"field": "customer_tag", "op": "has", "value": "vip"},
                   {"field": "text", "op": "contains_word", "value": ["refund", "money back"]}],
    "actions": [{"type": "assign", "to": "agent", "agent": 7}, {"type": "set_priority", "priority": "high"}],
})


class RulePagination(CursorPagination):
    ordering = ("position", "id")  # type: ignore[assignment]  # DRF takes a tuple of fields


class RunPagination(CursorPagination):
    ordering = ("-created_at", "-id")  # type: ignore[assignment]  # DRF takes a tuple of fields


@extend_schema_view(
    list=extend_schema(summary="Automation rules, in the order they run"),
    retrieve=extend_schema(summary="One rule", responses={200: RuleSerializer, **ERRORS}),
    create=extend_schema(summary="Create a rule (refused when it cannot work)", request=RuleWriteSerializer,
                         responses={201: RuleSerializer, **ERRORS}, examples=[EXAMPLE]),
    partial_update=extend_schema(summary="Change a rule", request=RuleWriteSerializer,
                                 responses={200: RuleSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a rule (default rules: switch them off instead)",
                          responses={204: None, **ERRORS}),
)
@extend_schema(tags=["rules"])
class RuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = RuleSerializer
    pagination_class = RulePagination
    permission_classes = [IsAdmin]
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = Rule.objects.all()

    def get_object(self) -> Rule:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise Http404 from None
        rule = Rule.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
        if rule is None:
            raise Http404
        return rule

    def create(self, request, *args, **kwargs):
        rule = services.rule_create(data=request.data, by=request.user)
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        rule = services.rule_update(rule=self.get_object(), data=request.data, by=request.user)
        return Response(RuleSerializer(rule).data)

    def destroy(self, request, *args, **kwargs):
        services.rule_delete(rule=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="What the rule did, run by run (and why it skipped)", responses={200: RuleRunSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=RunPagination, serializer_class=RuleRunSerializer)
    def runs(self, request, pk=None):
        page = self.paginate_queryset(services.runs_of(rule=self.get_object()))
        return self.get_paginated_response(RuleRunSerializer(page, many=True).data)


@extend_schema(tags=["rules"], summary="The automation rules' runs on one conversation (admins)",
               responses={200: RuleRunSerializer(many=True), 403: ERRORS[403], 404: ERRORS[404]})
class ConversationRuleRunsView(ListAPIView):
    serializer_class = RuleRunSerializer
    pagination_class = RunPagination
    permission_classes = [IsAdmin]
    filter_backends: list = []

    def get_queryset(self):
        conversation = selectors.conversation_get(user=self.request.user, pk=self.kwargs["pk"])
        return services.runs_of(conversation_id=conversation.pk)
