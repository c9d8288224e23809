"""`/api/v1/views/`: saved conversation filters, each with its live count for whoever asks."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.api.filters import ConversationFilter
from inbox.api.pagination import CursorPagination
from inbox.api.serializers import ErrorSerializer, StrictCharField
from inbox.conversations import saved_views as services
from inbox.conversations import selectors
from inbox.models import Conversation, SavedView, Team

# The list's own query parameters; a view is a set of them.
FILTER_NAMES = tuple(name for name in ConversationFilter.base_filters)


def conversations_count(request: Request, filters: dict[str, str]) -> int | None:
    """How many conversations the list shows `request.user` with these filters (None if they no longer parse).

    Built exactly as GET /conversations/ builds its rows: the same visibility selector, the same FilterSet.
    """
    filterset = ConversationFilter(data=filters, queryset=selectors.conversations_listed(user=request.user), request=request)
    if not filterset.is_valid():
        return None
    return filterset.qs.count()


class SavedViewSerializer(serializers.ModelSerializer):
    shared_with_team = serializers.IntegerField(source="team_id", allow_null=True, help_text="Team id, or null: private")
    owner = serializers.SerializerMethodField()
    mine = serializers.SerializerMethodField()
    count = serializers.SerializerMethodField()

    class Meta:
        model = SavedView
        fields = ["id", "name", "filters", "shared_with_team", "owner", "mine", "count", "created_at", "updated_at"]
        read_only_fields = fields

    def get_owner(self, obj: SavedView) -> dict:
        return {"id": obj.owner_id, "name": obj.owner.get_full_name() or obj.owner.get_username()}

    def get_mine(self, obj: SavedView) -> bool:
        return obj.owner_id == self.context["request"].user.pk

    def get_count(self, obj: SavedView) -> int | None:
        """Conversations it lists for you now; null when its filters no longer apply (e.g. a deleted inbox)."""
        return conversations_count(self.context["request"], obj.filters)


class SavedViewWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=60)
    filters = serializers.DictField(
        child=StrictCharField(max_length=200, allow_blank=True),
        help_text="Query parameters of GET /conversations/: " + ", ".join(FILTER_NAMES),
    )
    shared_with_team = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1,
        help_text="Share with this team (one you belong to); null or left out: private",
    )

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A view needs a name.")
        return value

    def validate_filters(self, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(FILTER_NAMES))
        if unknown:
            raise serializers.ValidationError(f"Unknown filters: {', '.join(unknown)}.")
        filters = {k: v.strip() for k, v in value.items() if v.strip()}
        check = ConversationFilter(data=filters, queryset=Conversation.objects.none(), request=self.context["request"])
        if not check.is_valid():
            raise serializers.ValidationError(
                "; ".join(f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in check.errors.items())
            )
        return filters

    def validate_shared_with_team(self, value: int | None) -> Team | None:
        if value is None:
            return None
        team = Team.objects.filter(pk=value).first()
        if team is None:
            raise serializers.ValidationError(f"No team {value}.")
        return team


class SavedViewPagination(CursorPagination):
    ordering = ("name", "id")  # type: ignore[assignment]  # DRF takes a tuple; the stubs say str


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid name or filters (`invalid`, with `fields`)"),
    403: OpenApiResponse(ErrorSerializer, description="Not your view, or not your team (`forbidden`)"),
    404: OpenApiResponse(ErrorSerializer, description="No such view, or not shared with you (`not_found`)"),
    409: OpenApiResponse(ErrorSerializer, description="You already have a view of that name (`duplicate`)"),
}
EXAMPLE = OpenApiExample(
    "Waiting on Messenger, shared", request_only=True,
    value={"name": "Messenger, waiting", "filters": {"channel": "messenger", "status": "open", "ordering": "waiting_since"},
           "shared_with_team": 3},
)


@extend_schema_view(
    list=extend_schema(summary="My saved views and those shared with my teams, each with its live count"),
    retrieve=extend_schema(summary="One saved view", responses={200: SavedViewSerializer, **ERRORS}),
    create=extend_schema(summary="Save the list's filters as a view", request=SavedViewWriteSerializer,
                         responses={201: SavedViewSerializer, **ERRORS}, examples=[EXAMPLE]),
    partial_update=extend_schema(summary="Rename, change the filters, share or make private (the owner)",
                                 request=SavedViewWriteSerializer, responses={200: SavedViewSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a view (the owner)", responses={204: None, **ERRORS}),
)
@extend_schema(tags=["views"])
class SavedViewViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = SavedViewSerializer
    pagination_class = SavedViewPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[SavedView]:
        return services.saved_views_for(user=self.request.user)

    def get_object(self) -> SavedView:
        try:
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            raise Http404 from None
        view = self.get_queryset().filter(pk=pk).first() if 0 < pk < 2**63 else None
        if view is None:
            raise Http404
        return view

    def create(self, request, *args, **kwargs):
        body = SavedViewWriteSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        view = services.saved_view_create(
            owner=request.user, name=data["name"], filters=data["filters"], team=data.get("shared_with_team")
        )
        return Response(SavedViewSerializer(view, context={"request": request}).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        view = self.get_object()
        body = SavedViewWriteSerializer(data=request.data, partial=True, context={"request": request})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        view = services.saved_view_update(
            view=view, by=request.user, name=data.get("name"), filters=data.get("filters"),
            team=data["shared_with_team"] if "shared_with_team" in data else False,
        )
        return Response(SavedViewSerializer(view, context={"request": request}).data)

    def perform_destroy(self, instance: SavedView) -> None:
        services.saved_view_delete(view=instance, by=self.request.user)
