"""`python manage.py seed_demo`: a believable shop to click through.

Northwind Outfitters, a small clothing shop: a support and a social team, a Facebook Page, an
Instagram account, a Twilio number and a support mailbox, a few hundred customers who wrote on
those channels about orders, shipping, returns and sizes, with their order history.

Everything is written with bulk_create inside one transaction, straight into the tables: no
provider is called, no task is queued, no realtime event is sent. The same seed gives the same
shop; timestamps are relative to now so the Meta windows land in every state (open, human agent,
closed).
"""

from __future__ import annotations

import base64
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from customers.models import Channel, ConsentEvent, ConsentPurpose, Customer, Identity, Label, Order, OrderItem
from inbox import metrics
from inbox.models import (
    HUMAN_AGENT_WINDOW,
    META_CHANNELS,
    PREVIEW_CHARS,
    STANDARD_WINDOW,
    Agent,
    Availability,
    CannedResponse,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Inbox,
    Message,
    MessageStatus,
    Role,
    SenderType,
    SlaPolicy,
    Team,
)
from inbox.sla import reports as sla_reports
from inbox.sms import segments

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
SHOP = "Northwind Outfitters"
SHOP_DOMAIN = "northwind.example"
PAGE_ID = "108273645519002"
IG_ACCOUNT_ID = "17841405822304914"
SMS_NUMBER = "+14155550100"
MAILBOX = f"support@{SHOP_DOMAIN}"
MAX_CUSTOMERS = 5000

# username, first, last, role, teams, availability
STAFF = [
    ("alice", "Alice", "Moreau", Role.MANAGER, ["Support"], Availability.ONLINE),
    ("bob", "Bob", "Okafor", Role.AGENT, ["Support"], Availability.ONLINE),
    ("dana", "Dana", "Kowalski", Role.LEAD, ["Support"], Availability.BUSY),
    ("evan", "Evan", "Tran", Role.AGENT, ["Support"], Availability.AWAY),
    ("charlie", "Charlie", "Nguyen", Role.AGENT, ["Social"], Availability.ONLINE),
    ("fatima", "Fatima", "Haddad", Role.AGENT, ["Social"], Availability.ONLINE),
]
TEAMS = {"Support": 12, "Social": 8}  # name -> default capacity
LABELS = ["vip", "repeat-buyer", "shipping", "returns", "sizing", "refund", "damaged", "wholesale", "urgent", "discount"]

FIRST_NAMES = (
    "Maya Liam Sofia Noah Olivia Mateo Emma Lucas Ava Ethan Isabella Mason Mia Logan Amelia Elijah Harper James "
    "Evelyn Benjamin Abigail Henry Emily Alexander Ella Sebastian Camila Jack Aria Daniel Scarlett Michael Luna "
    "Owen Chloe Samuel Layla Wyatt Zoe Leo Nora Julian Riley Hudson Lily Ezra Hannah Isaac Priya Arjun Mei Hiroshi "
    "Aisha Omar Fatou Kwame Ingrid Lars Giulia Marco Ana Diego Valentina Carlos Yuki Kenji Sara Tomás Nadia Ivan "
    "Chiara Rafael Amara Tariq Leila Jonah Rosa Malik Grace Theo"
).split()
LAST_NAMES = (
    "Rodriguez Smith Johnson Williams Brown Garcia Miller Davis Martinez Lopez Wilson Anderson Thomas Taylor Moore "
    "Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King "
    "Wright Scott Torres Hill Green Adams Baker Nelson Carter Mitchell Roberts Patel Shah Kim Park Chen Wang Singh "
    "Nakamura Tanaka Okoye Mensah Diallo Haddad Rossi Bianchi Novak Horvat Silva Costa Andersson Larsen Murphy "
    "O'Brien Kelly Fischer Weber Dubois Laurent Ivanova Petrov Cohen Levi Reyes Cruz Flores"
).split()
EMAIL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com"]
# 555-0100..0199 are reserved for fiction in every US area code, and phonenumbers accepts them as valid.
AREA_CODES = (
    "415 212 312 646 206 617 303 512 404 213 305 503 702 615 704 612 314 602 619 720 "
    "408 510 347 718 917 202 215 412 216 313 414 801 916 919 678 832 469 210 971"
).split()
TIMEZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix"]

# title, sku, price, sized
CATALOG = [
    ("Merino Crew Sweater", "NW-SWT-MER", "89.00", True),
    ("Everyday Organic Tee", "NW-TEE-ORG", "24.00", True),
    ("Heritage Denim Jacket", "NW-JKT-DEN", "128.00", True),
    ("Trail Rain Shell", "NW-JKT-RAIN", "149.00", True),
    ("Slim Chino Pants", "NW-PNT-CHI", "68.00", True),
    ("Linen Button-Down Shirt", "NW-SHT-LIN", "72.00", True),
    ("Cable Knit Beanie", "NW-ACC-BEA", "28.00", False),
    ("Waxed Canvas Tote", "NW-BAG-TOT", "64.00", False),
    ("Wool Hiking Socks (3-pack)", "NW-SCK-WOL", "32.00", False),
    ("Quilted Vest", "NW-VST-QLT", "98.00", True),
    ("Flannel Overshirt", "NW-SHT-FLN", "79.00", True),
    ("Leather Belt", "NW-ACC-BLT", "45.00", False),
]
SIZES = ["XS", "S", "M", "L", "XL"]
CARRIERS = {
    "UPS": "https://www.ups.com/track?tracknum={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
}

