"""DRF throttles that fail open: with the cache (Redis) down the API keeps answering, unthrottled.

Throttling protects the service; turning a Redis outage into a 500 on every API call would do the
opposite. The outage is logged (readyz reports it too).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rest_framework import throttling

if TYPE_CHECKING:  # DRF imports the throttles while rest_framework.views is loading
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class _FailOpen(throttling.BaseThrottle):
    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # redis-py's ConnectionError/TimeoutError, OSError: whatever the cache raises
            logger.warning("throttle cache unavailable (%s); request let through", type(exc).__name__)
            return True


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    pass
