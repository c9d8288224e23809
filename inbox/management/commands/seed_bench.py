"""`python manage.py seed_bench --conversations 100000 --messages 1000000`: data for `make bench`.

A shop at scale, written set-based with PostgreSQL's COPY (psycopg's `cursor.copy()`): four teams,
agents and managers, eight inboxes over the four channels, customers with identities, marketing
consent and orders, conversations whose threads follow realistic rhythms (customer message, human
reply after a log-normal delay, sometimes a bot greeting, a private note, a day-long silence that
starts a new counted exchange, threads left unanswered). Then the metrics tables are rebuilt with
`inbox.metrics.rebuild()`, the same code that keeps them in production.

It refuses a database whose name does not contain "bench" (it truncates what it fills), so it can
never wipe a working database. The same `--seed` gives the same data, relative to now.
"""

from __future__ import annotations

import json
import math
import random
import time
from datetime import datetime, timedelta

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Channel
from inbox import metrics
from inbox.models import PREVIEW_CHARS, Inbox, Team
from inbox.rules.defaults import default_rules_ensure

PASSWORD = "bench"
TEAMS = ["Support", "Social", "Sales", "Returns"]
# kind, name, external id, team, share of conversations. The first Messenger and SMS inboxes are the
# ones the webhook benchmark posts to (see bench/common.py).
INBOXES = [
    (Channel.MESSENGER, "Bench Page", "900000000000001", "Social", 0.30),
    (Channel.INSTAGRAM, "Bench Instagram", "17841400000000001", "Social", 0.15),
    (Channel.SMS, "Bench SMS", "+14155550199", "Support", 0.15),
    (Channel.EMAIL, "Bench Mailbox", "support@bench.example", "Support", 0.15),
    (Channel.MESSENGER, "Sales Page", "900000000000002", "Sales", 0.08),
    (Channel.INSTAGRAM, "Sales Instagram", "17841400000000002", "Sales", 0.05),
    (Channel.SMS, "Returns SMS", "+14155550198", "Returns", 0.06),
    (Channel.EMAIL, "Returns Mailbox", "returns@bench.example", "Returns", 0.06),
]
TIMEZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "Europe/London",
             "Europe/Paris", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", ""]
FIRST = ["Ana", "Ben", "Chloé", "Dev", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jamal", "Kenji", "Lea", "Mia",
         "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf", "Zoé"]
LAST = ["Smith", "García", "Nguyen", "Müller", "Rossi", "Kowalski", "Okafor", "Silva", "Tanaka", "Dubois",
        "Cohen", "Patel", "Jensen", "Haddad", "Lopez", "Ivanova"]
CUSTOMER_TEXTS = [
    "Hi, where is my order #{n}?", "Do you have this jacket in medium?", "My parcel says delivered but I don't have it",
    "Can I return the shoes I bought last week?", "What's your exchange policy?", "thanks!", "ok",
    "The tracking link doesn't work", "Is the sale still on?", "I was charged twice for order #{n}",
    "Can I change the delivery address?", "The zip broke after one wear :(", "When will size 38 be back in stock?",
]
AGENT_TEXTS = [
    "Hi! Let me check that for you.", "Your order #{n} shipped yesterday, here is the tracking link.",
    "Sorry about that — I've started a refund, you'll see it in 3–5 days.", "Yes, returns are free within 30 days.",
    "Medium is back in stock on Friday.", "I've updated the address on your order.", "Anything else I can help with?",
]
BOT_TEXT = "Thanks for your message! An agent will be with you shortly."
NOTE_TEXT = "Checked with the warehouse, parcel is at the depot."
STATUSES = [("open", 0.22), ("pending", 0.08), ("snoozed", 0.03), ("resolved", 0.67)]
HISTORY_DAYS = 120


