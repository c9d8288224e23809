"""Campaign planning at 100k and at 1M recipients (bench/run.py's `campaigns` step).

`broadcast_plan` (campaigns/services.py) over every reachable customer: first the seeded database
(100k customers on the full run), then, with `--campaign-million`, the same after set-based INSERTs
add customers (each with an email identity, copies of a seeded row) up to ten times as many
(1,000,000 on the full run; 50,000 with --quick), which are
deleted again afterwards. Opt-in, because adding and removing 900k customers (and their planned
sends) takes minutes on this machine. Target: planning 1M <= 10 x the time of 100k (linear or better).
"""

from __future__ import annotations

import time
import uuid

TARGET_RATIO = 10.0


def plan_once(label: str) -> dict:
    from django.contrib.auth import get_user_model

    from campaigns.models import Campaign, CampaignSend
    from campaigns.services import broadcast_plan, campaign_create
    from customers.models import Customer
    from inbox.models import Inbox

    mailbox = Inbox.objects.get(kind="email", external_id="support@bench.example")
    admin = get_user_model().objects.get(username="bench_admin")
    campaign = campaign_create(by=admin, name=f"bench {label} {uuid.uuid4().hex[:6]}", kind="broadcast", channel="email",
                               inbox=mailbox, text="Winter sale: 20% off everything this week.",
                               subject="Winter sale", audience={}, send_window={"start": "09:00", "end": "21:00"})
    t = time.perf_counter()
    planned = broadcast_plan(campaign=campaign)
    seconds = time.perf_counter() - t
    zones = CampaignSend.objects.filter(campaign=campaign).values("due_at").distinct().count()
    customers = Customer.objects.count()
    CampaignSend.objects.filter(campaign=campaign).delete()
    Campaign.objects.filter(pk=campaign.pk).delete()
    return {"customers": customers, "planned": planned, "seconds": round(seconds, 2), "distinct_send_times": zones}


def customers_add(total: int) -> int:
    """Add customers (copies of the first seeded one, each with its own email identity) up to `total`;
    returns the highest customer id before, so that `customers_remove` takes exactly these away."""
    from django.db import connection, transaction

    from customers.models import Customer, Identity

    before = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    missing = total - Customer.objects.count()
    if missing <= 0:
        return before
    template = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
    columns = [f.column for f in Customer._meta.concrete_fields if f.column != "id"]
    chosen = {"name": "'Scale ' || g", "email": "'scale' || g || '@mail.example'", "phone": "''"}
    select = ", ".join(chosen.get(c, f"t.{connection.ops.quote_name(c)}") for c in columns)
    icolumns = [f.column for f in Identity._meta.concrete_fields if f.column != "id"]
    ichosen = {"customer_id": "c.id", "external_id": "'scale' || c.id || '@mail.example'", "channel": "'email'",
               "scope": "''", "display_name": "c.name"}
    iselect = ", ".join(ichosen.get(c, f"i.{connection.ops.quote_name(c)}") for c in icolumns)
    template_identity = Identity.objects.filter(customer_id=template, channel="email").values_list("pk", flat=True).first()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO customers_customer ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
            f"SELECT {select} FROM customers_customer t, generate_series(1, %s) g WHERE t.id = %s", [missing, template])
        cursor.execute(
            f"INSERT INTO customers_identity ({', '.join(connection.ops.quote_name(c) for c in icolumns)}) "
            f"SELECT {iselect} FROM customers_customer c, customers_identity i WHERE c.id > %s AND i.id = %s",
            [before, template_identity])
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("ANALYZE customers_identity")
    return before


def customers_remove(before: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_identity WHERE customer_id > %s", [before])
        cursor.execute("DELETE FROM customers_customer WHERE id > %s", [before])


def bench_campaign_scale(*, million: bool) -> list[dict]:
    """The seeded customers, then ten times as many (1M on the full run's 100k)."""
    base = plan_once("base")
    total = 10 * base["customers"]
    rows = [{"name": "campaign_planning", "figures": {
        **base, "note": "broadcast_plan (audience, quiet-hours send time per zone, bulk insert); consent and caps are "
                        "checked per send at dispatch, not here"},
        "target": "reported (the 1M row compares with it)", "met": None}]
    if not million:
        rows.append({"name": "campaign_planning_1m", "figures": {
            "note": "not measured: opt-in with --campaign-million (adds 900k customers for the run, then removes them)"},
            "target": f"<= {TARGET_RATIO:g} x the time of {base['customers']}", "met": None})
        return rows
    t = time.perf_counter()
    before = customers_add(total)
    seeded = time.perf_counter() - t
    try:
        big = plan_once("1m")
    finally:
        t = time.perf_counter()
        customers_remove(before)
        removed = time.perf_counter() - t
    ratio = round(big["seconds"] / base["seconds"], 2) if base["seconds"] else None
    scale = round(big["customers"] / base["customers"], 1) if base["customers"] else None
    rows.append({"name": "campaign_planning_1m", "figures": {
        **big, "vs_base_time": ratio, "vs_base_customers": scale, "seed_seconds": round(seeded, 1),
        "remove_seconds": round(removed, 1)},
        "target": f"<= {TARGET_RATIO:g} x the time of {base['customers']} customers",
        "met": bool(ratio is not None and ratio <= TARGET_RATIO and big["planned"] >= 0.5 * big["customers"])})
    return rows
