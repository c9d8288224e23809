"""`/api/v1/`: conversations here; inboxes/teams/agents and customers from their modules.

Those modules are included only once they exist, so this root works while they are being built.
"""

from importlib.util import find_spec

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .views import ConversationViewSet

router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="conversation")

urlpatterns = [*router.urls]

for module, prefix in (
    ("inbox.api.team_urls", ""),
    ("customers.urls", ""),
    ("inbox.api.audit_urls", ""),
):
    if find_spec(module) is not None:
        urlpatterns.append(path(prefix, include(module)))
