"""The campaign builder's API, beside /api/v1/campaigns/: the audience breakdown, the event
catalogue, a test send to oneself, resume and cancel, and a campaign's results over time.
Managers and admins write; anything outside the user's inboxes is 404 (as campaigns/api.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.api.errors import ApiError
from inbox.team import access

from . import audience as aud
from . import builder, composition, services
from .api import CampaignSerializer, _require_writer, campaigns_visible_to
from .models import Campaign, Purpose

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from inbox.models import Inbox


def _inbox(request: Request, inbox_id: int) -> Inbox:
    inbox = access.inboxes_visible_to(request.user).filter(pk=inbox_id).first()
    if inbox is None:
        raise ApiError("invalid", f"inbox {inbox_id} does not exist or is not yours.")
    return inbox


class AudienceInput(serializers.Serializer):
    inbox = serializers.IntegerField()
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.MARKETING)
    audience = serializers.DictField(required=False, default=dict)
    send_window = serializers.DictField(required=False, default=dict)


BREAKDOWN = inline_serializer("AudienceBreakdown", {
    "total": serializers.IntegerField(), **{k: serializers.IntegerField() for k in builder.BREAKDOWN_KEYS},
    "sample": serializers.ListField(child=serializers.DictField()),
})


class AudienceView(APIView):
    """Who of a segment would receive the message if it were launched now, and why the others not."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["campaigns"], request=AudienceInput, responses={200: BREAKDOWN})
    def post(self, request: Request) -> Response:
        _require_writer(request.user)
        data = AudienceInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        inbox = _inbox(request, v["inbox"])
        try:
            segment = aud.audience_validate(v["audience"])
            window = services._time(v["send_window"].get("start", "09:00"), "send_window.start"), services._time(
                v["send_window"].get("end", "21:00"), "send_window.end")
        except DjangoValidationError as exc:
            raise ApiError("invalid", "; ".join(exc.messages)) from None
        return Response(builder.audience_breakdown(
            inbox=inbox, channel=inbox.kind, audience=segment, marketing=v["purpose"] == Purpose.MARKETING, window=window,
        ))


class EventsView(APIView):
    """The events a triggered campaign can start on: the system's and those integrations posted."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["campaigns"], responses={200: inline_serializer("CampaignEvent", {
        "name": serializers.CharField(), "description": serializers.CharField(), "source": serializers.CharField(),
        "recent": serializers.IntegerField()}, many=True)})
    def get(self, request: Request) -> Response:
        if access.role_of(request.user) is None:
            raise ApiError("forbidden", "Sign in as an agent.", 403)
        return Response(builder.event_catalogue())


class TestSendInput(serializers.Serializer):
    inbox = serializers.IntegerField()
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.MARKETING)
    text = serializers.CharField(max_length=5000)
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class TestSendView(APIView):
    """Send the message to yourself: to your own identity on the inbox's channel, as a customer would get it."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["campaigns"], request=TestSendInput, responses={201: inline_serializer("TestSend", {
        "message": serializers.IntegerField(), "conversation": serializers.IntegerField(),
        "to": serializers.CharField()})})
    def post(self, request: Request) -> Response:
        _require_writer(request.user)
        data = TestSendInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        inbox = _inbox(request, v["inbox"])
        try:
            message = builder.test_send(user=cast("User", request.user), inbox=inbox, text=v["text"], subject=v["subject"],
                                        purpose=v["purpose"])
        except builder.TestSendRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        except composition.TemplateInvalid as exc:
            raise ApiError("invalid", str(exc)) from None
        identity = message.conversation.identity
        return Response({"message": message.pk, "conversation": message.conversation_id, "to": identity.external_id},
                        status=201)


class _CampaignAction(APIView):
    permission_classes = [IsAuthenticated]

    def campaign(self, request: Request, pk: int) -> Campaign:
        return get_object_or_404(campaigns_visible_to(request.user), pk=pk)


class ResumeView(_CampaignAction):
    @extend_schema(tags=["campaigns"], request=None, responses={200: CampaignSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """A paused campaign runs again; what was planned and is now due goes out (never twice)."""
        _require_writer(request.user)
        campaign = self.campaign(request, pk)
        if campaign.status != "paused":
            raise ApiError("not_paused", f"This campaign is {campaign.status}, not paused.", 409)
        try:
            campaign = services.campaign_launch(campaign=campaign)
        except services.CampaignError as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response(CampaignSerializer(campaign).data)


class CancelView(_CampaignAction):
    @extend_schema(tags=["campaigns"], request=None, responses={200: CampaignSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Stop for good: every planned send is cancelled and the campaign finishes now."""
        _require_writer(request.user)
        return Response(CampaignSerializer(builder.campaign_cancel(campaign=self.campaign(request, pk))).data)


class ResultsView(_CampaignAction):
    @extend_schema(tags=["campaigns"], responses={200: inline_serializer("CampaignResults", {
        "status": serializers.CharField(), "stats": serializers.DictField(),
        "days": serializers.ListField(child=serializers.DictField())})})
    def get(self, request: Request, pk: int) -> Response:
        """Live results: planned, sent, skipped by reason, delivered, read, replied, unsubscribed,
        orders and revenue attributed, and the sends of each day."""
        campaign = self.campaign(request, pk)
        stats: dict[str, Any] = {**services.campaign_stats(campaign=campaign), **builder.campaign_extra_stats(campaign=campaign)}
        return Response({"status": campaign.status, "stats": stats, "days": builder.campaign_timeline(campaign=campaign)})
