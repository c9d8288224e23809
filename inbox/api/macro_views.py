"""`/api/v1/macros/`: macros (personal or a team's) and applying one to a conversation.

Object-level rules: a macro you may not use is 404 (personal macros are their owner's; a team's
are its members'); one you may use but not change is 403 `forbidden` on PATCH/DELETE.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from inbox.api.serializers import ConversationSerializer, ErrorSerializer, MessageSerializer
from inbox.conversations import selectors
from inbox.macros import services as macros
from inbox.macros.files import macro_file_store
from inbox.models import Conversation, Macro, Team
from inbox.team.access import team_ids_remembered

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (`invalid`, with `fields`)"),
    403: OpenApiResponse(ErrorSerializer, description="You may use it but not change it (`forbidden`)"),
    404: OpenApiResponse(ErrorSerializer, description="No such macro, or not yours to use (`not_found`)"),
}
ACTIONS_HELP = (
    "A list of actions, run in order: `{type: reply, text}` and `{type: note, text}` (template variables: "
    "customer.name/first_name/last_name/email/phone, agent.name/first_name, order.number/status/total/currency/"
    "tracking_number/tracking_url/items, order.lines), `{type: labels, add: [...], remove: [...]}`, "
    "`{type: assign, to: me|agent|team|round_robin|nobody, agent?, team?}`, "
    "`{type: status, status: open|pending|snoozed|resolved, snooze_minutes?}`, `{type: attach, file: <token "
    "from POST /macros/files/>}`, `{type: order_action, kind, params}`."
)


class MacroSerializer(serializers.ModelSerializer):
    scope = serializers.SerializerMethodField()
    can_edit = serializers.SerializerMethodField()

    class Meta:
        model = Macro
        fields = ["id", "name", "scope", "team", "owner", "actions", "usage_count", "last_used_at", "can_edit",
                  "created_by", "created_at", "updated_at"]
        read_only_fields = fields

    def get_scope(self, obj: Macro) -> str:
        """`personal` (its owner's alone) or `team` (shared with `team`)."""
        return "personal" if obj.owner_id else "team"

    def get_can_edit(self, obj: Macro) -> bool:
        request = self.context.get("request")
        return request is not None and macros.macro_may_edit(user=request.user, macro=obj)


class MacroWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), allow_null=True, required=False,
        help_text="Share with this team (its leads and managers); leave out or null for a personal macro",
    )
    actions = serializers.JSONField(help_text=ACTIONS_HELP)


class MacroUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    actions = serializers.JSONField(required=False, help_text=ACTIONS_HELP)


class ApplySerializer(serializers.Serializer):
    conversation = serializers.IntegerField(required=False, min_value=1)
    conversations = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=macros.MAX_BULK,
        help_text="Bulk: apply to each of these (answers per id); not with `preview`",
    )
    preview = serializers.BooleanField(required=False, default=False)
    order = serializers.IntegerField(required=False, min_value=1, allow_null=True,
                                     help_text="The order the reply talks about (default: the customer's latest)")
    tag = serializers.ChoiceField(choices=["", "HUMAN_AGENT"], required=False, default="",
                                  help_text="HUMAN_AGENT: reply after the 24-hour window (a person, within 7 days)")

    def validate(self, attrs):
        if ("conversation" in attrs) == ("conversations" in attrs):
            raise serializers.ValidationError("Give either conversation or conversations.")
        if "conversations" in attrs and attrs["preview"]:
            raise serializers.ValidationError({"preview": "Preview one conversation at a time."})
        return attrs


class MacroFileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


STEP = inline_serializer("MacroStep", {
    "index": serializers.IntegerField(), "type": serializers.CharField(), "description": serializers.CharField(),
    "allowed": serializers.BooleanField(), "code": serializers.CharField(required=False),
    "detail": serializers.CharField(required=False),
})


