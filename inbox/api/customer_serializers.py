"""Shapes of customers, identities, orders and consent in the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers import selectors
from customers.language import LANGUAGE_CHOICES
from customers.links import http_url_or_blank
from customers.models import Channel, ConsentPurpose, Customer, Identity, Label, Order, OrderItem


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["id", "channel", "scope", "external_id", "display_name", "verified", "created_at"]
        read_only_fields = fields


class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ["title", "sku", "quantity", "price"]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    items = OrderItemSerializer(many=True, read_only=True)
    refunded = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField(help_text="A line an agent can paste into a reply.")

    class Meta:
        model = Order
        fields = [
            "id", "name", "number", "source", "external_id", "currency", "total", "refunded",
            "financial_status", "fulfillment_status", "shipment_status", "tracking_number", "tracking_url",
            "cancelled_at", "placed_at", "items", "summary",
        ]
        read_only_fields = fields

    def get_name(self, obj: Order) -> str:
        return f"#{obj.number}"

    def to_representation(self, instance: Order) -> dict:
        data = super().to_representation(instance)
        # Pages render it as a link: never a javascript: (or other non-http) URL, even one stored earlier.
        data["tracking_url"] = http_url_or_blank(data.get("tracking_url"))
        return data

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2))
    def get_refunded(self, obj: Order) -> str:
        return str(selectors.order_refunded(obj))

    def get_summary(self, obj: Order) -> str:
        return selectors.order_summary(obj)


class OrderWithCustomerSerializer(OrderSerializer):
    customer = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "customer"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    def get_customer(self, obj: Order) -> dict:
        return {"id": obj.customer_id, "name": str(obj.customer)}


class CustomerListSerializer(serializers.ModelSerializer):
    labels: serializers.SlugRelatedField[Label] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )
    identities = IdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id", "name", "email", "phone", "timezone", "language", "labels", "identities", "created_at", "updated_at",
        ]
        read_only_fields = fields


class CustomerSerializer(CustomerListSerializer):
    orders = OrderSerializer(many=True, read_only=True)
    consent = serializers.SerializerMethodField()
    lifetime_value = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    class Meta(CustomerListSerializer.Meta):
        fields = [
            *CustomerListSerializer.Meta.fields,
            "notes", "consent", "orders", "lifetime_value", "currency", "merged_into", "erased_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
    def get_consent(self, obj: Customer) -> dict:
        return selectors.consent_current(customer=obj)

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
    def get_lifetime_value(self, obj: Customer) -> str:
        return str(selectors.lifetime_value(obj.orders.all()))

    def get_currency(self, obj: Customer) -> str | None:
        orders = list(obj.orders.all())
        return orders[0].currency if orders else None


class CustomerPatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    labels = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    timezone = serializers.CharField(max_length=64, allow_blank=True, required=False)
    notes = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    language = serializers.ChoiceField(
        choices=LANGUAGE_CHOICES, allow_blank=True, required=False,
        help_text="The language the customer's automated messages go out in; blank: unknown (the inbox's default)",
    )


class ConsentInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    granted = serializers.BooleanField()
    # The field named `source` shadows Field.source in the stubs only: DRF takes declared fields off the class.
    source = serializers.CharField(max_length=64, required=False, default="api")  # type: ignore[assignment]


class MergeInputSerializer(serializers.Serializer):
    other = serializers.IntegerField(min_value=1)


class SuggestionSerializer(serializers.Serializer):
    customer = CustomerListSerializer()
    reasons = serializers.ListField(child=serializers.CharField())
