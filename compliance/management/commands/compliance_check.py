"""Check an ad text against the compliance rules and print the verdict and findings as JSON.

    python manage.py compliance_check --markets DE,FR --channel amazon_ads --language de "Jetzt 30% reduziert"

The text may be given in several arguments (they are joined with spaces) or as ``-`` to read it from stdin.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from compliance.services import ad_text_check


class Command(BaseCommand):
    help = 'Check an ad text against the compliance rules; prints {"verdict": ..., "findings": [...]} as JSON.'

    def add_arguments(self, parser):
        parser.add_argument("text", nargs="+", help="the ad text, or - to read it from stdin")
        parser.add_argument("--markets", default="", help="comma-separated ISO codes or groups, e.g. DE,FR or EU")
        parser.add_argument("--channel", required=True, help="e.g. amazon_ads, amazon_listing, google_ads, meta_ads")
        parser.add_argument("--language", required=True, help="ISO 639-1 code of the text, e.g. de, en, zh")

    def handle(self, *args, **options):
        text = sys.stdin.read() if options["text"] == ["-"] else " ".join(options["text"])
        try:
            result = ad_text_check(
                text=text, markets=options["markets"], channel=options["channel"], language=options["language"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
