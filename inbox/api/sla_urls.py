"""`/api/v1/sla-policies/`, `/api/v1/reports/sla/` and `/api/v1/reports/sla.csv` (included by inbox.api.urls)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from inbox.api import sla_views as views

router = SimpleRouter()
router.register("sla-policies", views.SlaPolicyViewSet, basename="sla-policy")

urlpatterns = [
    *router.urls,
    path("reports/sla/", views.SlaReportView.as_view(), name="report-sla"),
    path("reports/sla.csv", views.SlaReportCsvView.as_view(), name="report-sla-csv"),
]
