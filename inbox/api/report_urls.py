"""Included at /api/v1/ (inbox.api.urls): the reports, their CSV and drill-down, the weekly digest."""

from django.urls import path

from inbox.api import report_views as views

urlpatterns = [
    path("reports/digest/", views.DigestView.as_view(), name="report-digest"),
    path("reports/<slug:name>.csv", views.ReportCsvView.as_view(), name="report-csv"),
    path("reports/<slug:name>/conversations/", views.DrillView.as_view(), name="report-conversations"),
    path("reports/<slug:name>/", views.ReportView.as_view(), name="report"),
]
