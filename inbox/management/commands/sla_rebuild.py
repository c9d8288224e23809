import time

from django.core.management.base import BaseCommand

from inbox.sla import reports


class Command(BaseCommand):
    help = "Recompute every SLA clock (and each conversation's SLA state) from the stored messages and status history."

    def handle(self, *args, **options):
        started = time.monotonic()
        made = reports.sla_rebuild()
        self.stdout.write(f"{made} SLA clocks rebuilt in {time.monotonic() - started:.1f}s")
