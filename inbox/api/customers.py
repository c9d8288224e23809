"""`/api/v1/customers/…` and `/api/v1/orders/`. Thin: selectors read, services write.

Visibility comes from the inbox's rules (`inbox.team.access.customers_visible_to`): a customer
outside them is answered 404, never 403, so ids don't leak. A record merged into another answers
410 `{code: "merged", detail, survivor}` to whoever sees the survivor (404 to everyone else); an
erased record is seen by managers and admins only. Export holds only the conversations the caller
may see; erasing a customer who also has conversations outside them needs an admin.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import selectors, services
from customers.models import Customer, Order
from inbox.api.customer_serializers import (
    ConsentInputSerializer,
    CustomerListSerializer,
    CustomerPatchSerializer,
    CustomerSerializer,
    MergeInputSerializer,
    OrderWithCustomerSerializer,
    SuggestionSerializer,
)
from inbox.conversations.privacy import ErasureRefused, erasure_allowed
from inbox.team.access import PRIVACY_ROLES, customers_visible_to, role_of


class CustomerApiError(exceptions.APIException):
    """Rendered as {code, detail} by the project's exception handler."""

    def __init__(self, code: str, detail: str, status_code: int = 400) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code


class CustomerMerged(CustomerApiError):
    """The id names a record merged into another: 410 with the survivor's id (the handler adds `extra`)."""

    def __init__(self, customer: Customer) -> None:
        survivor = customer.merged_into_id
        super().__init__(
            "merged", f"Customer {customer.pk} was merged into customer {survivor}; use that id.", status.HTTP_410_GONE
        )
        self.extra = {"survivor": survivor}


def _visible_customer(request: Request, pk: int) -> Customer:
    """The current customer `pk` as the caller may see it: 404 outside their visibility, 410 (with
    the survivor's id) for a merged-away record whose survivor they see."""
    customer = get_object_or_404(
        selectors.customer_detail_queryset(customers=customers_visible_to(request.user)), pk=pk
    )
    if customer.merged_into_id:
        raise CustomerMerged(customer)
    return customer


def _refuse_if_erased(customer: Customer) -> None:
    if customer.erased_at:
        raise CustomerApiError("erased", "This customer was erased.", status.HTTP_409_CONFLICT)


def _require_privacy_role(request: Request) -> None:
    if role_of(request.user) not in PRIVACY_ROLES:
        raise CustomerApiError("forbidden", "Only managers and admins may do this.", status.HTTP_403_FORBIDDEN)


def _detail(request: Request, pk: int) -> Response:
    return Response(CustomerSerializer(_visible_customer(request, pk)).data)


@extend_schema(parameters=[OpenApiParameter("q", str, description="Name, email, phone or order number")])
class CustomerListView(generics.ListAPIView):
    serializer_class = CustomerListSerializer

    def get_queryset(self) -> QuerySet[Customer]:
        return selectors.customers_search(customers=customers_visible_to(self.request.user), q=self.request.query_params.get("q", ""))


class CustomerDetailView(APIView):
    @extend_schema(responses=CustomerSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return _detail(request, pk)

    @extend_schema(request=CustomerPatchSerializer, responses=CustomerSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        customer = _visible_customer(request, pk)
        _refuse_if_erased(customer)
        body = CustomerPatchSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            services.customer_update(
                customer=customer,
                name=body.validated_data.get("name"),
                labels=body.validated_data.get("labels"),
                timezone_name=body.validated_data.get("timezone"),
                notes=body.validated_data.get("notes"),
                language=body.validated_data.get("language"),
            )
        except DjangoValidationError as exc:
            raise CustomerApiError("invalid", "; ".join(exc.messages)) from None
        return _detail(request, pk)


class CustomerConsentView(APIView):
    @extend_schema(request=ConsentInputSerializer, responses=CustomerSerializer)
    def post(self, request: Request, pk: int) -> Response:
        customer = _visible_customer(request, pk)
        _refuse_if_erased(customer)
        body = ConsentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.consent_record(
            customer=customer, **body.validated_data, proof={"by_user": request.user.pk, "via": "api"}
        )
        return Response(CustomerSerializer(_visible_customer(request, pk)).data, status=status.HTTP_201_CREATED)


class CustomerMergeView(APIView):
    @extend_schema(request=MergeInputSerializer, responses=CustomerSerializer)
    def post(self, request: Request, pk: int) -> Response:
        kept = _visible_customer(request, pk)
        body = MergeInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            other = customers_visible_to(request.user).get(pk=body.validated_data["other"])
        except Customer.DoesNotExist:
            raise Http404 from None
        try:
            record = services.customer_merge(kept=kept, other=other, by=request.user)
        except services.MergeRefused as exc:
            raise CustomerApiError(exc.code, exc.detail, status.HTTP_409_CONFLICT) from None
        data = CustomerSerializer(_visible_customer(request, pk)).data
        return Response({**data, "merge": {"id": record.pk, "merged_customer_id": record.merged_customer_id}})


class CustomerMergeSuggestionsView(APIView):
    @extend_schema(responses=SuggestionSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        customer = _visible_customer(request, pk)
        suggestions = selectors.merge_suggestions(
            customer=customer, candidates=customers_visible_to(request.user)
        )
        return Response({"results": SuggestionSerializer(suggestions, many=True).data})


class CustomerExportView(APIView):
    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request: Request, pk: int) -> Response:
        customer = _visible_customer(request, pk)
        _require_privacy_role(request)
        # Only the conversations the caller may see (inbox.conversations.privacy).
        response = Response(selectors.customer_export(customer=customer, by=request.user))
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
        return response


class CustomerEraseView(APIView):
    @extend_schema(request=None, responses={200: {"type": "object"}})
    def post(self, request: Request, pk: int) -> Response:
        customer = _visible_customer(request, pk)
        _require_privacy_role(request)
        if customer.erased_at:
            raise CustomerApiError("already_erased", "This customer was already erased.", status.HTTP_409_CONFLICT)
        if not erasure_allowed(request.user, customer):
            raise CustomerApiError(ErasureRefused.code, ErasureRefused.detail, status.HTTP_403_FORBIDDEN)
        try:
            record = services.customer_erase(customer=customer, by=request.user)
        except ErasureRefused:  # a conversation of another team's arrived since the check
            raise CustomerApiError(ErasureRefused.code, ErasureRefused.detail, status.HTTP_403_FORBIDDEN) from None
        return Response(
            {"id": record.pk, "customer": record.customer_id, "erased_at": record.created_at, "summary": record.summary}
        )


@extend_schema(parameters=[OpenApiParameter("number", str, required=True, description="Order number, e.g. 1042")])
class OrderLookupView(generics.ListAPIView):
    serializer_class = OrderWithCustomerSerializer

    def get_queryset(self) -> QuerySet[Order]:
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        number = self.request.query_params.get("number", "").strip()
        if not number.lstrip("#").strip():
            raise CustomerApiError("number_required", "Give an order number: ?number=1042")
        return selectors.orders_by_number(customers=customers_visible_to(self.request.user), number=number)
