"""`/api/v1/inboxes/`, `/api/v1/teams/`, `/api/v1/agents/` (included by inbox.api.urls)."""

from rest_framework.routers import SimpleRouter

from inbox.api.team_views import AgentViewSet, InboxViewSet, TeamViewSet

router = SimpleRouter()
router.register("inboxes", InboxViewSet, basename="inbox")
router.register("teams", TeamViewSet, basename="team")
router.register("agents", AgentViewSet, basename="agent")

urlpatterns = router.urls
