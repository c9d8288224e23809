"""Why an order action was refused before anything was sent to Shopify."""

from __future__ import annotations


class OrderActionRefused(Exception):
    """Answered as `{code, detail}` with `status` (400 invalid, 403 over a limit, 404, 409 not possible now)."""

    def __init__(self, code: str, detail: str, status: int = 409):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