@extend_schema(tags=["macros"])
class MacroViewSet(viewsets.GenericViewSet):
    serializer_class = MacroSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Macro.objects.none()
        return macros.macros_visible_to(self.request.user).select_related("team")

    def get_object(self):
        return macros.macro_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        summary="The macros you may use (yours and your teams'), newest first; each with its usage count",
        parameters=[OpenApiParameter("q", str, description="Name contains"),
                    OpenApiParameter("scope", str, enum=["personal", "team"]),
                    OpenApiParameter("team", int)],
    )
    def list(self, request):
        qs = self.get_queryset()
        params = request.query_params
        if params.get("q"):
            qs = qs.filter(name__icontains=params["q"][:100])
        if params.get("scope") == "personal":
            qs = qs.filter(owner__isnull=False)
        elif params.get("scope") == "team":
            qs = qs.filter(team__isnull=False)
        if (params.get("team") or "").isdigit():
            qs = qs.filter(team_id=int(params["team"]))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MacroSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(summary="Create a macro (personal, or a team's: its leads and managers)", request=MacroWriteSerializer,
                   responses={201: MacroSerializer, **ERRORS},
                   examples=[OpenApiExample("Where is my order", request_only=True, value={
                       "name": "Where is my order", "team": 1, "actions": [
                           {"type": "reply", "text": "Hi {{ customer.first_name }}, order #{{ order.number }} is "
                                                     "{{ order.status }}: {{ order.tracking_url }}"},
                           {"type": "labels", "add": ["shipping"]},
                           {"type": "status", "status": "resolved"}]})])
    def create(self, request):
        body = MacroWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        macro = macros.macro_create(user=request.user, name=data["name"], team=data.get("team"), actions=data["actions"])
        return Response(MacroSerializer(macro, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="One macro", responses={200: MacroSerializer, **ERRORS})
    def retrieve(self, request, pk=None):
        return Response(MacroSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(summary="Rename it or change its actions", request=MacroUpdateSerializer,
                   responses={200: MacroSerializer, **ERRORS})
    def partial_update(self, request, pk=None):
        macro = self.get_object()
        body = MacroUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        macro = macros.macro_update(user=request.user, macro=macro, **body.validated_data)
        return Response(MacroSerializer(macro, context={"request": request}).data)

    @extend_schema(summary="Delete it", responses={204: None, **ERRORS})
    def destroy(self, request, pk=None):
        macros.macro_delete(user=request.user, macro=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Preview or apply the macro to a conversation",
        description=(
            "`preview: true` answers what it would do — the rendered reply and note, and each action in words with "
            "`allowed` (and `code`/`detail` when not) — and changes nothing. Otherwise every action runs in one "
            "transaction, or none does: an action you may not take (assign to another as an agent, a reply outside "
            "the window or to an opted-out customer, too long…) refuses the whole macro before anything runs, with "
            "its `{code, detail}` and `action` (its index). The conversation gets one timeline entry for the macro. "
            "`conversations: [ids]` applies it to each (bulk), answering per id."
        ),
        request=ApplySerializer,
        responses={
            200: inline_serializer("MacroApplied", {
                "macro": serializers.IntegerField(), "preview": serializers.BooleanField(),
                "conversation": ConversationSerializer(), "actions": serializers.ListField(child=STEP),
                "message": MessageSerializer(allow_null=True), "note": MessageSerializer(allow_null=True),
                "reply": serializers.DictField(allow_null=True, required=False),
                "results": serializers.ListField(child=serializers.DictField(), required=False),
            }),
            409: OpenApiResponse(ErrorSerializer, description="`window_closed`, `opted_out`, `already_assigned`…"),
            **ERRORS,
        },
        examples=[OpenApiExample("Preview", request_only=True, value={"conversation": 42, "preview": True}),
                  OpenApiExample("Apply", request_only=True, value={"conversation": 42}),
                  OpenApiExample("Bulk", request_only=True, value={"conversations": [42, 43, 44]})],
    )
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        # The caller's teams decide the macro's, the conversation's and every step's visibility:
        # read them once for the request (nothing here changes anyone's teams).
        with team_ids_remembered():
            return self._apply(request)

    def _apply(self, request):
        macro = self.get_object()
        body = ApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "conversations" in data:
            outcomes = macros.macro_apply_many(macro=macro, user=request.user, conversation_ids=data["conversations"],
                                               tag=data["tag"] or None)
            return Response({"macro": macro.pk, "preview": False, "results": [
                {"id": o.id, "ok": o.ok, **({"code": o.code, "detail": o.detail, "action": o.action} if not o.ok else {})}
                for o in outcomes
            ]})
        conversation = macros.conversation_for_macro(user=request.user, pk=data["conversation"])
        arguments = {"macro": macro, "user": request.user, "conversation": conversation, "order_id": data.get("order"),
                     "tag": data["tag"] or None}
        if data["preview"]:
            preview = macros.macro_preview(**arguments)
            preview["preview"] = True
            preview["conversation"] = ConversationSerializer(_fresh(conversation.pk)).data
            return Response(preview)
        try:
            applied = macros.macro_apply(**arguments)
        except macros.MacroRefused as exc:
            return Response({"code": exc.code, "detail": exc.detail, "action": exc.action}, status=exc.status)
        return Response({
            "macro": macro.pk,
            "preview": False,
            "conversation": ConversationSerializer(_fresh(conversation.pk)).data,
            "actions": applied.steps,
            "message": MessageSerializer(applied.message).data if applied.message else None,
            "note": MessageSerializer(applied.note).data if applied.note else None,
        })

    @extend_schema(
        summary="Upload a file for a macro's attach action",
        description="Multipart `file`; answers `{file: <token>, name, content_type, size}`: name the token in "
                    "`{type: attach, file}`.",
        request={"multipart/form-data": MacroFileUploadSerializer},
        responses={201: inline_serializer("MacroFile", {
            "file": serializers.CharField(), "name": serializers.CharField(),
            "content_type": serializers.CharField(), "size": serializers.IntegerField()}), **ERRORS},
    )
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def files(self, request):
        body = MacroFileUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not macros.macros_may_create(user=request.user):
            return Response({"code": "forbidden", "detail": "Only agents have macros."}, status=403)
        return Response(macro_file_store(upload=body.validated_data["file"]), status=status.HTTP_201_CREATED)


def _fresh(pk: int) -> Conversation:
    return Conversation.objects.select_related("inbox", "customer").prefetch_related(selectors.LABELS).get(pk=pk)

