"""`/api/v1/rules/`, `/api/v1/rules/{id}/runs/`, `/api/v1/conversations/{id}/rule-runs/` (included by inbox.api.urls)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from inbox.api import rule_views as views

router = SimpleRouter()
router.register("rules", views.RuleViewSet, basename="rule")

urlpatterns = [
    *router.urls,
    path("conversations/<str:pk>/rule-runs/", views.ConversationRuleRunsView.as_view(), name="conversation-rule-runs"),
]
