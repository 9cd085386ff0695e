"""Load FX rates: from the ECB feed (``--history daily|90d|hist``) or from a staff CSV (``--csv PATH``)."""

import httpx
from django.core.management.base import BaseCommand, CommandError

from analytics.fx import ecb, services


class Command(BaseCommand):
    help = (
        "Load ECB euro reference rates (--history daily, 90d or hist; default daily), or import manual "
        "rates from a CSV with the columns date,base,quote,rate (--csv PATH)."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--history", choices=sorted(ecb.FEEDS), default="daily", help="Which ECB feed.")
        group.add_argument("--csv", metavar="PATH", help="A CSV of manual rates: date,base,quote,rate.")

    def handle(self, *args, history, csv, **options):
        if csv:
            try:
                with open(csv, "rb") as file:
                    count = services.fx_rates_import_csv(file=file)
            except OSError as exc:
                raise CommandError(f"Cannot read {csv}: {exc.strerror}") from exc
            except services.FxRateImportError as exc:
                lines = [f"{csv}: nothing imported, {len(exc.errors)} problem(s):"]
                lines += [f"  {message}" for message in exc.messages]
                raise CommandError("\n".join(lines)) from exc
            self.stdout.write(f"Imported {count} manual rates from {csv}.")
            return
        try:
            count = services.fx_rates_refresh(days=history)
        except (httpx.HTTPError, ecb.EcbError) as exc:
            raise CommandError(f"ECB {history} feed failed: {exc}") from exc
        self.stdout.write(f"ECB {history} feed: {count} rates inserted or changed.")