# A support thread: who says what, in order (customer first). Placeholders are filled per customer.
SCRIPTS = [
    {
        "subject": "Where is my order #{order}?",
        "labels": ["shipping"],
        "turns": [
            "Hi! I ordered the {item} last week (order #{order}) and haven't received anything yet. Can you check?",
            "Hi {first}, thanks for your patience! Order #{order} shipped with {carrier}, tracking {tracking}. "
            "It shows out for delivery on {eta}.",
            "Oh great, I didn't get the shipping email. Thank you!",
            "You're welcome! I've re-sent the confirmation to your email too. Anything else I can help with?",
            "That's all, have a nice day 🙂",
        ],
    },
    {
        "subject": "Return for order #{order}",
        "labels": ["returns"],
        "turns": [
            "Hello, the {item} I got doesn't fit. How do I return it?",
            "Sorry it didn't work out, {first}! Returns are free within 30 days. I've emailed you a prepaid "
            "return label for order #{order}, just drop the parcel at any {carrier} location.",
            "Got the label, thanks. How long does the refund take?",
            "Once the parcel reaches our warehouse we refund within 2 business days; your bank may take 3-5 more.",
        ],
    },
    {
        "subject": "Size question",
        "labels": ["sizing"],
        "turns": [
            "Hi, I'm usually a size {size} but I've read the {item} runs small. Should I size up?",
            "Hi {first}! The {item} has a slim fit: if you're between sizes or like layering, go one up to {other_size}.",
            "Perfect, I'll order the {other_size}. Do you have it in navy?",
            "Yes, navy {other_size} is in stock right now. Here's a 10% code for your first order: {code}",
            "Amazing, thank you!!",
        ],
    },
    {
        "subject": "Exchange {item} for a different size",
        "labels": ["returns", "sizing"],
        "turns": [
            "Can I exchange the {item} from order #{order} for a {other_size}? The {size} is too tight.",
            "Of course! I've set up an exchange: send the {size} back with the label I just emailed, and we'll ship "
            "the {other_size} as soon as {carrier} scans the return.",
            "Do I need to wait for you to receive it before the new one ships?",
            "No need: the {other_size} ships as soon as the return label is scanned, usually the same day.",
        ],
    },
    {
        "subject": "Damaged item in order #{order}",
        "labels": ["damaged", "refund"],
        "turns": [
            "My {item} arrived with a tear on the sleeve 😞 Order #{order}. What can you do?",
            "I'm so sorry, {first}! Could you send a photo of the damage so I can file it with the warehouse?",
            "[photo] here it is",
            "Thanks for the photo. I've issued a full refund of ${total} for order #{order}; you'll see it in 3-5 "
            "business days. No need to send it back.",
            "Wow, that was fast. Thanks a lot!",
        ],
    },
    {
        "subject": "Change shipping address",
        "labels": ["shipping", "urgent"],
        "turns": [
            "I just placed order #{order} but I used my old address!! Can you change it before it ships?",
            "Hi {first}, I caught it in time: order #{order} hasn't left the warehouse. What's the new address?",
            "It's 221 Pine Street, Apt 4B, same city and zip.",
            "Updated! Order #{order} will go to 221 Pine Street, Apt 4B. You'll get tracking once it ships.",
        ],
    },
    {
        "subject": "Is the {item} back in stock?",
        "labels": [],
        "turns": [
            "Hey! Is the {item} coming back in {size}? It's been sold out for weeks.",
            "Hi {first}! A restock of the {item} lands next week, {size} included. Want me to let you know when "
            "it's live?",
            "Yes please!",
            "Done, you're on the list. I'll message you here the day it's back.",
        ],
    },
    {
        "subject": "Discount code not working",
        "labels": ["discount"],
        "turns": [
            "The code {code} says it's invalid at checkout. I got it in your newsletter.",
            "Sorry about that, {first}! That code expired on Sunday. I've made you a new one that works for 7 "
            "days: {code}7",
            "It worked, thanks!",
        ],
    },
    {
        "subject": "Refund status for order #{order}",
        "labels": ["refund", "returns"],
        "turns": [
            "I returned order #{order} two weeks ago and still no refund. Can someone look into it?",
            "Hi {first}, I'm checking with the warehouse now. The return was delivered to us on {eta}.",
            "ok thanks, please hurry, it's ${total}",
            "The refund of ${total} went out today. I'm sorry it took longer than it should have.",
        ],
    },
    {
        "subject": "Bulk order for our team",
        "labels": ["wholesale"],
        "turns": [
            "Hi, we'd like 40 {item}s with our logo for a company retreat. Do you do bulk orders?",
            "Hi {first}! We do: orders of 25+ get 20% off and embroidery is $6 per piece. Could you share sizes "
            "and the date you need them by?",
            "Mostly M and L, about 10 {size}. We need them in 4 weeks.",
            "Four weeks works. I'll send a quote by email today with a mock-up of the logo placement.",
        ],
    },
    {
        "subject": "Package says delivered but it isn't here",
        "labels": ["shipping", "urgent"],
        "turns": [
            "{carrier} says order #{order} was delivered yesterday but there's nothing at my door.",
            "That's frustrating, {first}, sorry! Sometimes {carrier} marks parcels delivered a day early. Could you "
            "check with neighbours and your building's mailroom?",
            "Checked everywhere, nothing.",
            "I've opened a claim with {carrier} and we're shipping a replacement today at no cost. New tracking: "
            "{tracking}",
        ],
    },
    {
        "subject": "Washing instructions",
        "labels": [],
        "turns": [
            "Can the {item} go in the dryer?",
            "Hi {first}! Best to wash it cold and lay it flat to dry; the dryer can shrink it by a size.",
            "Good to know, thanks!",
        ],
    },
]
GREETING = (
    "Hi {first}! Thanks for messaging Northwind Outfitters. An agent will be with you shortly: we answer within "
    "15 minutes, Mon-Fri 9am-6pm PT."
)
NOTES = [
    "Refund approved in Shopify, customer notified.",
    "Checked with the warehouse: parcel left on time, carrier delay.",
    "Repeat customer, be generous with the return window.",
    "Escalated to Alice for the bulk quote.",
    "Customer was upset on the first message; calmed down after the refund.",
]
OUTSIDE_WINDOW = "(#10) This message is sent outside of allowed window."
# shortcut, title, text, team (None: every team)
CANNED = [
    ("tracking", "Tracking link", "Your order is on its way! The tracking link is in your shipping email; parcels usually "
     "arrive 3-5 business days after shipping.", None),
    ("returns", "How to return", "Returns are free within 30 days: I've emailed you a prepaid label. Drop the parcel at "
     "any UPS or USPS location and we'll refund within 2 business days of receiving it.", None),
    ("sizing", "Size guide", "Our size guide is at https://northwind.example/sizes. Between two sizes? Go up for a "
     "relaxed fit, down for a slim one.", None),
    ("refund", "Refund issued", "I've issued your refund; it shows on your statement in 3-5 business days.", "Support"),
    ("thanks", "Thanks for the shout-out", "Thank you so much! We're thrilled you love it 💚", "Social"),
    ("restock", "Restock waitlist", "You're on the restock list: we'll message you here the day it's back.", "Social"),
]


