"""Inboxes, teams and agents over REST. Admins set them up; everyone lists what they may see.

Object-level rule everywhere: an object you may not see is 404; one you may see but not change
is 403 (`forbidden`). Inbox credentials are write-only: no response ever carries them.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import Prefetch
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from customers.language import LANGUAGE_CHOICES, inbox_language
from customers.models import Channel
from inbox.api.errors import ApiError
from inbox.api.serializers import ErrorSerializer
from inbox.csat.config import csat_settings
from inbox.models import Agent, Availability, Inbox, Notification, Role, Team
from inbox.team import access, assignment
from inbox.team import directory as teams

UNASSIGN_ON_RESOLVE_HELP = (
    "Off (the default): a resolved conversation keeps its assignee, so it stays in their \"Mine\" list. "
    "On: resolving hands it back to nobody and frees the agent for the queue; the history then says the "
    "inbox setting unassigned it, not the agent."
)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
META_ID = re.compile(r"^\d{5,32}$")


def _forbidden(detail: str = "Only admins may do this.") -> ApiError:
    return ApiError("forbidden", detail, 403)


def _require_admin(user) -> None:
    if not access.is_admin(user):
        raise _forbidden()


def _object_or_404(queryset, pk):
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (`invalid`, with `fields`)"),
    403: OpenApiResponse(ErrorSerializer, description="Visible to you but not yours to change (`forbidden`)"),
    404: OpenApiResponse(ErrorSerializer, description="No such object, or not visible to you (`not_found`)"),
}


# --- Inboxes --------------------------------------------------------------------------------------


class InboxSerializer(serializers.ModelSerializer):
    has_credentials = serializers.SerializerMethodField()
    greeting = serializers.SerializerMethodField()
    away = serializers.SerializerMethodField()
    business_hours = serializers.SerializerMethodField()
    holidays = serializers.SerializerMethodField()
    auto_assign = serializers.SerializerMethodField()
    reassign_on_away = serializers.SerializerMethodField()
    unassign_on_resolve = serializers.SerializerMethodField()
    csat = serializers.SerializerMethodField()
    language = serializers.SerializerMethodField()

    class Meta:
        model = Inbox
        fields = [
            "id", "kind", "name", "external_id", "team", "has_credentials", "greeting", "away", "business_hours",
            "holidays", "auto_assign", "reassign_on_away", "unassign_on_resolve", "csat", "language", "settings",
            "created_at",
        ]
        read_only_fields = fields

    def get_has_credentials(self, obj: Inbox) -> bool:
        return bool(obj.credentials)

    def get_greeting(self, obj: Inbox) -> dict:
        return obj.settings.get("greeting") or {"enabled": False, "text": ""}

    def get_away(self, obj: Inbox) -> dict:
        return obj.settings.get("away") or {"enabled": False, "text": ""}

    def get_business_hours(self, obj: Inbox) -> dict | None:
        return obj.settings.get("business_hours")

    def get_holidays(self, obj: Inbox) -> list[str]:
        return obj.settings.get("holidays") or []

    def get_auto_assign(self, obj: Inbox) -> bool:
        return bool(obj.settings.get("auto_assign", False))

    def get_reassign_on_away(self, obj: Inbox) -> bool:
        return bool(obj.settings.get("reassign_on_away", False))

    @extend_schema_field(serializers.ChoiceField(
        choices=LANGUAGE_CHOICES,
        help_text="The language of the automated messages' `text` (greeting, away, survey), sent to customers "
                  "whose language is unknown or has no translation; the shop's LANGUAGE_CODE unless set",
    ))
    def get_language(self, obj: Inbox) -> str:
        return inbox_language(obj)

    def get_csat(self, obj: Inbox) -> dict:
        """Satisfaction surveys after a resolve: on/off, delay, text, at most one per customer per N days."""
        return csat_settings(obj.settings).as_dict()

    @extend_schema_field(serializers.BooleanField(help_text=UNASSIGN_ON_RESOLVE_HELP))
    def get_unassign_on_resolve(self, obj: Inbox) -> bool:
        return assignment.unassigns_on_resolve(obj)


class _InboxWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    credentials = serializers.DictField(write_only=True, required=False)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), allow_null=True, required=False)
    greeting = serializers.JSONField(
        required=False, help_text='{enabled, text, translations?: {"fr": "...", "el": "..."}}: text per customer language'
    )
    away = serializers.JSONField(required=False, help_text="{enabled, text, translations?}, as greeting")
    language = serializers.CharField(
        required=False, allow_blank=True, allow_null=True,
        help_text="en, fr or el: the language of the automated messages' `text`; blank for the shop's default",
    )
    bot = serializers.JSONField(required=False, help_text="Messenger/Instagram quick-reply bot: enabled, intro, options, handover_text")
    business_hours = serializers.JSONField(required=False, allow_null=True)
    holidays = serializers.JSONField(required=False, allow_null=True)
    auto_assign = serializers.BooleanField(required=False)
    reassign_on_away = serializers.BooleanField(required=False)
    unassign_on_resolve = serializers.BooleanField(required=False, help_text=UNASSIGN_ON_RESOLVE_HELP)
    read_receipt = serializers.CharField(required=False, help_text="answer, open or never")
    csat = serializers.JSONField(
        required=False, help_text="Satisfaction surveys: {enabled, delay_minutes (0-10080), text, once_per_days (0-365)}"
    )

    def settings_changes(self) -> dict:
        return {k: v for k, v in self.validated_data.items() if k in teams.SETTINGS_KEYS}


class InboxCreateSerializer(_InboxWriteSerializer):
    kind = serializers.ChoiceField(choices=Channel.choices)
    external_id = serializers.CharField(max_length=320)

    def validate(self, attrs):
        kind, external_id = attrs["kind"], attrs["external_id"].strip()
        if kind == Channel.SMS and not E164.match(external_id):
            raise serializers.ValidationError({"external_id": "An SMS inbox needs an E.164 number, like +14155550100."})
        if kind == Channel.EMAIL:
            try:
                validate_email(external_id)
            except DjangoValidationError:
                raise serializers.ValidationError({"external_id": "An email inbox needs an email address."}) from None
            external_id = external_id.lower()
        if kind in (Channel.MESSENGER, Channel.INSTAGRAM) and not META_ID.match(external_id):
            raise serializers.ValidationError({"external_id": "A Page or Instagram account id is a number."})
        attrs["external_id"] = external_id
        return attrs


class InboxUpdateSerializer(_InboxWriteSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


@extend_schema(tags=["inboxes"])
class InboxViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = InboxSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return access.inboxes_visible_to(self.request.user).order_by("-id")

    @extend_schema(summary="List the inboxes you may see")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Connect an inbox (admins)", request=InboxCreateSerializer, responses={201: InboxSerializer, **ERRORS})
    def create(self, request):
        _require_admin(request.user)
        data = InboxCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        inbox = teams.inbox_create(
            kind=v["kind"], name=v["name"], external_id=v["external_id"], credentials=v.get("credentials"),
            team=v.get("team"), settings=data.settings_changes(),
        )
        return Response(InboxSerializer(inbox).data, status=201)

    @extend_schema(summary="One inbox", responses={200: InboxSerializer, **ERRORS})
    def retrieve(self, request, pk=None):
        return Response(InboxSerializer(_object_or_404(self.get_queryset(), pk)).data)

    @extend_schema(
        summary="Change an inbox and its automation settings (admins)",
        request=InboxUpdateSerializer,
        responses={200: InboxSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        inbox = _object_or_404(self.get_queryset(), pk)
        _require_admin(request.user)
        data = InboxUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in ("name", "team", "credentials")}
        inbox = teams.inbox_update(inbox=inbox, settings=data.settings_changes(), **fields)
        return Response(InboxSerializer(inbox).data)


# --- Teams ----------------------------------------------------------------------------------------


class TeamSerializer(serializers.ModelSerializer):
    agents = serializers.SerializerMethodField()
    inboxes = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "default_capacity", "agents", "inboxes", "created_at"]
        read_only_fields = ["id", "agents", "inboxes", "created_at"]

    def get_agents(self, obj: Team) -> list[int]:
        """User ids of the members (what conversations' `assignee` holds)."""
        return sorted(agent.user_id for agent in obj.agents.all())

    def get_inboxes(self, obj: Team) -> list[int]:
        return sorted(inbox.pk for inbox in obj.inboxes.all())


class TeamWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    default_capacity = serializers.IntegerField(min_value=0, max_value=10_000, required=False)


@extend_schema(tags=["teams"])
class TeamViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = TeamSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            access.teams_visible_to(self.request.user)
            .prefetch_related(Prefetch("agents", queryset=Agent.objects.only("id", "user_id")), "inboxes")
            .order_by("-id")
        )

    @extend_schema(summary="List teams (admins: all; others: their own)")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Create a team (admins)", request=TeamWriteSerializer, responses={201: TeamSerializer, **ERRORS})
    def create(self, request):
        _require_admin(request.user)
        data = TeamWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = teams.team_create(**data.validated_data)
        return Response(TeamSerializer(self.get_queryset().get(pk=team.pk)).data, status=201)

    @extend_schema(summary="One team", responses={200: TeamSerializer, **ERRORS})
    def retrieve(self, request, pk=None):
        return Response(TeamSerializer(_object_or_404(self.get_queryset(), pk)).data)

    @extend_schema(summary="Rename a team or change its default capacity (admins)", request=TeamWriteSerializer,
                   responses={200: TeamSerializer, **ERRORS})
    def partial_update(self, request, pk=None):
        team = _object_or_404(self.get_queryset(), pk)
        _require_admin(request.user)
        data = TeamWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        team = teams.team_update(team=team, **data.validated_data)
        return Response(TeamSerializer(self.get_queryset().get(pk=team.pk)).data)


