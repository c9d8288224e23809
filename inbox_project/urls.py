from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from inbox.urls import webhook_urlpatterns

from . import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("webhooks/", include(webhook_urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/metrics/", include("inbox.api.metrics_urls")),
    path("", include("inbox.page_urls")),
]