@dataclass
class Thread:
    """A conversation and its messages, planned in memory before one bulk_create each."""

    conversation: Conversation
    agent: object  # the user who answers it
    messages: list[Message] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    window_refused_at: datetime | None = None
    stop_at: datetime | None = None


class Command(BaseCommand):
    help = "Load a demo shop (agents, inboxes, customers, conversations, orders); demo login demo/demo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Do nothing if the demo user already exists.")
        parser.add_argument("--customers", type=int, default=300, help="How many customers (default 300).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed: the same seed gives the same shop.")

    def handle(self, *args, once: bool, customers: int, seed: int, **options) -> None:
        if not 1 <= customers <= MAX_CUSTOMERS:
            raise CommandError(f"--customers must be between 1 and {MAX_CUSTOMERS}")
        if get_user_model().objects.filter(username=DEMO_USERNAME).exists():
            if once:
                self.stdout.write("demo data already loaded; nothing to do")
                return
            raise CommandError("demo data already loaded (user 'demo' exists); use --once to skip quietly")
        with transaction.atomic():
            counts = _Seeder(random.Random(seed), timezone.now()).run(customers)
            # Rows were bulk-created, bypassing the services that keep the dashboard's tables.
            counts["counted messages"] = metrics.rebuild()
            # One SLA policy for every conversation, its clocks derived from the seeded messages.
            policy, _ = SlaPolicy.objects.get_or_create(name="Standard", defaults={
                "first_response_seconds": 3600, "next_response_seconds": 4 * 3600,
                "resolution_seconds": 3 * 24 * 3600, "warn_before_seconds": 900,
            })
            Conversation.objects.update(sla_policy=policy, sla_policy_source="match")
            counts["SLA clocks"] = sla_reports.sla_rebuild()
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"demo shop loaded: {summary}. Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}"))


