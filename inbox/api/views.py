"""Conversations, their threads and notes over REST. Thin: selectors read, services write."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import prefetch_related_objects
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from inbox.api.errors import ApiError
from inbox.api.filters import RELEVANCE, ConversationFilter, ordering_of
from inbox.api.keyset import Keyset, KeysetCursorPagination
from inbox.api.serializers import (
    AssignableSerializer,
    BulkResultSerializer,
    BulkSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    ErrorSerializer,
    MessageSerializer,
    NoteCreateSerializer,
    ReplyCreateSerializer,
    UploadedSerializer,
    UploadSerializer,
    conversation_rows,
)
from inbox.conversations import attachments as attachment_services
from inbox.conversations import bulk, reply, search, selectors
from inbox.conversations import triage as conversation_services
from inbox.macros.services import macro_get
from inbox.models import META_CHANNELS, Conversation, Team
from inbox.team import assignment

CONVERSATION_KEYSETS = {
    "-last_message_at": Keyset("last_message_at", descending=True),
    "waiting_since": Keyset("waiting_since"),
    "window_expires_at": Keyset("window_expires_at"),
    # The earliest due time of a running SLA target (index conv_sla_due: this column, then id).
    "sla_due_at": Keyset("sla_next_due_at"),
    # Best match first: a float rank, then id (inbox/conversations/search.py annotates it).
    RELEVANCE: Keyset(search.SEARCH_RANK, descending=True),
}
# Newest first: the first page is what the agent reads; older pages load as they scroll up.
THREAD_KEYSET = Keyset("created_at", descending=True)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS = {
    401: _error("Not authenticated (`not_authenticated`, `authentication_failed`)"),
    403: _error("Not allowed"),
    404: _error("No such conversation, or not visible to you (`not_found`)"),
}
BAD_INPUT = _error("Malformed JSON (`parse_error`) or invalid fields (`invalid`, with `fields`)")


@extend_schema_view(
    list=extend_schema(
        summary="List conversations",
        description=(
            "Only conversations visible to you (your teams' inboxes, routed to your teams, or assigned "
            "to you; admins see all). Cursor-paginated; the `ordering` is kept in the next/previous links."
        ),
        responses={200: ConversationSerializer(many=True), 400: BAD_INPUT, 401: COMMON_ERRORS[401]},
    ),
    retrieve=extend_schema(summary="One conversation", responses={200: ConversationSerializer, **COMMON_ERRORS}),
)
@extend_schema(tags=["conversations"])
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ConversationSerializer
    pagination_class = KeysetCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ConversationFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self.action == "list":
            return selectors.conversations_listed(user=self.request.user)
        return selectors.conversations_visible(user=self.request.user)

    def get_object(self):
        # Never through filter_queryset: list filters must not hide a conversation on its own URL.
        return selectors.conversation_get(user=self.request.user, pk=self.kwargs["pk"])

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        q = request.query_params.get("q", "").strip()
        if q and page:
            # The same parameters filter_queryset has validated, for the date range.
            form = ConversationFilter(request.query_params, queryset=Conversation.objects.none(), request=request).form
            dates = form.cleaned_data if form.is_valid() else {}
            # Why each hit matched, for the page only (one query): see selectors.search_snippets. A
            # customer's name, email or phone may be why: the page's customers, in one query.
            prefetch_related_objects(page, "customer")
            snippets = selectors.search_snippets(page, q=q, after=dates.get("after"), before=dates.get("before"))
            for conversation in page:
                conversation.search_snippet = snippets.get(conversation.pk)
        return self.get_paginated_response(conversation_rows(page))

    def get_keyset(self) -> Keyset:
        if self.action == "messages":
            return THREAD_KEYSET
        return CONVERSATION_KEYSETS[ordering_of(self.request.query_params)]

    @extend_schema(
        summary="Change status, snooze, assignee, team or labels",
        request=ConversationUpdateSerializer,
        responses={200: ConversationSerializer, 400: BAD_INPUT, **COMMON_ERRORS},
        examples=[
            OpenApiExample("Resolve", value={"status": "resolved"}, request_only=True),
            OpenApiExample(
                "Snooze", value={"status": "snoozed", "snoozed_until": "2026-12-01T09:00:00Z"}, request_only=True
            ),
            OpenApiExample("Assign and label", value={"assignee": 7, "labels": ["refund", "vip"]}, request_only=True),
        ],
    )
    def partial_update(self, request, *args, **kwargs):
        conversation = self.get_object()
        body = ConversationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "assignee" in changes:
            changes["assignee"] = _user_or_none(changes["assignee"])
        if "team" in changes:
            changes["team"] = _team_or_none(changes["team"])
        conversation = conversation_services.conversation_update(conversation=conversation, by=request.user, **changes)
        return Response(self._fresh(conversation))

    @extend_schema(
        methods=["GET"],
        summary="The thread",
        description=(
            "Messages and private notes (`is_private: true`), newest first; follow `next` for older ones."
        ),
        responses={200: MessageSerializer(many=True), **COMMON_ERRORS},
    )
    @extend_schema(
        methods=["POST"],
        summary="Reply to the customer",
        description=(
            "Queues the reply on the conversation's channel and returns it (`status: queued`); it is sent "
            "after the request commits. A refused reply is never sent: 409 `window_closed` (Messenger/"
            "Instagram outside the 24 h window; with `tag: HUMAN_AGENT` a person may reply until 7 days), "
            "409 `opted_out`, 400 `too_long`, 400 `invalid_tag`, 400 `empty`. In a comment thread "
            "(`thread.kind: comments`) the reply goes under the latest comment (`comment_reply: public`, the "
            "default) or as the comment's one private message (`comment_reply: private`, within 7 days; else 409 "
            "`window_closed`, or 409 `already_replied`)."
        ),
        request=ReplyCreateSerializer,
        responses={
            201: MessageSerializer,
            400: _error("`too_long`, `invalid_tag`, `empty`, `invalid`, `parse_error`"),
            409: _error("`window_closed`, `opted_out` or `already_replied`"),
            **COMMON_ERRORS,
        },
        examples=[
            OpenApiExample("Text", value={"text": "Your parcel left today."}, request_only=True),
            OpenApiExample(
                "After 24 h", value={"text": "Sorry for the wait!", "tag": "HUMAN_AGENT"}, request_only=True
            ),
            OpenApiExample(
                "Private reply to a comment", value={"text": "Sent you the price!", "comment_reply": "private"},
                request_only=True,
            ),
        ],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=KeysetCursorPagination, filter_backends=[])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.conversation_messages(conversation=conversation))
            return self.get_paginated_response(MessageSerializer(page, many=True).data)
        body = ReplyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        payload = None
        if data.get("quick_replies"):
            if conversation.channel not in META_CHANNELS:
                raise ApiError("invalid", "Quick replies exist only on Messenger and Instagram.")
            payload = {
                "quick_replies": [
                    {"content_type": "text", "title": qr["title"], "payload": qr["payload"]}
                    for qr in data["quick_replies"]
                ]
            }
        if data.get("comment_reply") or data.get("comment_id"):
            if payload:
                raise ApiError("invalid", "Comment replies take no quick replies.")
            payload = {"comment_reply": data.get("comment_reply") or "public"}
            if data.get("comment_id"):
                payload["comment_id"] = data["comment_id"]
        message = reply.reply_send(
            conversation=conversation,
            author=request.user,
            text=data["text"],
            tag=data["tag"] or None,
            attachments=attachment_services.reply_attachments(
                conversation=conversation, user=request.user, refs=data.get("attachments", [])
            ),
            payload=payload,
            subject=data["subject"],
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Upload a file to send",
        description=(
            "Multipart `file`. Kept for a reply: name the returned `token` in the reply's `attachments`. "
            "Images, audio, video and common documents; at most 25 MB (5 MB on SMS). 400 "
            "`type_not_allowed`, `empty`; 413 `too_large`."
        ),
        request={"multipart/form-data": UploadSerializer},
        responses={201: UploadedSerializer, 400: BAD_INPUT, **COMMON_ERRORS},
    )
    @action(detail=True, methods=["post"], filter_backends=[], parser_classes=[MultiPartParser, FormParser])
    def attachments(self, request, pk=None):
        conversation = self.get_object()
        # Refused before Django spools a huge body to disk.
        attachment_services.upload_size_check(
            content_length=request.META.get("CONTENT_LENGTH"), channel=conversation.channel
        )
        body = UploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        stored = attachment_services.upload_store(conversation=conversation, user=request.user, upload=body.validated_data["file"])
        return Response(stored, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Add a private note",
        description="Shown to agents in the thread (`is_private: true`); never sent to the customer.",
        request=NoteCreateSerializer,
        responses={201: MessageSerializer, 400: BAD_INPUT, **COMMON_ERRORS},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def notes(self, request, pk=None):
        conversation = self.get_object()
        body = NoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = reply.note_add(conversation=conversation, author=request.user, text=body.validated_data["text"])
        return Response(MessageSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark read", request=None, responses={200: ConversationSerializer, **COMMON_ERRORS}
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def read(self, request, pk=None):
        conversation = conversation_services.conversation_mark_read(conversation=self.get_object(), by=request.user)
        return Response(self._fresh(conversation))

    @extend_schema(
        summary="Mark unread", request=None, responses={200: ConversationSerializer, **COMMON_ERRORS}
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def unread(self, request, pk=None):
        conversation = conversation_services.conversation_mark_unread(conversation=self.get_object(), by=request.user)
        return Response(self._fresh(conversation))

    @extend_schema(
        summary="I opened it: mark it read for me",
        description=(
            "Your own unread state (`read_at`, `unread` on the conversation; the `unread` filter): other "
            "agents' lists do not change and the customer is told nothing (that is `read/`, which follows "
            "the inbox's read-receipt etiquette)."
        ),
        request=None,
        responses={200: ConversationSerializer, **COMMON_ERRORS},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def opened(self, request, pk=None):
        conversation = self.get_object()
        conversation_services.conversation_opened(conversation=conversation, by=request.user)
        return Response(self._fresh(conversation))

    @extend_schema(
        summary="Who and which teams you may choose for this conversation",
        description=(
            "The assignee and team menus: exactly what PATCH would accept from you. Agents may take an "
            "unassigned conversation of their team (and release their own); leads and managers choose among "
            "the active agents of the conversation's team; admins among every agent. Leads, managers and "
            "admins route to any team, agents only among their own."
        ),
        responses={200: AssignableSerializer, **COMMON_ERRORS},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def assignable(self, request, pk=None):
        conversation = self.get_object()
        people = assignment.assignable_agents(user=request.user, conversation=conversation)
        return Response({
            "agents": [
                {"id": u.pk, "name": u.get_full_name() or u.get_username(), "username": u.get_username(),
                 "availability": u.agent.availability, "me": u.pk == request.user.pk}
                for u in people
            ],
            "teams": [{"id": t.pk, "name": t.name} for t in assignment.assignable_teams(user=request.user)],
            "may_unassign": assignment.may_unassign(user=request.user, conversation=conversation),
            "assign_to_me": conversation.assignee_id != request.user.pk and any(u.pk == request.user.pk for u in people),
        })

    @extend_schema(
        summary="Send a failed reply again",
        description=(
            "The same message row goes back to `queued` (provider id and error cleared) and is sent again. "
            "The channel's rules are checked as for a new reply: 409 `window_closed` (the Messenger/Instagram "
            "window closed since; write a new reply, with the HUMAN_AGENT tag where allowed), 409 `opted_out`, "
            "409 `not_failed` (it is not failed), 409 `not_retryable` (a note, or a message sent elsewhere)."
        ),
        request=None,
        responses={200: MessageSerializer, 409: _error("`not_failed`, `not_retryable`, `window_closed`, `opted_out`"),
                   **COMMON_ERRORS},
    )
    @action(detail=True, methods=["post"], filter_backends=[], url_path=r"messages/(?P<message_id>[0-9]{1,18})/retry")
    def retry(self, request, pk=None, message_id=None):
        message = reply.message_retry(conversation=self.get_object(), message_id=int(message_id), by=request.user)
        return Response(MessageSerializer(message).data)

    @extend_schema(
        summary="One action on many conversations",
        description=(
            "`action`: `assign` (`assignee`: a user id, or null to unassign), `move_team` (`team`: a team id, "
            "or null), `label` (`labels` added to each conversation's own), `snooze` (`snoozed_until` in the "
            "future), `resolve`, `macro` (`macro`: the id of a macro you may use; on each conversation all or "
            "nothing, as its `/macros/{id}/apply/`). At most 100 `ids`. Each conversation changes in its own transaction, by the "
            "same rules as a PATCH; the answer says, per id in the order given, whether it did: "
            "`{id, ok: true, conversation}` or `{id, ok: false, error: {code, detail}}` (e.g. `not_found`, "
            "`forbidden`, `already_assigned`, `invalid_assignee`). `conversation` is null when the change moved "
            "it out of your sight. A body that cannot apply to any conversation is a 400."
        ),
        request=BulkSerializer,
        responses={200: BulkResultSerializer, 400: BAD_INPUT, 401: COMMON_ERRORS[401]},
        examples=[
            OpenApiExample("Resolve three", value={"ids": [12, 15, 18], "action": "resolve"}, request_only=True),
            OpenApiExample("Assign to user 7", value={"ids": [12, 15], "action": "assign", "assignee": 7}, request_only=True),
            OpenApiExample("Label", value={"ids": [12], "action": "label", "labels": ["refund"]}, request_only=True),
        ],
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request):
        body = BulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        action_name = data["action"]
        params: dict = {}
        if action_name == "assign":
            params["assignee"] = _user_or_none(data["assignee"])
        elif action_name == "move_team":
            params["team"] = _team_or_none(data["team"])
        elif action_name == "label":
            params["labels"] = data["labels"]
        elif action_name == "snooze":
            params["snoozed_until"] = data["snoozed_until"]
        elif action_name == "macro":
            params["macro"] = _macro_or_invalid(request.user, data["macro"])
        outcomes = bulk.conversations_bulk_apply(user=request.user, ids=data["ids"], action=action_name, **params)
        done = [o.id for o in outcomes if o.ok]
        listed = selectors.conversations_listed(user=request.user).filter(pk__in=done)
        fresh = {row["id"]: row for row in conversation_rows(list(listed))}
        results = []
        for o in outcomes:
            if o.ok:
                results.append({"id": o.id, "ok": True, "conversation": fresh.get(o.id)})
            else:
                results.append({"id": o.id, "ok": False, "error": {"code": o.code, "detail": o.detail}})
        return Response({
            "action": action_name,
            "succeeded": len(done),
            "failed": len(outcomes) - len(done),
            "results": results,
        })

    def _fresh(self, conversation) -> dict:
        """Serialize as the list does (related rows joined, your read state), even if the change moved it out of sight."""
        fresh = selectors.with_read_state(
            Conversation.objects.select_related("inbox", "customer").prefetch_related(selectors.LABELS), user=self.request.user
        ).get(pk=conversation.pk)
        return ConversationSerializer(fresh).data


def _user_or_none(pk: int | None):
    if pk is None:
        return None
    user = get_user_model().objects.filter(pk=pk).first()
    if user is None:
        raise DjangoValidationError(f"assignee: no user {pk}.")
    return user


def _macro_or_invalid(user, pk: int):
    try:
        return macro_get(user=user, pk=pk)
    except Http404:
        raise DjangoValidationError(f"macro: no macro {pk} that you may use.") from None


def _team_or_none(pk: int | None):
    if pk is None:
        return None
    team = Team.objects.filter(pk=pk).first()
    if team is None:
        raise DjangoValidationError(f"team: no team {pk}.")
    return team