class Command(BaseCommand):
    help = "Load benchmark data at scale (COPY) into a database whose name contains 'bench'."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", type=int, default=100_000)
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--agents", type=int, default=200)
        parser.add_argument("--heavy", type=int, default=11_000,
                            help="open conversations assigned to agent0001 (page 200 of 50 needs 10,000)")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options) -> None:
        name = connection.settings_dict["NAME"]
        if connection.vendor != "postgresql" or "bench" not in str(name):
            raise CommandError(f"refusing to load into {name!r}: use a PostgreSQL database named *bench*")
        if options["messages"] < options["conversations"]:
            raise CommandError("--messages must be at least --conversations")
        started = time.monotonic()
        rng = random.Random(options["seed"])
        now = timezone.now().replace(microsecond=0)
        with transaction.atomic():
            self._truncate()
            seeder = _Seeder(rng=rng, now=now, out=self.stdout, **{k: options[k] for k in
                             ("conversations", "messages", "agents", "heavy")})
            seeder.run()
            # The TRUNCATE … CASCADE took the default automation rules with the users they name:
            # the benchmarks measure processing with them, as a new installation has them.
            default_rules_ensure()
        self.stdout.write(f"rows written in {time.monotonic() - started:.1f}s; rebuilding metrics…")
        t = time.monotonic()
        made = metrics.rebuild()
        self.stdout.write(f"{made} response records in {time.monotonic() - t:.1f}s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(f"seed_bench done in {time.monotonic() - started:.1f}s"))

    def _truncate(self) -> None:
        tables = ["inbox_responserecord", "inbox_dailyrollup", "inbox_message", "inbox_conversation",
                  "inbox_inboundevent", "customers_order", "customers_consentevent", "customers_identity",
                  "customers_customer", "inbox_agent_teams", "inbox_agent", "inbox_inbox", "inbox_team",
                  "authtoken_token", "auth_user"]
        with connection.cursor() as cursor:
            existing = set(connection.introspection.table_names(cursor))
            cursor.execute("TRUNCATE " + ", ".join(t for t in tables if t in existing) + " RESTART IDENTITY CASCADE")


def _defaults(table: str, columns: list[str]) -> tuple[list[str], tuple]:
    """NOT NULL columns with a model default that `columns` leaves out (fields other features add)."""
    model = next((m for m in apps.get_models() if m._meta.db_table == table), None)
    extra_columns, values = [], []
    for field in model._meta.concrete_fields if model else []:
        if field.column in columns or field.null or not field.has_default():
            continue
        value = field.get_default()
        extra_columns.append(field.column)
        values.append(json.dumps(value) if isinstance(value, (dict, list)) else value)
    return extra_columns, tuple(values)


def _copy(table: str, columns: list[str], rows) -> int:
    """COPY rows into table; ids are given, so the identity sequence is moved past them after."""
    count = 0
    extra_columns, extra = _defaults(table, columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns + extra_columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row) + extra)
                count += 1
        if "id" in columns:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )
    return count


