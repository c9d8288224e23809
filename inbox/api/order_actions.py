"""Order actions over REST, and connecting the Shopify store. Thin: `inbox.orders` decides.

- POST `/orders/{id}/refunds/`, POST `/orders/{id}/cancel/`, PATCH `/orders/{id}/shipping-address/`,
  POST `/orders/{id}/notifications/`, POST `/customers/{id}/discount-codes/`: with `preview: true`
  the answer (200) is the plan — `summary`, the exact effect in words, `amount`, `details` and a
  `confirmation`; without it (202) the action row, queued for Shopify (`status` follows:
  queued, sent, failed, reconciled). Sending the preview's `confirmation` back makes sure what is
  done is what was shown (409 `plan_changed` otherwise).
- GET `/orders/{id}/actions/`, GET `/customers/{id}/order-actions/` (what the panel may offer).
- `/integrations/shopify/` (admins): GET, PUT (connect: shop domain and Admin API access token,
  checked with Shopify first), PATCH (refund limits), DELETE.

An order or customer the user may not see is 404; an action over the user's refund limit is 403
`over_limit`; one that makes no sense now is 409 (`not_connected`, `not_shopify_order`,
`already_cancelled`, `already_fulfilled`, `nothing_to_refund`, `in_progress`...). Always
`{code, detail}`, and nothing is sent to Shopify.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer, Order
from inbox.api.errors import ApiError
from inbox.api.serializers import ErrorSerializer
from inbox.models import OrderAction, OrderActionKind, ShopifyStore
from inbox.orders.actions import CANCEL_REASONS, DISCOUNT_TYPES, NOTIFICATIONS, order_action
from inbox.orders.errors import OrderActionRefused
from inbox.orders.selectors import action_row, order_actions_for
from inbox.orders.stores import store_connect, store_current, store_disconnect, store_update
from inbox.providers.shopify import API_VERSION
from inbox.team.access import customers_visible_to, is_admin

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (`invalid`, `over_refundable`)"),
    403: OpenApiResponse(ErrorSerializer, description="Over your role's refund limit (`over_limit`)"),
    404: OpenApiResponse(ErrorSerializer, description="No such order or customer, or not visible to you"),
    409: OpenApiResponse(ErrorSerializer, description="Not possible now (`not_connected`, `already_cancelled`...)"),
}


class _Confirmable(serializers.Serializer):
    preview = serializers.BooleanField(required=False, default=False, help_text="Only say what would happen")
    confirmation = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                         help_text="The preview's `confirmation`, to act only on what was shown")


class RefundLineSerializer(serializers.Serializer):
    line_item_id = serializers.CharField(max_length=32, help_text="Shopify's line item id (`line_items` of the panel)")
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class RefundRequestSerializer(_Confirmable):
    line_items = RefundLineSerializer(many=True, required=False, allow_null=True,
                                      help_text="Left out: the whole order with shipping; [] with an amount: money only")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True,
                                      help_text="Default: what the items (or the whole order) cost")
    restock = serializers.BooleanField(required=False)
    notify = serializers.BooleanField(required=False, help_text="Shopify emails the customer (default true)")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255)


class CancelRequestSerializer(_Confirmable):
    reason = serializers.ChoiceField(choices=list(CANCEL_REASONS), required=False)
    refund = serializers.BooleanField(required=False, help_text="Refund what is left (default true)")
    restock = serializers.BooleanField(required=False)
    notify = serializers.BooleanField(required=False)
    staff_note = serializers.CharField(required=False, allow_blank=True, max_length=255)


class ShippingAddressSerializer(_Confirmable):
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=120)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=120)
    company = serializers.CharField(required=False, allow_blank=True, max_length=120)
    address1 = serializers.CharField(max_length=120)
    address2 = serializers.CharField(required=False, allow_blank=True, max_length=120)
    city = serializers.CharField(max_length=120)
    province_code = serializers.CharField(required=False, allow_blank=True, max_length=120)
    country_code = serializers.CharField(max_length=2, min_length=2)
    zip = serializers.CharField(max_length=120)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=120)


class NotificationRequestSerializer(_Confirmable):
    kind = serializers.ChoiceField(choices=list(NOTIFICATIONS),
                                   help_text="order_status: the invoice email with the order status link; "
                                             "tracking: the shipping update email")


class DiscountCodeRequestSerializer(_Confirmable):
    value_type = serializers.ChoiceField(choices=list(DISCOUNT_TYPES))
    value = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    ends_in_days = serializers.IntegerField(min_value=1, max_value=365, required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=100)


class PreviewSerializer(serializers.Serializer):
    preview = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=OrderActionKind.choices)
    order = serializers.IntegerField(allow_null=True)
    customer = serializers.IntegerField()
    summary = serializers.CharField(help_text="Exactly what will happen")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    details = serializers.DictField()
    confirmation = serializers.CharField()


class OrderActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=OrderActionKind.choices)
    status = serializers.CharField(help_text="queued, sent, failed or reconciled")
    order = serializers.IntegerField(allow_null=True)
    customer = serializers.IntegerField()
    summary = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    actor = serializers.CharField()
    shopify_id = serializers.CharField()
    shopify = serializers.CharField(help_text="Shopify's answer in words")
    code = serializers.CharField(allow_null=True, help_text="The discount code, once Shopify made it")
    error = serializers.DictField(allow_null=True)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    reconciled_at = serializers.DateTimeField(allow_null=True)


class ActionAnswerSerializer(serializers.Serializer):
    preview = serializers.BooleanField()
    action = OrderActionSerializer()


def _visible_order(request: Request, pk: int) -> Order:
    return get_object_or_404(
        Order.objects.filter(customer__in=customers_visible_to(request.user)).select_related("customer"), pk=pk
    )


def _visible_customer(request: Request, pk: int) -> Customer:
    return get_object_or_404(customers_visible_to(request.user), pk=pk)


def _act(request: Request, serializer_class, *, kind: str, order: Order | None = None,
         customer: Customer | None = None) -> Response:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    params = dict(data.validated_data)
    preview = params.pop("preview", False)
    confirmation = params.pop("confirmation", "") or None
    try:
        outcome = order_action(kind=kind, actor=request.user, order=order, customer=customer, params=params,
                               preview=preview, confirmation=confirmation, request=request)
    except OrderActionRefused as exc:
        raise ApiError(exc.code, exc.detail, exc.status) from None
    if outcome.action is None:
        return Response(outcome.plan.as_preview())
    # Re-read: where tasks run in-process, Shopify has answered already.
    action = OrderAction.objects.get(pk=outcome.action.pk)
    return Response({"preview": False, "action": action_row(action)}, status=202)


def _schema(summary: str, request):
    return extend_schema(tags=["orders"], summary=summary, request=request,
                         responses={200: PreviewSerializer, 202: ActionAnswerSerializer, **ERRORS})


class OrderRefundView(APIView):
    @_schema("Refund an order, whole or per line item (preview: say what would happen)", RefundRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return _act(request, RefundRequestSerializer, kind=OrderActionKind.REFUND, order=_visible_order(request, pk))


class OrderCancelView(APIView):
    @_schema("Cancel an order (reason, refund, restock, notify)", CancelRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return _act(request, CancelRequestSerializer, kind=OrderActionKind.CANCEL, order=_visible_order(request, pk))


class OrderShippingAddressView(APIView):
    @_schema("Change an order's shipping address before it ships", ShippingAddressSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        return _act(request, ShippingAddressSerializer, kind=OrderActionKind.SHIPPING_ADDRESS,
                    order=_visible_order(request, pk))


class OrderNotificationView(APIView):
    @_schema("Resend the order status (invoice) or tracking email", NotificationRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return _act(request, NotificationRequestSerializer, kind=OrderActionKind.NOTIFICATION,
                    order=_visible_order(request, pk))


class CustomerDiscountCodeView(APIView):
    @_schema("Create a one-time discount code for the customer", DiscountCodeRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return _act(request, DiscountCodeRequestSerializer, kind=OrderActionKind.DISCOUNT_CODE,
                    customer=_visible_customer(request, pk))


class OrderActionListView(APIView):
    @extend_schema(tags=["orders"], summary="The order's actions, newest first",
                   responses={200: OrderActionSerializer(many=True), **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        order = _visible_order(request, pk)
        return Response([action_row(a) for a in order.actions.order_by("-created_at", "-id")[:100]])


class CustomerOrderActionsView(APIView):
    @extend_schema(tags=["orders"], summary="What may be done for the customer's orders, with recent actions",
                   responses={200: OpenApiResponse(description="{store, limits, discount_code, orders, recent}")})
    def get(self, request: Request, pk: int) -> Response:
        return Response(order_actions_for(user=request.user, customer=_visible_customer(request, pk)))


# --- The Shopify store (admins) -----------------------------------------------------------------


class StoreConnectSerializer(serializers.Serializer):
    shop_domain = serializers.CharField(max_length=255, help_text="e.g. northwind.myshopify.com")
    access_token = serializers.CharField(max_length=255, write_only=True, help_text="Admin API access token")
    agent_refund_limit = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    lead_refund_limit = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    discount_percent_limit = serializers.IntegerField(min_value=0, max_value=100, required=False)


class StoreLimitsSerializer(serializers.Serializer):
    agent_refund_limit = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    lead_refund_limit = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    discount_percent_limit = serializers.IntegerField(min_value=0, max_value=100, required=False)


class StoreSerializer(serializers.ModelSerializer):
    api_version = serializers.SerializerMethodField()
    access_token_set = serializers.SerializerMethodField()

    class Meta:
        model = ShopifyStore
        fields = ["shop_domain", "name", "currency", "api_version", "access_token_set", "agent_refund_limit",
                  "lead_refund_limit", "discount_percent_limit", "created_at", "updated_at"]
        read_only_fields = fields

    def get_api_version(self, obj: ShopifyStore) -> str:
        return API_VERSION

    def get_access_token_set(self, obj: ShopifyStore) -> bool:
        return bool((obj.credentials or {}).get("access_token"))


def _require_admin(request: Request) -> None:
    if not is_admin(request.user):
        raise ApiError("forbidden", "Only admins may connect the Shopify store.", 403)


class ShopifyIntegrationView(APIView):
    """The connected store: never answers its token."""

    @extend_schema(tags=["integrations"], summary="The connected Shopify store (admins)",
                   responses={200: OpenApiResponse(description="{connected, store}"), **ERRORS})
    def get(self, request: Request) -> Response:
        _require_admin(request)
        store = store_current()
        return Response({"connected": store is not None, "store": StoreSerializer(store).data if store else None})

    @extend_schema(tags=["integrations"], summary="Connect the Shopify store (admins); the token is checked first",
                   request=StoreConnectSerializer, responses={200: StoreSerializer, **ERRORS})
    def put(self, request: Request) -> Response:
        _require_admin(request)
        data = StoreConnectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        try:
            store = store_connect(shop_domain=v.pop("shop_domain"), access_token=v.pop("access_token"),
                                  by=request.user, limits=v)
        except OrderActionRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response(StoreSerializer(store).data)

    post = put

    @extend_schema(tags=["integrations"], summary="Change the refund limits (admins)",
                   request=StoreLimitsSerializer, responses={200: StoreSerializer, **ERRORS})
    def patch(self, request: Request) -> Response:
        _require_admin(request)
        store = store_current()
        if store is None:
            raise ApiError("not_connected", "No Shopify store is connected.", 404)
        data = StoreLimitsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            store = store_update(store=store, by=request.user, limits=dict(data.validated_data))
        except OrderActionRefused as exc:
            raise ApiError(exc.code, exc.detail, exc.status) from None
        return Response(StoreSerializer(store).data)

    @extend_schema(tags=["integrations"], summary="Disconnect the Shopify store (admins)", responses={204: None})
    def delete(self, request: Request) -> Response:
        _require_admin(request)
        store = store_current()
        if store is not None:
            store_disconnect(store=store, by=request.user)
        return Response(status=204)
