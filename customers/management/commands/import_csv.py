"""python manage.py import_csv FILE — customers or orders from a CSV, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.csv_import import ImportFailed, csv_import


class Command(BaseCommand):
    help = "Import customers or orders from a CSV file (the layout is told by its header). All rows or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="CSV file (UTF-8); '-' reads standard input")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        if path == "-":
            import sys

            data = sys.stdin.buffer.read()
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            result = csv_import(stream=data).as_dict()
        except ImportFailed as exc:
            for error in exc.errors:
                where = f"row {error['row']}" if error.get("row") else "file"
                column = f" [{error['column']}]" if error.get("column") else ""
                self.stderr.write(f"{where}{column}: {error['message']}")
            raise CommandError(f"nothing imported: {len(exc.errors)} error(s)") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {result['rows']} {result['kind']} rows: {result['customers']} customers"
                + (f", {result['orders_created']} new orders, {result['orders_updated']} updated"
                   if result["kind"] == "orders" else "")
            )
        )
