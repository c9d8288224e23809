import time

from django.core.management.base import BaseCommand

from inbox import metrics


class Command(BaseCommand):
    help = "Recompute responsiveness records and daily rollups from the stored messages."

    def add_arguments(self, parser):
        parser.add_argument("--inbox", type=int, action="append", help="Only this inbox id (repeatable)")

    def handle(self, *args, inbox=None, **options):
        started = time.monotonic()
        made = metrics.rebuild(inbox_ids=inbox)
        self.stdout.write(f"{made} counted messages rebuilt in {time.monotonic() - started:.1f}s")
