"""`/api/v1/campaigns/`, `/api/v1/events/`, `/api/v1/autoresponders/`. Thin: services write.

Managers and admins create and run campaigns for inboxes they may see; agents may read them.
Anything outside what a user may see is 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import translation
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.language import LANGUAGE_CODES, customer_language, inbox_language, language_normalize
from customers.models import Customer
from customers.services import customer_event_publish
from inbox.api.errors import ApiError
from inbox.models import META_CHANNELS
from inbox.team import access

from . import audience as aud
from . import composition, events, services
from .models import AutoResponder, Campaign, Purpose

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from inbox.models import Inbox

WRITE_ROLES = ("manager", "admin")


def _require_writer(user: User | AnonymousUser) -> None:
    if access.role_of(user) not in WRITE_ROLES:
        raise ApiError("forbidden", "Only managers and admins may change campaigns.", status.HTTP_403_FORBIDDEN)


def campaigns_visible_to(user: User | AnonymousUser) -> QuerySet[Campaign]:
    return Campaign.objects.filter(inbox__in=access.inboxes_visible_to(user)).select_related("inbox")


def _validation(exc: DjangoValidationError) -> ApiError:
    return ApiError("invalid", "; ".join(exc.messages), status.HTTP_400_BAD_REQUEST)


class CampaignSerializer(serializers.ModelSerializer):
    inbox = serializers.IntegerField(source="inbox_id")
    trigger = serializers.SerializerMethodField()
    send_window = serializers.SerializerMethodField()
    stats = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "kind", "channel", "inbox", "purpose", "status", "text", "subject", "translations",
            "sender_name", "audience", "trigger", "send_window", "starts_at", "ends_at", "attribution_days",
            "launched_at", "created_at", "stats",
        ]

    def get_trigger(self, obj: Campaign) -> dict | None:
        if obj.kind != "triggered":
            return None
        return {"event": obj.trigger_event, "delay_seconds": obj.delay_seconds, "exceptions": obj.exception_events}

    def get_send_window(self, obj: Campaign) -> dict:
        return {"start": obj.window_start.strftime("%H:%M"), "end": obj.window_end.strftime("%H:%M")}

    def get_stats(self, obj: Campaign) -> dict:
        return services.campaign_stats(campaign=obj)


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=["broadcast", "triggered"])
    channel = serializers.ChoiceField(choices=["messenger", "instagram", "sms", "email"])
    inbox = serializers.IntegerField()
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.MARKETING)
    text = serializers.CharField(max_length=5000)
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    translations = serializers.DictField(
        required=False, default=dict,
        help_text='The message per customer language: {"fr": {"text": "...", "subject": "..."}, "el": {...}}; '
                  "customers of another language, or of none known, get text and subject",
    )
    sender_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    audience = serializers.DictField(required=False, default=dict)
    trigger = serializers.DictField(required=False, allow_null=True, default=None)
    send_window = serializers.DictField(required=False, allow_null=True, default=None)
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class PreviewInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=["messenger", "instagram", "sms", "email"])
    inbox = serializers.IntegerField(required=False, allow_null=True, default=None)
    purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.MARKETING)
    text = serializers.CharField(max_length=5000, allow_blank=True)
    translations = serializers.DictField(required=False, default=dict)
    audience = serializers.DictField(required=False, default=dict)
    customer = serializers.IntegerField(required=False, allow_null=True, default=None)


def _audience_counts(*, inbox: Inbox, channel: str, audience: dict, marketing: bool) -> dict:
    members = aud.audience_queryset(inbox=inbox, channel=channel, audience=audience)
    return {
        "size": members.count(),
        "eligible": aud.with_consent(members, channel=channel, marketing=marketing).count(),
    }


def _audience_languages(*, inbox: Inbox, channel: str, audience: dict, marketing: bool) -> dict[str, int]:
    """Those who may receive it, by the language they will be written to in (their own; the
    inbox's for customers whose language is unknown)."""
    members = aud.with_consent(aud.audience_queryset(inbox=inbox, channel=channel, audience=audience),
                               channel=channel, marketing=marketing)
    default = inbox_language(inbox)
    counts: dict[str, int] = {}
    for code, n in members.order_by().values("language").annotate(n=Count("id")).values_list("language", "n"):
        counts[code or default] = counts.get(code or default, 0) + n
    return counts


class CampaignViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CampaignSerializer

    def get_queryset(self) -> QuerySet[Campaign]:
        return campaigns_visible_to(self.request.user)

    def _visible_inbox(self, inbox_id: int) -> Inbox:
        inbox = access.inboxes_visible_to(self.request.user).filter(pk=inbox_id).first()
        if inbox is None:
            raise ApiError("invalid", f"inbox {inbox_id} does not exist or is not yours.", status.HTTP_400_BAD_REQUEST)
        return inbox

    def create(self, request: Request) -> Response:
        _require_writer(request.user)
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        spec = dict(data.validated_data)
        spec["inbox"] = self._visible_inbox(spec["inbox"])
        try:
            campaign = services.campaign_create(by=request.user, **spec)
        except (DjangoValidationError, composition.TemplateInvalid) as exc:
            raise _validation(exc) if isinstance(exc, DjangoValidationError) else ApiError("invalid", str(exc)) from None
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    def _run(self, fn: Callable[..., Campaign]) -> Response:
        _require_writer(self.request.user)
        campaign = self.get_object()
        try:
            campaign = fn(campaign=campaign)
        except services.CampaignError as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response(CampaignSerializer(campaign).data)

    @action(detail=True, methods=["post"])
    def launch(self, request: Request, pk: str | None = None) -> Response:
        return self._run(services.campaign_launch)

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._run(services.campaign_pause)

    @action(detail=True, methods=["get"])
    def audience(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        counts = _audience_counts(
            inbox=campaign.inbox, channel=campaign.channel, audience=campaign.audience,
            marketing=campaign.purpose == Purpose.MARKETING,
        )
        return Response({"campaign": campaign.pk, **counts})

    @extend_schema(request=PreviewInputSerializer, responses={200: inline_serializer("CampaignPreview", {
        "text": serializers.CharField(),
        "warnings": serializers.ListField(child=serializers.CharField()),
        "segments": serializers.IntegerField(required=False),
        "encoding": serializers.CharField(required=False),
        "characters": serializers.IntegerField(required=False),
        "audience": serializers.DictField(required=False),
        "language": serializers.CharField(
            help_text="The language the customer gets it in (their translation, else the inbox's language)"
        ),
        "languages": serializers.DictField(
            required=False, help_text="The eligible audience by the language each will get it in"
        ),
    })})
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """Render the text for one customer (or a sample), count SMS segments, size the audience.

        For who may create campaigns (managers, admins); the text is checked as a campaign's is.
        """
        _require_writer(request.user)
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        marketing = v["purpose"] == Purpose.MARKETING
        customer = None
        if v["customer"]:
            customer = get_object_or_404(access.customers_visible_to(request.user), pk=v["customer"])
        inbox = self._visible_inbox(v["inbox"]) if v["inbox"] else None
        try:
            translations = composition.translations_validate(v["translations"], channel=v["channel"])
        except DjangoValidationError as exc:
            raise _validation(exc) from None
        # Which text this customer gets: their language's translation, else the campaign's own.
        body, _, used = composition.for_language(
            v["text"], "", translations, customer_language(customer, inbox) if customer else ""
        )
        language = used or inbox_language(inbox)
        try:
            context = composition.context_for(customer=customer) if customer else composition.sample_context()
            text = composition.render(body, context) if body else ""
        except composition.TemplateInvalid as exc:
            raise ApiError("invalid", str(exc)) from None
        out: dict = {"text": text, "warnings": [], "language": language}
        if v["channel"] == "sms":
            with translation.override(language):
                check = composition.sms_check(text, marketing=marketing)
                final = composition.sms_finalise(text, marketing=marketing)
            out.update(text=final, segments=check.segments,
                       encoding=check.encoding, characters=check.characters, warnings=check.warnings)
        if inbox is not None:
            try:
                audience = aud.audience_validate(v["audience"])
            except DjangoValidationError as exc:
                raise _validation(exc) from None
            out["audience"] = _audience_counts(inbox=inbox, channel=v["channel"], audience=audience, marketing=marketing)
            # Who gets which language: {"fr": 12, "el": 3, "en": 40}.
            out["languages"] = _audience_languages(inbox=inbox, channel=v["channel"], audience=audience, marketing=marketing)
        return Response(out)


class EventInputSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    name = serializers.CharField(max_length=64)
    properties = serializers.DictField(required=False, default=dict)


class EventView(APIView):
    """POST a customer event (cart.abandoned, a custom one…); triggered campaigns listen to them.

    For integrations: admins and integration accounts (campaigns/events.py), never agents. Names the
    system emits (`order.*`, `conversation.*`) are refused; properties are bounded JSON and an
    `order_id` must be one of that customer's orders.
    """

    serializer_class = EventInputSerializer

    def post(self, request: Request) -> Response:
        if not events.may_post_events(request.user):
            raise ApiError("forbidden", "Events are posted by integrations: an admin's or an integration account's token.",
                           status.HTTP_403_FORBIDDEN)
        data = EventInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customer = get_object_or_404(Customer.objects.filter(merged_into=None, erased_at=None), pk=v["customer"])
        try:
            name = services.event_name_validate(v["name"])
        except DjangoValidationError as exc:
            raise _validation(exc) from None
        if events.is_system_event(name):
            raise ApiError("reserved_event", f"{name!r}: order.* and conversation.* events come only from the system.")
        try:
            properties = events.properties_validate(v["properties"], customer=customer)
        except events.EventRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        with transaction.atomic():
            event = customer_event_publish(customer=customer, name=name, properties=properties)
        assert event is not None  # None only for a repeated dedupe_key, and none is given
        return Response(
            {"id": event.pk, "customer": customer.pk, "name": event.name, "properties": event.properties,
             "created_at": event.created_at},
            status=status.HTTP_201_CREATED,
        )


class AutoResponderSerializer(serializers.ModelSerializer):
    inbox = serializers.IntegerField(source="inbox_id")
    keywords = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1, max_length=50)
    public_reply = serializers.CharField(max_length=8000, required=False, allow_blank=True, default="")
    private_reply = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    translations = serializers.DictField(
        required=False, default=dict,
        help_text='Per commenter language: {"fr": {"public_reply": "...", "private_reply": "..."}}; commenters '
                  "of another language, or of none known, get public_reply and private_reply",
    )

    class Meta:
        model = AutoResponder
        fields = ["id", "inbox", "keywords", "public_reply", "private_reply", "translations", "active", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_translations(self, value: dict) -> dict:
        cleaned: dict[str, dict[str, str]] = {}
        for code, entry in (value or {}).items():
            if language_normalize(code) != code:
                raise serializers.ValidationError(f"{code!r} is not one of the languages {', '.join(LANGUAGE_CODES)}")
            if not isinstance(entry, dict) or set(entry) - {"public_reply", "private_reply"}:
                raise serializers.ValidationError(f"{code} must be an object {{public_reply, private_reply}}")
            replies = {}
            for key, limit in (("public_reply", 8000), ("private_reply", 1000)):
                text = entry.get(key, "")
                if not isinstance(text, str) or len(text) > limit:
                    raise serializers.ValidationError(f"{code}.{key} must be a text of at most {limit} characters")
                if text.strip():
                    replies[key] = text
            if replies:
                cleaned[code] = replies
        return cleaned

    def validate_keywords(self, value: list[str]) -> list[str]:
        clean = [k.strip() for k in value if k.strip()]
        if not clean:
            raise serializers.ValidationError("at least one keyword")
        return clean

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        public = attrs.get("public_reply", getattr(self.instance, "public_reply", ""))
        private = attrs.get("private_reply", getattr(self.instance, "private_reply", ""))
        if not (public or "").strip() and not (private or "").strip():
            raise serializers.ValidationError("give a public_reply, a private_reply, or both")
        return attrs


class AutoResponderViewSet(viewsets.ModelViewSet):
    serializer_class = AutoResponderSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[AutoResponder]:
        return AutoResponder.objects.filter(inbox__in=access.inboxes_visible_to(self.request.user))

    def _inbox(self, serializer: serializers.BaseSerializer) -> Inbox | None:
        inbox_id = serializer.validated_data.get("inbox_id")
        if inbox_id is None:
            return None
        inbox = access.inboxes_visible_to(self.request.user).filter(pk=inbox_id).first()
        if inbox is None:
            raise ApiError("invalid", f"inbox {inbox_id} does not exist or is not yours.")
        if inbox.kind not in META_CHANNELS:
            raise ApiError("invalid", "Comment auto-responders exist only for Facebook Pages and Instagram accounts.")
        return inbox

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        _require_writer(self.request.user)
        inbox = self._inbox(serializer)
        serializer.validated_data.pop("inbox_id", None)
        serializer.save(inbox=inbox)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        _require_writer(self.request.user)
        inbox = self._inbox(serializer)
        serializer.validated_data.pop("inbox_id", None)
        serializer.save(**({"inbox": inbox} if inbox else {}))

    def perform_destroy(self, instance: AutoResponder) -> None:
        _require_writer(self.request.user)
        instance.delete()

