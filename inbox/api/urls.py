"""`/api/v1/`: conversations, inboxes/teams/agents, customers and orders, the audit log."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from inbox.api.saved_views import SavedViewViewSet
from inbox.api.views import ConversationViewSet

router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("views", SavedViewViewSet, basename="saved-view")

urlpatterns = [
    *router.urls,
    path("", include("inbox.api.team_urls")),
    path("", include("inbox.api.customer_urls")),
    path("", include("inbox.api.order_urls")),
    path("", include("inbox.api.audit_urls")),
    path("", include("inbox.api.macro_urls")),
    path("", include("inbox.api.csat_urls")),
    path("", include("inbox.api.sla_urls")),
    path("", include("inbox.api.rule_urls")),
    # After the others: /reports/<name>/ of inbox/reports/ (a more specific reports/... route wins).
    path("", include("inbox.api.report_urls")),
]
