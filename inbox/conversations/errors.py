"""What the conversation services refuse, in the API's terms."""

from __future__ import annotations


class ReplyRefused(Exception):
    """A reply the platform would refuse; the API answers with `status` and `{code, detail}`."""

    def __init__(self, code: str, detail: str, status: int):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
