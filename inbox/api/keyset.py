"""Keyset (seek) cursor pagination over one sortable, possibly-null column plus the id.

DRF's CursorPagination keys on the first ordering field only and breaks ties with an offset;
it also cannot page over NULLs (`waiting_since`, `window_expires_at` are null for many rows).
Here the position is the pair (value, id): every row appears exactly once whatever ties or
NULLs there are, and each page is one indexed range query. NULLs sort last going forward.
"""

from __future__ import annotations

import base64
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from urllib import parse

from django.db.models import F, Field, Func, Q, QuerySet, Value
from django.db.models.lookups import GreaterThan, LessThan
from django.utils.dateparse import parse_datetime
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from inbox.api.errors import ApiError
from inbox.api.pagination import CursorPagination


@dataclass(frozen=True)
class Keyset:
    """Order by `field` (descending or not, NULLs last), then by id in the same direction."""

    field: str
    descending: bool = False

    def order_by(self, *, reverse: bool = False) -> list:
        desc = self.descending != reverse
        nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
        column = F(self.field).desc(**nulls) if desc else F(self.field).asc(**nulls)
        return [column, "-id" if desc else "id"]

    def after(self, value, pk: int):
        """Rows strictly after (value, pk) in forward order, NULL values excepted when `value` isn't
        NULL: those come last, and `rest_after` fetches them when a page reaches them.

        The non-NULL part is one row comparison, `(field, id) < (value, pk)`, which PostgreSQL uses
        as a range on the index in the list's order: a deep page costs what the first one does.
        """
        if value is None:
            later_id = Q(id__lt=pk) if self.descending else Q(id__gt=pk)
            return Q(**{f"{self.field}__isnull": True}) & later_id
        return self._beyond(value, pk, forward=True)

    def rest_after(self, value) -> Q | None:
        """What follows every non-NULL position: the NULL rows (None once among them)."""
        return None if value is None else Q(**{f"{self.field}__isnull": True})

    def before(self, value, pk: int):
        """Rows strictly before (value, pk) in forward order."""
        if value is None:
            earlier_id = Q(id__gt=pk) if self.descending else Q(id__lt=pk)
            return Q(**{f"{self.field}__isnull": False}) | (Q(**{f"{self.field}__isnull": True}) & earlier_id)
        return self._beyond(value, pk, forward=False)

    def _beyond(self, value, pk: int, *, forward: bool):
        lookup = LessThan if self.descending == forward else GreaterThan
        return lookup(_row(F(self.field), F("id")), _row(Value(value), Value(pk)))


def _row(*expressions) -> Func:
    # ROW(a, b) < ROW(c, d) compares lexicographically; the output field is only there for the ORM.
    return Func(*expressions, function="ROW", output_field=Field())


class KeysetCursorPagination(CursorPagination):
    """`{next, previous, results}` with opaque cursors; views choose the Keyset via `get_keyset`."""

    keyset = Keyset("id", descending=True)
    base_url: str  # set by paginate_queryset before any link is made

    def get_keyset(self, request, view) -> Keyset:
        getter = getattr(view, "get_keyset", None)
        return getter() if getter else self.keyset

    def paginate_queryset(self, queryset: QuerySet, request, view=None):  # type: ignore[override]  # views pass querysets
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request) or self.page_size
        self.current_keyset = self.get_keyset(request, view)
        position = self._decode(request)
        reverse = bool(position and position["r"])
        keyset = self.current_keyset

        ordered = queryset.order_by(*keyset.order_by(reverse=reverse))
        qs = ordered
        if position is not None:
            bound = keyset.before if reverse else keyset.after
            qs = ordered.filter(bound(position["v"], position["i"]))
        rows = list(qs[: self.page_size + 1])
        rest = keyset.rest_after(position["v"]) if position is not None and not reverse else None
        if rest is not None and len(rows) <= self.page_size:
            # The page reaches past the last non-NULL value: the NULL rows follow, in id order.
            rows += list(ordered.filter(rest)[: self.page_size + 1 - len(rows)])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
            self.has_previous, self.has_next = more, True
        else:
            self.has_next, self.has_previous = more, position is not None
        self.page = rows
        return rows

    # --- links ---------------------------------------------------------------------------------
    def _value_of(self, row):
        value = getattr(row, self.current_keyset.field)
        return value.isoformat() if isinstance(value, datetime) else value

    def _link(self, row, *, reverse: bool) -> str:
        token = json.dumps({"v": self._value_of(row), "i": row.pk, "r": reverse}, separators=(",", ":"))
        encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self._link(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.page:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._link(self.page[0], reverse=True)

    def get_paginated_response(self, data) -> Response:
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    def _decode(self, request) -> dict | None:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None
        try:
            padded = parse.unquote(raw) + "=" * (-len(raw) % 4)
            position = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
            value, pk, reverse = position["v"], position["i"], bool(position["r"])
            if not isinstance(pk, int) or isinstance(pk, bool) or not 0 <= pk < 2**63:
                raise ValueError("bad id")
            if isinstance(value, str):
                value = parse_datetime(value)
                if value is None:
                    raise ValueError("bad position")
            elif isinstance(value, float):  # a search rank (relevance order)
                if not math.isfinite(value):
                    raise ValueError("bad position")
            elif value is not None and (not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63):
                raise ValueError("bad position")
        except (ValueError, TypeError, KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError("invalid_cursor", "The cursor is not valid; start again from the first page.") from exc
        return {"v": value, "i": pk, "r": reverse}
