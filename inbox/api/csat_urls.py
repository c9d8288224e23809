"""`/api/v1/csat/` (included by inbox.api.urls)."""

from django.urls import path

from inbox.api import csat_views as views

urlpatterns = [
    path("csat/", views.CsatListView.as_view(), name="csat-list"),
    path("csat/summary/", views.CsatSummaryView.as_view(), name="csat-summary"),
    path("csat/export.csv", views.CsatExportView.as_view(), name="csat-export"),
]
