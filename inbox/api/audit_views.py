"""`GET /api/v1/audit/`: the audit log, for admins only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets

from inbox.api.errors import ApiError
from inbox.models import AuditEntry
from inbox.team import access


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ["id", "actor", "action", "target", "data", "ip", "request_id", "created_at"]

    def get_actor(self, entry: AuditEntry) -> dict | None:
        if entry.actor_id is None and not entry.actor_name:
            return None
        return {"id": entry.actor_id, "username": entry.actor_name}

    def get_target(self, entry: AuditEntry) -> dict:
        return {"type": entry.target_type, "id": entry.target_id}


@extend_schema(
    parameters=[
        OpenApiParameter("action", str, description="e.g. customer.merge"),
        OpenApiParameter("target_type", str, description="e.g. customers.customer"),
        OpenApiParameter("target_id", str),
        OpenApiParameter("actor", int, description="user id"),
    ]
)
class AuditEntryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEntry.objects.none()
        if not access.is_admin(self.request.user):
            raise ApiError("forbidden", "Only admins may read the audit log.", 403)
        entries = AuditEntry.objects.all()
        params = self.request.query_params
        for name in ("action", "target_type", "target_id"):
            if params.get(name):
                entries = entries.filter(**{name: params[name]})
        actor = params.get("actor")
        if actor:
            if not actor.isdigit():
                raise ApiError("invalid", "actor must be a user id.", 400)
            entries = entries.filter(actor_id=int(actor))
        return entries
