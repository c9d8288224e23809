import os

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from inbox.intake.mailbox import anymail_urlpatterns
from inbox.urls import webhook_urlpatterns

from . import ops
from .api_docs import RedocDocsView, SwaggerDocsView
from .i18n import javascript_catalog
from .password_reset import PasswordResetView

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    # The scripts' translations (locale/<lang>/LC_MESSAGES/djangojs.po) as a script file every page
    # loads before its modules (no inline script: the CSP allows none).
    path("jsi18n/", javascript_catalog, name="jsi18n"),
    path("admin/", admin.site.urls),
    # Throttled, with links to PUBLIC_BASE_URL (the rest of the reset flow is Django's own).
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("webhooks/", include(webhook_urlpatterns)),
    path("customers/", include("inbox.pages.customer_urls")),
    # django-anymail's inbound/tracking URLs and names, answering 503/4xx as the contract says.
    path("webhooks/anymail/", include((anymail_urlpatterns, "anymail"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerDocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", RedocDocsView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("campaigns.urls")),
    path("api/v1/", include("inbox.api.urls")),
    path("api/v1/metrics/", include("inbox.api.metrics_urls")),
    path("", include("campaigns.page_urls")),
    path("", include("inbox.pages.urls")),
]

# `make bench` only: the bare view its webhook figures are compared against (bench/floor.py).
if os.environ.get("BENCH_FLOOR") == "1":
    urlpatterns.insert(0, path("bench/floor/", include("bench.floor")))