class _Seeder:
    def __init__(self, rng: random.Random, now: datetime):
        self.rng = rng
        self.now = now
        self.used: set[str] = set()

    # --- helpers -------------------------------------------------------------------------------
    def _unique(self, make) -> str:
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def _uid(self, nbytes: int = 24) -> str:
        return self._unique(lambda: base64.urlsafe_b64encode(self.rng.randbytes(nbytes)).decode().rstrip("="))

    def _ago(self, low: timedelta, high: timedelta) -> datetime:
        return self.now - timedelta(seconds=self.rng.uniform(low.total_seconds(), high.total_seconds()))

    def run(self, n_customers: int) -> dict[str, int]:
        teams, agents = self._staff()
        inboxes = self._inboxes(teams)
        labels = self._labels()
        self._canned(teams)
        customers, identities = self._customers(n_customers, inboxes)
        orders_by_customer = self._orders(customers)
        threads = self._threads(identities, inboxes, teams, agents, orders_by_customer)
        self._store_threads(threads, labels)
        consents = self._consents(customers, identities, orders_by_customer, threads)
        self._customer_labels(customers, orders_by_customer, labels)
        return {
            "agents": len(agents),
            "inboxes": len(inboxes),
            "customers": len(customers),
            "identities": len(identities),
            "orders": sum(len(o) for o in orders_by_customer.values()),
            "conversations": len(threads),
            "messages": sum(len(t.messages) for t in threads),
            "consent events": consents,
        }

    # --- people --------------------------------------------------------------------------------
    def _staff(self) -> tuple[dict[str, Team], dict[str, object]]:
        User = get_user_model()
        teams = {}
        for name, capacity in TEAMS.items():
            teams[name], _ = Team.objects.get_or_create(name=name, defaults={"default_capacity": capacity})
        # One hash for every demo login: hashing is the slow part of creating users.
        password = make_password(DEMO_PASSWORD)
        demo = User.objects.create(
            username=DEMO_USERNAME, first_name="Demo", last_name="Admin", email=f"demo@{SHOP_DOMAIN}",
            is_staff=True, is_superuser=True, password=password,
        )
        demo_agent = Agent.objects.create(user=demo, role=Role.ADMIN, availability=Availability.ONLINE)
        demo_agent.teams.set(teams.values())
        users = {DEMO_USERNAME: demo}
        for username, first, last, role, team_names, availability in STAFF:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "email": f"{username}@{SHOP_DOMAIN}", "password": password},
            )
            agent, _ = Agent.objects.get_or_create(user=user, defaults={"role": role, "availability": availability})
            agent.teams.add(*[teams[t] for t in team_names])
            users[username] = user
        return teams, users

    def _inboxes(self, teams: dict[str, Team]) -> dict[str, Inbox]:
        specs = {
            Channel.MESSENGER: (f"{SHOP} (Facebook)", PAGE_ID, "Support",
                                {"page_access_token": "EAAdemo" + self._uid(60)}),
            Channel.INSTAGRAM: ("@northwind.outfitters", IG_ACCOUNT_ID, "Social",
                                {"page_access_token": "EAAdemo" + self._uid(60), "page_id": PAGE_ID}),
            Channel.SMS: ("Northwind SMS", SMS_NUMBER, "Support", {"messaging_service_sid": "MG" + self.rng.randbytes(16).hex()}),
            # No IMAP host: the poller skips this mailbox until an admin enters a real one.
            Channel.EMAIL: ("Support mailbox", MAILBOX, "Support",
                            {"imap": {"host": "", "username": MAILBOX, "password": "demo-" + self._uid(9), "ssl": True}}),
        }
        inboxes = {}
        for kind, (name, external_id, team, credentials) in specs.items():
            inboxes[kind], _ = Inbox.objects.get_or_create(
                kind=kind, external_id=external_id,
                defaults={"name": name, "team": teams[team], "credentials": credentials},
            )
        return inboxes

    def _canned(self, teams: dict[str, Team]) -> None:
        existing = set(CannedResponse.objects.values_list("team_id", "shortcut"))
        CannedResponse.objects.bulk_create([
            CannedResponse(shortcut=shortcut, title=title, text=text, team=teams[team] if team else None)
            for shortcut, title, text, team in CANNED
            if (teams[team].pk if team else None, shortcut) not in existing
        ])

    def _labels(self) -> dict[str, Label]:
        Label.objects.bulk_create([Label(name=name) for name in LABELS], ignore_conflicts=True)
        return {label.name: label for label in Label.objects.filter(name__in=LABELS)}

    def _customers(self, n: int, inboxes: dict[str, Inbox]) -> tuple[list[Customer], list[Identity]]:
        rng = self.rng
        names: set[str] = set()
        customers, plans = [], []
        sms_index = 0
        for i in range(n):
            # Unique names while they last (about 6,000 pairs), then a number keeps emails unique.
            suffix = "" if len(names) < len(FIRST_NAMES) * len(LAST_NAMES) // 2 else str(i)
            while True:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                name = f"{first} {last}"
                if name + suffix not in names:
                    names.add(name + suffix)
                    break
            # Every channel gets customers: the first four go round the channels, then by weight.
            primary = list(Channel)[i] if i < 4 else rng.choices(list(Channel), weights=[35, 25, 20, 20])[0]
            channels = [primary]
            if rng.random() < 0.2:
                channels.append(rng.choice([c for c in Channel if c != primary]))
            email = phone = ""
            if Channel.EMAIL in channels:
                slug = _ascii(f"{first}.{last}{suffix}").lower()
                email = f"{slug}{rng.randint(1, 99) if rng.random() < 0.4 else ''}@{rng.choice(EMAIL_DOMAINS)}"
            if Channel.SMS in channels:
                phone = f"+1{AREA_CODES[sms_index // 100]}55501{sms_index % 100:02d}"
                sms_index += 1
            customer = Customer(name=name, email=email, phone=phone, timezone=rng.choice(TIMEZONES))
            customer.seed_created_at = self._ago(timedelta(days=30), timedelta(days=400))
            customers.append(customer)
            plans.append((first, last, channels))
        Customer.objects.bulk_create(customers)
        identities = []
        for customer, (first, last, channels) in zip(customers, plans, strict=True):
            customer.first_name = first  # used by the scripts, not stored
            for channel in channels:
                identities.append(self._identity(customer, channel, first, last, inboxes))
        Identity.objects.bulk_create(identities)
        _set_created_at(Customer, customers)
        _set_created_at(Identity, identities)
        return customers, identities

    def _identity(self, customer: Customer, channel: str, first: str, last: str, inboxes: dict[str, Inbox]) -> Identity:
        rng = self.rng
        if channel == Channel.MESSENGER:
            external_id, scope, display = str(rng.randrange(10**15, 10**16)), inboxes[channel].external_id, customer.name
        elif channel == Channel.INSTAGRAM:
            handle = rng.choice([f"{first}.{last}", f"{first}_{last[:3]}", f"{first}{rng.randint(1, 999)}", f"its{first}"])
            external_id = str(rng.randrange(10**16, 10**17))
            scope, display = inboxes[channel].external_id, _ascii(handle).lower()
        elif channel == Channel.SMS:
            external_id, scope, display = customer.phone, "", ""
        else:
            external_id, scope, display = customer.email, "", customer.name
        identity = Identity(customer=customer, channel=channel, scope=scope, external_id=external_id, display_name=display)
        identity.seed_created_at = customer.seed_created_at
        return identity

    # --- orders --------------------------------------------------------------------------------
    def _orders(self, customers: list[Customer]) -> dict[int, list[Order]]:
        rng = self.rng
        planned: list[tuple[Order, list[OrderItem]]] = []
        for customer in customers:
            if rng.random() > 0.7:
                continue
            for _ in range(rng.choices([1, 2, 3, 4], weights=[50, 28, 14, 8])[0]):
                placed = self._ago(timedelta(hours=3), timedelta(days=150))
                items = []
                for title, sku, price, sized in rng.sample(CATALOG, rng.choice([1, 1, 2, 2, 3])):
                    size = rng.choice(SIZES) if sized else ""
                    items.append(OrderItem(
                        title=f"{title} - {size}" if size else title, sku=f"{sku}-{size}" if size else sku,
                        quantity=rng.choice([1, 1, 1, 2]), price=Decimal(price),
                    ))
                subtotal = sum(item.price * item.quantity for item in items)
                shipping = Decimal("0.00") if subtotal >= 75 else Decimal("6.95")
                order = Order(customer=customer, source="shopify", external_id=str(5523000000000 + rng.randrange(10**9)),
                              currency="USD", total=subtotal + shipping, placed_at=placed, raw={})
                age = self.now - placed
                if rng.random() < 0.05:
                    order.financial_status, order.fulfillment_status = "refunded", ""
                    order.cancelled_at = placed + timedelta(hours=rng.uniform(1, 20))
                elif age < timedelta(days=2):
                    order.financial_status, order.fulfillment_status = "paid", ""
                else:
                    order.financial_status = rng.choices(["paid", "partially_refunded", "refunded"], weights=[88, 7, 5])[0]
                    order.fulfillment_status = "fulfilled"
                    carrier = rng.choice(list(CARRIERS))
                    order.tracking_number = _tracking_number(rng, carrier)
                    order.tracking_url = CARRIERS[carrier].format(order.tracking_number)
                    order.seed_carrier = carrier
                order.source_updated_at = placed + min(age, timedelta(days=rng.uniform(0, 4)))
                planned.append((order, items))
        planned.sort(key=lambda pair: pair[0].placed_at)
        seen_ids = set()
        for number, (order, _items) in enumerate(planned, start=1001):
            order.number = str(number)
            while order.external_id in seen_ids:
                order.external_id = str(int(order.external_id) + 1)
            seen_ids.add(order.external_id)
        Order.objects.bulk_create([order for order, _ in planned])
        items = []
        for order, order_items in planned:
            for item in order_items:
                item.order = order
                items.append(item)
        OrderItem.objects.bulk_create(items)
        by_customer: dict[int, list[Order]] = {}
        for order, order_items in planned:
            order.planned_items = order_items
            by_customer.setdefault(order.customer_id, []).append(order)
        return by_customer

    # --- conversations -------------------------------------------------------------------------
    def _threads(self, identities, inboxes, teams, users, orders_by_customer) -> list[Thread]:
        rng = self.rng
        # The demo user sits in both teams, so "assigned to me" is not empty when you log in as demo.
        members = {team.pk: [users[DEMO_USERNAME]] for team in teams.values()}
        for username, _first, _last, _role, team_names, _availability in STAFF:
            for team_name in team_names:
                members[teams[team_name].pk].append(users[username])
        threads = []
        for identity in identities:
            inbox = inboxes[identity.channel]
            n_threads = 2 if identity.channel == Channel.EMAIL and rng.random() < 0.15 else 1
            for k in range(n_threads):
                threads.append(self._thread(identity, inbox, members[inbox.team_id], orders_by_customer, older=k > 0))
        self._mark_window_refusals([t for t in threads if t.conversation.channel in META_CHANNELS])
        self._mark_sms_stops([t for t in threads if t.conversation.channel == Channel.SMS])
        return threads

    def _thread(self, identity: Identity, inbox: Inbox, team_members: list, orders_by_customer, *, older: bool) -> Thread:
        rng = self.rng
        customer = identity.customer
        channel = identity.channel
        # How long ago the customer last wrote decides the Meta window: open, human agent or closed.
        roll = rng.random()
        if older:
            last_in = self._ago(timedelta(days=20), timedelta(days=90))
        elif roll < 0.4:
            last_in = self._ago(timedelta(minutes=4), timedelta(hours=23))
        elif roll < 0.7:
            last_in = self._ago(timedelta(hours=26), timedelta(days=6, hours=12))
        else:
            last_in = self._ago(timedelta(days=8), timedelta(days=60))
        recent = self.now - last_in < STANDARD_WINDOW
        waiting = rng.random() < (0.6 if recent else 0.25 if self.now - last_in < timedelta(days=7) else 0.03)

        script = rng.choice(SCRIPTS)
        turns = script["turns"]
        # Customer turns are the even indexes: a waiting thread ends on one, an answered one after one.
        ends = [i + 1 for i in range(len(turns)) if (i % 2 == 0) == waiting]
        ends = [e for e in ends if e >= (1 if waiting else 2)]
        turns = turns[: rng.choice(ends)]

        agent = rng.choice(team_members)
        # The thread is about an order placed before it started, when the customer has one.
        earlier = [o for o in orders_by_customer.get(customer.pk, []) if o.placed_at < last_in - timedelta(hours=6)]
        fill = self._placeholders(customer, earlier, agent)
        subject = script["subject"].format(**fill) if channel == Channel.EMAIL else ""

        # Timestamps: walk back from the last customer message, then forward for a final reply.
        gaps = [timedelta(minutes=rng.uniform(2, 95)) if i % 2 else timedelta(minutes=rng.uniform(1, 40))
                for i in range(len(turns))]
        last_in_index = max(i for i in range(len(turns)) if i % 2 == 0)
        times = [last_in] * len(turns)
        for i in range(last_in_index - 1, -1, -1):
            times[i] = times[i + 1] - gaps[i + 1]
        for i in range(last_in_index + 1, len(turns)):
            times[i] = min(times[i - 1] + gaps[i], self.now - timedelta(seconds=30 * (len(turns) - i)))

        conversation = Conversation(
            inbox=inbox, customer=customer, identity=identity, channel=channel, team=inbox.team, subject=subject,
            reply_token=self._uid(12), last_message_at=times[-1], last_inbound_at=last_in,
        )
        conversation.seed_created_at = times[0]
        if channel in META_CHANNELS:
            conversation.last_customer_action_at = last_in
            conversation.window_expires_at = last_in + STANDARD_WINDOW
        thread = Thread(conversation, agent, labels=list(script["labels"]))
        previous_email_id = ""
        references: list[str] = []
        for i, (text, at) in enumerate(zip(turns, times, strict=True)):
            inbound = i % 2 == 0
            body = text.format(**fill)
            message = self._message(conversation, inbox, inbound=inbound, text=body, at=at,
                                    author=None if inbound else agent, subject=subject, reply=i > 0)
            if channel == Channel.EMAIL:
                message.text = _email_body(body, inbound=inbound, first=fill["first"], agent=agent)
                message.email_in_reply_to = previous_email_id
                message.email_references = " ".join(references)
                previous_email_id = message.email_message_id
                references.append(previous_email_id)
            thread.messages.append(message)
            if i == 0 and channel in META_CHANNELS and rng.random() < 0.25:
                thread.messages.append(self._message(
                    conversation, inbox, inbound=False, text=GREETING.format(**fill), at=at + timedelta(seconds=3),
                    author=None, sender_type=SenderType.BOT,
                ))
        if not waiting and rng.random() < 0.12:
            note_at = thread.messages[-1].created_at - timedelta(seconds=40)
            thread.messages.insert(-1, Message(
                conversation=conversation, inbox=inbox, direction=Direction.OUT, sender_type=SenderType.AGENT,
                author=agent, is_private=True, text=rng.choice(NOTES), status=MessageStatus.SENT, created_at=note_at,
            ))

        if waiting:
            trailing = 1
            conversation.status = ConversationStatus.OPEN
            conversation.waiting_since = last_in
            conversation.unread_count = trailing
            conversation.assignee = agent if rng.random() < 0.5 else None
        else:
            conversation.assignee = agent
            age = self.now - times[-1]
            if age > timedelta(days=2):
                status = rng.choices(["resolved", "pending"], weights=[88, 12])[0]
            else:
                status = rng.choices(["pending", "resolved", "open", "snoozed"], weights=[40, 35, 15, 10])[0]
            conversation.status = status
            if status == ConversationStatus.RESOLVED:
                conversation.resolved_at = times[-1] + timedelta(minutes=rng.uniform(1, 30))
                conversation.resolved_at = min(conversation.resolved_at, self.now)
            elif status == ConversationStatus.SNOOZED:
                conversation.snoozed_until = self.now + timedelta(hours=rng.uniform(4, 72))
        return thread

    def _placeholders(self, customer: Customer, orders: list[Order], agent) -> dict[str, str]:
        rng = self.rng
        order = max(orders, key=lambda o: o.placed_at) if orders else None
        if order is not None:
            item = order.planned_items[0].title.split(" - ")[0]
            number, total = order.number, f"{order.total:.2f}"
            carrier = getattr(order, "seed_carrier", None) or rng.choice(list(CARRIERS))
            tracking = order.tracking_number or _tracking_number(rng, carrier)
        else:
            title, _sku, price, _sized = rng.choice(CATALOG)
            item, number, total = title, str(rng.randint(1001, 1400)), price
            carrier = rng.choice(list(CARRIERS))
            tracking = _tracking_number(rng, carrier)
        size_index = rng.randrange(len(SIZES) - 1)
        eta = (self.now + timedelta(days=rng.randint(-3, 3))).strftime("%A %b %-d")
        return {
            "first": customer.first_name, "order": number, "item": item, "total": total, "carrier": carrier,
            "tracking": tracking, "size": SIZES[size_index], "other_size": SIZES[size_index + 1], "eta": eta,
            "code": rng.choice(["WELCOME10", "NORTH10", "COZY15", "FALL20"]), "agent": agent.first_name,
        }

    def _message(self, conversation, inbox, *, inbound: bool, text: str, at: datetime, author, subject: str = "",
                 reply: bool = False, sender_type: str | None = None) -> Message:
        rng = self.rng
        channel = conversation.channel
        message = Message(
            conversation=conversation, inbox=inbox, direction=Direction.IN if inbound else Direction.OUT,
            sender_type=sender_type or (SenderType.CUSTOMER if inbound else SenderType.AGENT), author=author,
            text=text, created_at=at, external_id=self._external_id(channel, inbound),
        )
        if channel == Channel.EMAIL:
            message.subject = f"Re: {subject}" if reply else subject
            message.email_message_id = message.external_id
        if channel == Channel.SMS:
            info = segments(text)
            message.segments, message.encoding = info.segments, info.encoding
        if text.startswith("[photo]"):
            message.text = text.removeprefix("[photo]").strip()
            message.attachments = [{"url": f"https://cdn.{SHOP_DOMAIN}/demo/damage-{self._uid(6)}.jpg",
                                    "content_type": "image/jpeg"}]
        if inbound:
            message.status = MessageStatus.RECEIVED
            return message
        message.sent_at = at
        if channel in META_CHANNELS:
            message.messaging_type = "RESPONSE"
            message.delivered_at = at + timedelta(seconds=rng.uniform(1, 20))
            read = self.now - at > timedelta(minutes=20) and rng.random() < 0.75
            message.status = MessageStatus.READ if read else MessageStatus.DELIVERED
            message.read_at = at + timedelta(minutes=rng.uniform(1, 15)) if read else None
        elif channel == Channel.SMS:
            message.status = MessageStatus.DELIVERED
            message.delivered_at = at + timedelta(seconds=rng.uniform(2, 30))
        else:
            message.status = MessageStatus.SENT
        return message

    def _external_id(self, channel: str, inbound: bool) -> str:
        if channel == Channel.MESSENGER:
            return "m_" + self._uid(48)
        if channel == Channel.INSTAGRAM:
            return "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx" + self._uid(30)
        if channel == Channel.SMS:
            return self._unique(lambda: "SM" + self.rng.randbytes(16).hex())
        domain = "mail.example.com" if inbound else SHOP_DOMAIN
        return f"<{self._uid(15)}@{domain}>"

    def _mark_window_refusals(self, threads: list[Thread]) -> None:
        """A few replies Meta refused as outside the window: those threads are closed until the customer writes."""
        candidates = [t for t in threads if t.conversation.waiting_since is not None
                      and STANDARD_WINDOW < self.now - t.conversation.last_customer_action_at < HUMAN_AGENT_WINDOW]
        for thread in self.rng.sample(candidates, min(3, len(candidates))):
            conv = thread.conversation
            opened = conv.last_customer_action_at + STANDARD_WINDOW
            at = opened + (self.now - opened) * self.rng.uniform(0.1, 0.9)
            failed = self._message(conv, conv.inbox, inbound=False, at=at, author=thread.agent,
                                   text="So sorry for the wait! Are you still looking for help with this?")
            conv.assignee = thread.agent
            failed.status, failed.external_id = MessageStatus.FAILED, None
            failed.sent_at = failed.delivered_at = failed.read_at = None
            failed.error_code, failed.error_detail = "10", OUTSIDE_WINDOW
            failed.send_attempts = 1
            thread.messages.append(failed)
            conv.window_closed_at = at
            conv.last_message_at = max(conv.last_message_at, at)
            thread.window_refused_at = at

    def _mark_sms_stops(self, threads: list[Thread]) -> None:
        """Some customers texted STOP after a reply: Twilio blocks further messages to them."""
        candidates = [t for t in threads if t.conversation.waiting_since is None]
        for thread in self.rng.sample(candidates, min(max(3, len(threads) // 15), len(candidates))):
            conv = thread.conversation
            last = thread.messages[-1]
            at = min(last.created_at + timedelta(minutes=self.rng.uniform(2, 120)), self.now - timedelta(seconds=5))
            stop = self._message(conv, conv.inbox, inbound=True, text=self.rng.choice(["STOP", "Stop", "UNSUBSCRIBE"]), at=at,
                                 author=None)
            thread.messages.append(stop)
            conv.last_message_at = conv.last_inbound_at = at
            conv.status, conv.waiting_since, conv.snoozed_until = ConversationStatus.RESOLVED, None, None
            conv.resolved_at = at
            thread.stop_at = at

    def _store_threads(self, threads: list[Thread], labels: dict[str, Label]) -> None:
        for t in threads:  # the list's preview, as inbox.conversations.threads keeps it
            last = max((m for m in t.messages if not m.is_private), key=lambda m: m.created_at, default=None)
            if last is not None:
                t.conversation.last_message_text = " ".join(last.text.split())[:PREVIEW_CHARS]
                t.conversation.last_message_direction = last.direction
                t.conversation.last_message_sender_type = last.sender_type
        Conversation.objects.bulk_create([t.conversation for t in threads])
        _set_created_at(Conversation, [t.conversation for t in threads])
        Message.objects.bulk_create([m for t in threads for m in t.messages])
        through = Conversation.labels.through
        through.objects.bulk_create([
            through(conversation_id=t.conversation.pk, label_id=labels[name].pk) for t in threads for name in t.labels
        ])
        events = [
            _planned(ConversationEvent(conversation=t.conversation, kind=ConversationEvent.Kind.WINDOW,
                                       data={"code": "10", "detail": OUTSIDE_WINDOW}), t.window_refused_at)
            for t in threads if t.window_refused_at
        ]
        ConversationEvent.objects.bulk_create(events)
        _set_created_at(ConversationEvent, events)

    def _consents(self, customers, identities, orders_by_customer, threads) -> int:
        rng = self.rng
        events: list[ConsentEvent] = []
        by_customer = {c.pk: c for c in customers}
        channels_of: dict[int, set[str]] = {}
        for identity in identities:
            channels_of.setdefault(identity.customer_id, set()).add(identity.channel)
        for customer_id, orders in orders_by_customer.items():
            first = min(orders, key=lambda o: o.placed_at)
            for channel in channels_of.get(customer_id, set()) & {Channel.EMAIL, Channel.SMS}:
                if rng.random() < 0.6:
                    events.append(_planned(ConsentEvent(
                        customer=by_customer[customer_id], channel=channel, purpose=ConsentPurpose.MARKETING,
                        granted=True, source="checkout", proof={"order": first.number}),
                        first.placed_at,
                    ))
        stopped = [t for t in threads if t.stop_at]
        for thread in stopped:
            stop = thread.messages[-1]
            for purpose in (ConsentPurpose.TRANSACTIONAL, ConsentPurpose.MARKETING):
                events.append(_planned(ConsentEvent(
                    customer=thread.conversation.customer, channel=Channel.SMS, purpose=purpose, granted=False,
                    source="sms_keyword",
                    proof={"keyword": stop.text.upper(), "message": stop.external_id, "inbox": thread.conversation.inbox_id},
                ), thread.stop_at))
        # One customer changed their mind: START after STOP opts back in.
        if len(stopped) > 1:
            thread = stopped[0]
            conv = thread.conversation
            at = min(thread.stop_at + timedelta(hours=rng.uniform(2, 30)), self.now - timedelta(seconds=20))
            start = self._message(conv, conv.inbox, inbound=True, text="START", at=at, author=None)
            start.conversation_id = conv.pk
            start.save()
            Conversation.objects.filter(pk=conv.pk).update(last_message_at=at, last_inbound_at=at)
            for purpose in (ConsentPurpose.TRANSACTIONAL, ConsentPurpose.MARKETING):
                events.append(_planned(ConsentEvent(
                    customer=conv.customer, channel=Channel.SMS, purpose=purpose, granted=True, source="sms_keyword",
                    proof={"keyword": "START", "message": start.external_id, "inbox": conv.inbox_id},
                ), at))
        email_customers = [cid for cid, chans in channels_of.items() if Channel.EMAIL in chans]
        for customer_id in rng.sample(email_customers, min(2, len(email_customers))):
            events.append(_planned(ConsentEvent(
                customer=by_customer[customer_id], channel=Channel.EMAIL, purpose=ConsentPurpose.MARKETING, granted=False,
                source="email_unsubscribe", proof={"method": "List-Unsubscribe-Post"},
            ), self._ago(timedelta(days=1), timedelta(days=20))))
        ConsentEvent.objects.bulk_create(events)
        _set_created_at(ConsentEvent, events)
        return len(events)

    def _customer_labels(self, customers, orders_by_customer, labels) -> None:
        through = Customer.labels.through
        rows = []
        for customer in customers:
            orders = orders_by_customer.get(customer.pk, [])
            spent = sum((o.total for o in orders if o.financial_status != "refunded"), Decimal(0))
            if spent >= 300:
                rows.append(through(customer_id=customer.pk, label_id=labels["vip"].pk))
            if len(orders) >= 3:
                rows.append(through(customer_id=customer.pk, label_id=labels["repeat-buyer"].pk))
        through.objects.bulk_create(rows)


def _planned(obj, created_at: datetime):
    """Remember when a row should appear to have been created (see _set_created_at)."""
    obj.seed_created_at = created_at
    return obj


def _set_created_at(model, objects: list) -> None:
    """auto_now_add overwrote the planned creation times on insert; put them back in one statement per batch."""
    for obj in objects:
        obj.created_at = obj.seed_created_at
    if objects:
        model.objects.bulk_update(objects, ["created_at"], batch_size=500)


def _ascii(text: str) -> str:
    """What usernames and mailboxes allow: "Tomás O'Brien" -> "Tomas OBrien"."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace("'", "")


def _tracking_number(rng: random.Random, carrier: str) -> str:
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6)) + f"{rng.randrange(10**10):010d}"
    if carrier == "USPS":
        return "9400" + f"{rng.randrange(10**18):018d}"
    return f"{rng.randrange(10**12):012d}"


def _email_body(text: str, *, inbound: bool, first: str, agent) -> str:
    if inbound:
        return f"{text}\n\nThanks,\n{first}"
    return f"{text}\n\nBest,\n{agent.first_name}\n{SHOP} customer care"

