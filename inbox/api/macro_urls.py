"""`/api/v1/macros/` (included by inbox.api.urls)."""

from rest_framework.routers import SimpleRouter

from inbox.api.macro_views import MacroViewSet

router = SimpleRouter()
router.register("macros", MacroViewSet, basename="macro")

urlpatterns = router.urls
