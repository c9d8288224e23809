"""`/api/v1/orders/{id}/…` actions, `/customers/{id}/discount-codes/` and `/integrations/shopify/`,
included by inbox.api.urls."""

from django.urls import path

from inbox.api import order_actions as api

urlpatterns = [
    path("orders/<int:pk>/refunds/", api.OrderRefundView.as_view(), name="order-refunds"),
    path("orders/<int:pk>/cancel/", api.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:pk>/shipping-address/", api.OrderShippingAddressView.as_view(), name="order-shipping-address"),
    path("orders/<int:pk>/notifications/", api.OrderNotificationView.as_view(), name="order-notifications"),
    path("orders/<int:pk>/actions/", api.OrderActionListView.as_view(), name="order-actions"),
    path("customers/<int:pk>/discount-codes/", api.CustomerDiscountCodeView.as_view(), name="customer-discount-codes"),
    path("customers/<int:pk>/order-actions/", api.CustomerOrderActionsView.as_view(), name="customer-order-actions"),
    path("integrations/shopify/", api.ShopifyIntegrationView.as_view(), name="integration-shopify"),
]
