"""`/api/v1/audit/` (included by inbox.api.urls)."""

from rest_framework.routers import SimpleRouter

from inbox.api.audit_views import AuditEntryViewSet

router = SimpleRouter()
router.register("audit", AuditEntryViewSet, basename="audit")

urlpatterns = router.urls
