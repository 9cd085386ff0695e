"""Validate the rule files and bring the rules table in line with them (also done on every ``migrate``).

``load_compliance_rules`` validates and loads; ``load_compliance_rules --check`` only validates (for CI) and
exits non-zero on a broken file.
"""

from django.core.management.base import BaseCommand, CommandError

from compliance import loader
from compliance.services import rule_files_sync


class Command(BaseCommand):
    help = "Validate compliance/rules/*.yaml and load the rules into the database (staff switches are kept)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="only validate the files; write nothing")
        parser.add_argument("--dir", default=str(loader.RULES_DIR), help="the rule files' folder")

    def handle(self, *args, **options):
        try:
            specs = loader.load_rule_files(options["dir"])
        except loader.RuleFileError as exc:
            raise CommandError(str(exc)) from exc
        files = len({spec.file for spec in specs})
        if options["check"]:
            self.stdout.write(f"{len(specs)} rules in {files} files: valid")
            return
        result = rule_files_sync(specs=specs)
        self.stdout.write(
            f"{len(specs)} rules in {files} files: {result.created} added, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.retired} retired"
        )
