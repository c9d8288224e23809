"""Django admin for campaigns, triggered messages and auto-responders.

The campaigns models are written as that feature lands; every one of them gets a searchable,
filterable admin with raw-id foreign keys (see inbox_project.admin_utils) until it needs more.
"""

from __future__ import annotations

from inbox_project.admin_utils import register_remaining

register_remaining("campaigns")