class _Seeder:
    def __init__(self, *, rng: random.Random, now: datetime, out, conversations: int, messages: int, agents: int,
                 heavy: int) -> None:
        self.rng, self.now, self.out = rng, now, out
        self.n_conv, self.n_msg, self.n_agents, self.heavy = conversations, messages, agents, heavy

    def say(self, text: str) -> None:
        self.out.write(f"  {text}")

    def run(self) -> None:
        self._staff()
        self._inboxes()
        self._customers()
        self._conversations_and_messages()

    # --- staff -----------------------------------------------------------------------------------
    def _staff(self) -> None:
        self.teams = {name: Team.objects.create(name=name) for name in TEAMS}
        team_ids = [t.pk for t in self.teams.values()]
        password = make_password(PASSWORD)  # one hash for everyone: hashing 200 times takes minutes
        now = self.now
        users = [(1, password, True, "bench_admin", "Bench", "Admin", "admin@bench.example", True)]
        agents = [(1, "admin", 1)]
        memberships: list[tuple[int, int]] = []
        self.team_agents: dict[int, list[int]] = {t: [] for t in team_ids}
        # Managers: one per team, plus the agents; user ids follow the agent numbers.
        for i in range(len(team_ids)):
            uid = 2 + i
            users.append((uid, password, False, f"manager{i + 1}", "Manager", str(i + 1),
                          f"manager{i + 1}@bench.example", False))
            agents.append((uid, "manager", uid))
            memberships.append((uid, team_ids[i]))
        first_agent = 2 + len(team_ids)
        for n in range(self.n_agents):
            uid = first_agent + n
            users.append((uid, password, False, f"agent{n + 1:04d}", FIRST[n % len(FIRST)], LAST[n % len(LAST)],
                          f"agent{n + 1:04d}@bench.example", False))
            agents.append((uid, "agent", uid))
            team = team_ids[n % len(team_ids)]
            memberships.append((uid, team))
            self.team_agents[team].append(uid)
            if n % 10 == 3:  # a few agents work in two teams
                second = team_ids[(n + 1) % len(team_ids)]
                memberships.append((uid, second))
                self.team_agents[second].append(uid)
        self.heavy_agent = first_agent  # agent0001, in team Support (team_ids[0])
        _copy("auth_user", ["id", "password", "is_superuser", "username", "first_name", "last_name", "email",
                            "is_staff", "is_active", "date_joined"],
              ((u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], True, now - timedelta(days=400)) for u in users))
        _copy("inbox_agent", ["id", "user_id", "role", "availability", "connections", "presence_away"],
              ((a[2], a[0], a[1], "online", 0, False) for a in agents))
        _copy("inbox_agent_teams", ["agent_id", "team_id"], memberships)
        self.say(f"{len(users)} users, {len(team_ids)} teams")

    def _inboxes(self) -> None:
        self.inboxes = []
        for kind, name, external_id, team, share in INBOXES:
            credentials = {"page_access_token": "bench-token"} if kind in (Channel.MESSENGER, Channel.INSTAGRAM) else {}
            inbox = Inbox.objects.create(kind=kind, name=name, external_id=external_id, team=self.teams[team],
                                         credentials=credentials)
            self.inboxes.append((inbox, share))

    # --- customers -------------------------------------------------------------------------------
    def _customers(self) -> None:
        rng = self.rng
        # As many customers as conversations: some write on two channels, some only ever bought.
        self.n_cust = self.n_conv
        now = self.now

        def customers():
            for cid in range(1, self.n_cust + 1):
                name = f"{FIRST[cid % len(FIRST)]} {LAST[(cid * 7) % len(LAST)]}"
                email = f"customer{cid}@mail.example"
                phone = f"+1555{cid:07d}" if rng.random() < 0.5 else ""
                created = now - timedelta(days=rng.uniform(0, 400))
                yield (cid, name, email, phone, rng.choice(TIMEZONES), "", created, created)

        _copy("customers_customer", ["id", "name", "email", "phone", "timezone", "notes", "created_at", "updated_at"],
              customers())

        # Every customer left an email address at checkout (campaigns plan over these).
        self.identities: list[tuple] = []
        for cid in range(1, self.n_cust + 1):
            self._identity_id((Channel.EMAIL, "", f"customer{cid}@mail.example"), cid, self.identities)

        def consents():
            for cid in range(1, self.n_cust + 1):
                if rng.random() < 0.85:
                    channel = rng.choice([Channel.EMAIL, Channel.EMAIL, Channel.SMS, Channel.MESSENGER])
                    yield (cid, channel, "marketing", True, "checkout", "{}", now - timedelta(days=rng.uniform(1, 300)))
                    if rng.random() < 0.05:  # withdrew later
                        yield (cid, channel, "marketing", False, "sms_keyword" if channel == Channel.SMS else "api",
                               "{}", now - timedelta(days=rng.uniform(0, 1)))

        n_consent = _copy("customers_consentevent",
                          ["customer_id", "channel", "purpose", "granted", "source", "proof", "created_at"], consents())

        def orders():
            oid = 0
            for cid in range(1, self.n_cust + 1):
                for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
                    oid += 1
                    placed = now - timedelta(days=rng.uniform(0, 365))
                    shipped = rng.random() < 0.8
                    yield (oid, cid, "shopify", f"bench-{oid}", str(1000 + oid), "USD",
                           f"{rng.uniform(15, 300):.2f}", "paid", "fulfilled" if shipped else "",
                           f"1Z{oid:012d}" if shipped else "", "", "delivered" if shipped else "", placed, "{}")

        n_orders = _copy("customers_order", ["id", "customer_id", "source", "external_id", "number", "currency", "total",
                                             "financial_status", "fulfillment_status", "tracking_number",
                                             "tracking_url", "shipment_status", "placed_at", "raw"], orders())
        self.say(f"{self.n_cust} customers, {n_consent} consent events, {n_orders} orders")

    # --- conversations and messages ---------------------------------------------------------------
    def _message_counts(self) -> list[int]:
        rng = self.rng
        mean = self.n_msg / self.n_conv
        counts = [max(1, round(rng.expovariate(1 / mean))) for _ in range(self.n_conv)]
        # Nudge to the exact total asked for.
        diff = self.n_msg - sum(counts)
        while diff:
            i = rng.randrange(self.n_conv)
            step = 1 if diff > 0 else -1
            if counts[i] + step >= 1:
                counts[i] += step
                diff -= step
        return counts

    def _conversations_and_messages(self) -> None:
        rng, now = self.rng, self.now
        counts = self._message_counts()
        inbox_choices = [i for i, _ in self.inboxes]
        inbox_weights = [s for _, s in self.inboxes]
        status_names = [s for s, _ in STATUSES]
        status_weights = [w for _, w in STATUSES]
        support_id = self.teams["Support"].pk
        support_inboxes = [i for i in inbox_choices if i.team_id == support_id]
        heavy_left = min(self.heavy, self.n_conv // 3)
        conversations: list[tuple] = []
        identities = self.identities
        mid = 0
        used_pairs: set[tuple[int, int]] = set()
        conn_cursor = connection.cursor()
        raw = conn_cursor.cursor
        msg_columns = ["id", "conversation_id", "inbox_id", "direction", "sender_type", "author_id", "is_private",
                       "text", "html", "subject", "attachments", "external_id", "status", "error_code", "error_detail",
                       "tag", "messaging_type", "payload", "reactions", "encoding", "email_message_id",
                       "email_in_reply_to", "email_references", "created_at", "sent_at", "send_attempts", "segments"]
        t0 = time.monotonic()
        extra_columns, extra = _defaults("inbox_message", msg_columns)
        with raw.copy(f"COPY inbox_message ({', '.join(msg_columns + extra_columns)}) FROM STDIN") as copy:
            for cid in range(1, self.n_conv + 1):
                heavy = heavy_left > 0 and cid % 3 == 0
                inbox = rng.choice(support_inboxes) if heavy else rng.choices(inbox_choices, inbox_weights)[0]
                customer = rng.randrange(1, self.n_cust + 1)
                while (customer, inbox.pk) in used_pairs:  # one thread per identity and inbox
                    customer = rng.randrange(1, self.n_cust + 1)
                used_pairs.add((customer, inbox.pk))
                kind = inbox.kind
                if kind == Channel.MESSENGER or kind == Channel.INSTAGRAM:
                    scope, ext = inbox.external_id, f"{'ps' if kind == Channel.MESSENGER else 'ig'}{customer}x{inbox.pk}"
                elif kind == Channel.SMS:
                    scope, ext = "", f"+1555{customer:07d}"
                else:
                    scope, ext = "", f"customer{customer}@mail.example"
                # Phone and email identities are global: one per customer and channel.
                ident_key = (kind, scope, ext)
                identity_id = self._identity_id(ident_key, customer, identities)
                # Thread timeline as offsets from its start.
                n = counts[cid - 1]
                rows, last_agent_reply, first_unanswered, last_in, last_any = self._thread(n)
                span = rows[-1][3]
                if heavy:
                    status = "open"
                    heavy_left -= 1
                    assignee = self.heavy_agent
                else:
                    status = rng.choices(status_names, status_weights)[0]
                    pool = self.team_agents[inbox.team_id]
                    assignee = rng.choice(pool) if rng.random() < (0.85 if status != "open" else 0.6) else None
                # Open threads are recent; resolved ones anywhere in the history.
                latest_end = now - timedelta(minutes=rng.uniform(1, 60 * (24 * 3 if status != "resolved" else 24 * 90)))
                start = latest_end - timedelta(seconds=span)
                earliest = now - timedelta(days=HISTORY_DAYS)
                if start < earliest and span < HISTORY_DAYS * 86400:
                    start = earliest + timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400 - span))
                base_text = rng.randrange(10_000)
                last_message_at = None
                preview = ("", "", "")  # the list's preview: the last message, never a note
                for direction, sender, private, offset in rows:
                    mid += 1
                    at = start + timedelta(seconds=offset)
                    if direction == "in":
                        text = CUSTOMER_TEXTS[(base_text + mid) % len(CUSTOMER_TEXTS)].format(n=1000 + customer)
                        author, status_m, ext_id = None, "received", f"m_{mid}"
                    else:
                        text = (NOTE_TEXT if private else BOT_TEXT if sender == "bot"
                                else AGENT_TEXTS[(base_text + mid) % len(AGENT_TEXTS)].format(n=1000 + customer))
                        author = None if sender == "bot" else (assignee or rng.choice(self.team_agents[inbox.team_id]))
                        status_m = "sent" if private else "delivered"
                        ext_id = None if private else f"out_{mid}"
                    if not private:
                        last_message_at = at
                        preview = (text[:PREVIEW_CHARS], direction, sender)
                    copy.write_row((
                        mid, cid, inbox.pk, direction, sender, author, private, text, "", "", "[]", ext_id,
                        status_m, "", "", "", "RESPONSE" if direction == "out" and kind in ("messenger", "instagram") else "",
                        "{}", "[]", "gsm7" if kind == Channel.SMS else "",
                        f"<{mid}@bench.example>" if kind == Channel.EMAIL else "", "", "", at,
                        at if direction == "out" and not private else None, 1 if direction == "out" else 0,
                        1 if kind == Channel.SMS else None,
                    ) + extra)
                first_at = start
                last_in_at = start + timedelta(seconds=last_in) if last_in is not None else None
                waiting = (start + timedelta(seconds=first_unanswered)
                           if first_unanswered is not None and status in ("open", "pending") else None)
                meta = kind in (Channel.MESSENGER, Channel.INSTAGRAM)
                conversations.append((
                    cid, inbox.pk, customer, identity_id, kind, status, assignee, inbox.team_id,
                    f"Order question {1000 + customer}" if kind == Channel.EMAIL else "", f"b{cid:x}t{rng.getrandbits(40):x}",
                    last_message_at, last_in_at, last_in_at if meta else None,
                    (last_in_at + timedelta(hours=24)) if meta and last_in_at else None, waiting,
                    now + timedelta(days=1) if status == "snoozed" else None,
                    rng.randrange(0, 4) if waiting else 0, first_at,
                    last_message_at if status == "resolved" else None,
                    *preview,
                ))
                if cid % 20000 == 0:
                    self.say(f"{cid} conversations, {mid} messages ({time.monotonic() - t0:.0f}s)")
        conn_cursor.execute("SELECT setval(pg_get_serial_sequence('inbox_message', 'id'), %s)", [max(mid, 1)])
        _copy("customers_identity", ["id", "customer_id", "channel", "scope", "external_id", "display_name", "verified",
                                     "created_at"], identities)
        _copy("inbox_conversation", ["id", "inbox_id", "customer_id", "identity_id", "channel", "status",
                                     "assignee_id", "team_id", "subject", "reply_token", "last_message_at",
                                     "last_inbound_at", "last_customer_action_at", "window_expires_at",
                                     "waiting_since", "snoozed_until", "unread_count", "created_at", "resolved_at",
                                     "last_message_text", "last_message_direction", "last_message_sender_type"],
              conversations)
        self.say(f"{len(conversations)} conversations, {mid} messages, {len(identities)} identities "
                 f"({time.monotonic() - t0:.0f}s)")

    def _identity_id(self, key: tuple, customer: int, identities: list[tuple]) -> int:
        known = getattr(self, "_identity_ids", None)
        if known is None:
            known = self._identity_ids = {}
        if key in known:
            return known[key]
        iid = len(identities) + 1
        kind, scope, ext = key
        identities.append((iid, customer, kind, scope, ext, "", True, self.now - timedelta(days=200)))
        known[key] = iid
        return iid

    def _thread(self, n: int):
        """n messages as (direction, sender_type, is_private, offset seconds), plus what the row needs."""
        rng = self.rng
        rows: list[tuple[str, str, bool, float]] = []
        t = 0.0
        last = None
        last_agent = None
        first_unanswered = None
        last_in = None
        for i in range(n):
            if i == 0:
                kind = "customer"
            elif last == "customer":
                r = rng.random()
                kind = "customer" if r < 0.2 else ("bot" if r < 0.25 and i == 1 else "agent")
                if kind == "agent" and rng.random() < 0.03:
                    kind = "note"
                # Human reply delay: log-normal, median ~6 min, long tail into hours.
                t += (rng.uniform(20, 120) if kind == "customer" else 2.0 if kind == "bot"
                      else rng.lognormvariate(math.log(360), 1.3) if kind == "agent" else rng.uniform(30, 300))
            else:
                # After an agent: the customer answers soon, or comes back after a day-long silence.
                kind = "customer" if rng.random() < 0.9 else "agent"
                t += (rng.lognormvariate(math.log(900), 1.0) if rng.random() < 0.75
                      else rng.uniform(86400, 14 * 86400))
            if kind == "customer":
                rows.append(("in", "customer", False, t))
                last_in = t
                if first_unanswered is None:
                    first_unanswered = t
            elif kind == "bot":
                rows.append(("out", "bot", False, t))
            elif kind == "note":
                rows.append(("out", "agent", True, t))
                kind = "customer"  # a note answers nothing: the customer is still waiting
                last = "customer"
                continue
            else:
                rows.append(("out", "agent", False, t))
                last_agent = t
                first_unanswered = None
            last = "customer" if kind in ("customer", "bot") else "agent"
        return rows, last_agent, first_unanswered, last_in, t
