"""Distributions computed in the database, one grouped query each: how many, the mean of the fastest
90 % (the badge's "response time"), the median, the 90th percentile (nearest rank) and counts per
bucket. Standard SQL window functions, so PostgreSQL and the embedded SQLite answer alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class Distribution:
    n: int = 0
    fastest_90_mean: float | None = None
    median: float | None = None
    p90: float | None = None
    buckets: list[int] = field(default_factory=list)


def seconds_between(later: str, earlier: str) -> str:
    """SQL for the seconds from column `earlier` to column `later`, in this database's dialect."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def distributions(
    *, table: str, value: str, where: Sequence[str], params: Sequence, group: str | None = None,
    bounds: Sequence[float] = (),
) -> dict[object, Distribution]:
    """Per value of the `group` expression (or {None: ...} without one), over the rows of `table`
    matching every condition of `where` (SQL with %s placeholders for `params`) whose `value` is
    not NULL. Bucket i counts values in [bounds[i-1], bounds[i]); the last counts values ≥ the last bound."""
    partition = f"PARTITION BY {group}" if group else ""
    conditions = " AND ".join([*where, f"({value}) IS NOT NULL"]) or "1=1"
    k = "CAST(0.9 * n + 0.000000001 AS INTEGER)"
    edges = [None, *bounds, None]
    bucket_sql = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        test = " AND ".join(t for t in (f"s >= {float(lo)}" if lo is not None else "", f"s < {float(hi)}" if hi is not None else "") if t)
        bucket_sql.append(f"SUM(CASE WHEN {test or '1=1'} THEN 1 ELSE 0 END)")
    if not bounds:
        bucket_sql = []
    sql = f"""
        WITH r AS (
            SELECT {group or 'NULL'} AS g, {value} AS s,
                   ROW_NUMBER() OVER ({partition} ORDER BY {value}) AS rn,
                   COUNT(*) OVER ({partition}) AS n
            FROM {table} WHERE {conditions}
        )
        SELECT g, MAX(n),
               AVG(CASE WHEN rn <= (CASE WHEN {k} < 1 THEN 1 ELSE {k} END) THEN s END),
               AVG(CASE WHEN rn = (n + 1) / 2 OR rn = (n + 2) / 2 THEN s END),
               MAX(CASE WHEN rn = (9 * n + 9) / 10 THEN s END)
               {''.join(', ' + b for b in bucket_sql)}
        FROM r GROUP BY g
    """
    out: dict[object, Distribution] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        for row in cursor.fetchall():
            g, n, fastest, median, p90, *counts = row
            out[g] = Distribution(
                n=int(n or 0), fastest_90_mean=_float(fastest), median=_float(median), p90=_float(p90),
                buckets=[int(c or 0) for c in counts],
            )
    return out


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
