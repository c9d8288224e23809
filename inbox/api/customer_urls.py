"""`/api/v1/customers/…` and `/api/v1/orders/`, included by inbox.api.urls."""

from django.urls import path

from inbox.api import customers as api

urlpatterns = [
    path("customers/", api.CustomerListView.as_view(), name="customer-list"),
    path("customers/<int:pk>/", api.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<int:pk>/consents/", api.CustomerConsentView.as_view(), name="customer-consents"),
    path("customers/<int:pk>/merge/", api.CustomerMergeView.as_view(), name="customer-merge"),
    path(
        "customers/<int:pk>/merge-suggestions/",
        api.CustomerMergeSuggestionsView.as_view(),
        name="customer-merge-suggestions",
    ),
    path("customers/<int:pk>/export/", api.CustomerExportView.as_view(), name="customer-export"),
    path("customers/<int:pk>/erase/", api.CustomerEraseView.as_view(), name="customer-erase"),
    path("orders/", api.OrderLookupView.as_view(), name="order-lookup"),
]