# --- Agents ---------------------------------------------------------------------------------------


class AgentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True, help_text="The user id (as in `assignee`)")
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    teams = serializers.SerializerMethodField()
    load = serializers.IntegerField(read_only=True, help_text="Open and pending conversations assigned")
    language = serializers.ChoiceField(
        choices=LANGUAGE_CHOICES, allow_blank=True, read_only=True,
        help_text="en, fr or el; blank: the browser's Accept-Language, then the shop's default",
    )

    class Meta:
        model = Agent
        fields = [
            "id", "username", "email", "name", "role", "teams", "availability", "capacity", "load", "last_seen_at",
            "is_active", "language", "time_zone",
        ]
        read_only_fields = fields

    def get_name(self, obj: Agent) -> str:
        return obj.user.get_full_name() or obj.user.get_username()

    def get_teams(self, obj: Agent) -> list[int]:
        return sorted(team.pk for team in obj.teams.all())


class AgentCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.AGENT)
    teams = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), many=True, required=False)
    capacity = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    availability = serializers.ChoiceField(choices=Availability.choices, required=False)


class AgentUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    teams = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), many=True, required=False)
    capacity = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    availability = serializers.ChoiceField(choices=Availability.choices, required=False)


class AvailabilitySerializer(serializers.Serializer):
    """What agents change about themselves: availability, and the language and time zone of their pages."""

    OWN = ("availability", "language", "time_zone")
    availability = serializers.ChoiceField(choices=Availability.choices, required=False)
    language = serializers.CharField(
        required=False, allow_blank=True, max_length=8, help_text="en, fr or el; blank: the browser's language"
    )
    time_zone = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="IANA zone, e.g. Europe/Athens; blank: the browser's"
    )

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.OWN)
        if unknown:
            raise serializers.ValidationError(
                f"Only availability, language and time_zone can be changed here, not {', '.join(sorted(unknown))}."
            )
        if not attrs:
            raise serializers.ValidationError("Give availability, language or time_zone.")
        return attrs


class NotificationSerializer(serializers.ModelSerializer):
    by = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "conversation", "message", "by", "text", "created_at", "read_at"]
        read_only_fields = fields

    def get_by(self, obj: Notification) -> dict | None:
        return {"id": obj.actor_id, "username": obj.actor.get_username()} if obj.actor is not None else None

    def get_text(self, obj: Notification) -> str:
        return obj.data.get("text", "")


class NotificationsReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                help_text="Mark these read; leave out to mark all read")


@extend_schema(tags=["agents"])
class AgentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = AgentSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            Agent.objects.filter(pk__in=access.agents_visible_to(self.request.user).values("pk"))
            .select_related("user")
            .prefetch_related("teams")
            .annotate(load=Coalesce(assignment.open_load_subquery(), 0))
            .order_by("-id")
        )

    def _get(self, user_id) -> Agent:
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            raise Http404 from None
        agent = self.get_queryset().filter(user_id=user_id).first()
        if agent is None:
            raise Http404
        return agent

    @extend_schema(summary="List agents (admins: all; others: their teams' members)")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Create an agent who can log in (admins)", request=AgentCreateSerializer,
                   responses={201: AgentSerializer, **ERRORS})
    def create(self, request):
        _require_admin(request.user)
        data = AgentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        agent = teams.agent_create(
            username=v["username"], email=v["email"], password=v["password"], role=v["role"],
            teams=v.get("teams", []), capacity=v.get("capacity"),
            availability=v.get("availability", Availability.AWAY),
        )
        return Response(AgentSerializer(self._get(agent.user_id)).data, status=201)

    @extend_schema(summary="One agent", responses={200: AgentSerializer, **ERRORS})
    def retrieve(self, request, pk=None):
        return Response(AgentSerializer(self._get(pk)).data)

    @extend_schema(
        summary="Change an agent: role, teams, capacity, is_active (admins); availability (also the agent and their leads)",
        request=AgentUpdateSerializer,
        responses={200: AgentSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        agent = self._get(pk)
        data = AgentUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        availability = changes.pop("availability", None)
        if changes:
            _require_admin(request.user)
            if agent.user_id == request.user.pk and (changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active") is False):
                raise ApiError("invalid", "Admins may not demote or deactivate themselves.", 400)
            teams.agent_update(agent=agent, **changes)
        if availability is not None:
            assignment.agent_availability_set(user=agent.user, availability=availability, by=request.user)
        return Response(AgentSerializer(self._get(agent.user_id)).data)

    @extend_schema(methods=["GET"], summary="Me: role, teams, availability, load", responses={200: AgentSerializer, **ERRORS})
    @extend_schema(methods=["PATCH"], summary="Set my availability, language or time zone", request=AvailabilitySerializer,
                   responses={200: AgentSerializer, **ERRORS})
    @action(detail=False, methods=["get", "patch"], url_path="me")
    def me(self, request):
        agent = self._get(request.user.pk)
        if request.method == "PATCH":
            data = AvailabilitySerializer(data=request.data)
            data.is_valid(raise_exception=True)
            if "language" in data.validated_data or "time_zone" in data.validated_data:
                teams.agent_preferences_set(
                    agent=agent, language_code=data.validated_data.get("language"),
                    time_zone=data.validated_data.get("time_zone"),
                )
            if "availability" in data.validated_data:
                assignment.agent_availability_set(
                    user=request.user, availability=data.validated_data["availability"], by=request.user
                )
            agent = self._get(request.user.pk)
        return Response(AgentSerializer(agent).data)

    @extend_schema(summary="My notifications (mentions, assignments), newest first; `?unread=1` for unread only",
                   description="The page also carries `unread`: how many of all my notifications are unread "
                               "(the bell's count). New ones arrive live on /ws/inbox/ as `mention` and "
                               "`notification` frames.",
                   responses={200: NotificationSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="me/notifications")
    def notifications(self, request):
        mine = Notification.objects.filter(user=request.user).select_related("actor")
        if request.query_params.get("unread") in ("1", "true"):
            mine = mine.filter(read_at=None)
        page = self.paginate_queryset(mine)
        response = self.get_paginated_response(NotificationSerializer(page, many=True).data)
        response.data["unread"] = Notification.objects.filter(user=request.user, read_at=None).count()
        return response

    @extend_schema(summary="Mark my notifications read", request=NotificationsReadSerializer,
                   responses={200: OpenApiResponse(description="`{marked: n}`")})
    @action(detail=False, methods=["post"], url_path="me/notifications/read")
    def notifications_read(self, request):
        data = NotificationsReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mine = Notification.objects.filter(user=request.user, read_at=None)
        if "ids" in data.validated_data:
            mine = mine.filter(pk__in=data.validated_data["ids"])
        return Response({"marked": mine.update(read_at=timezone.now())})
