from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.permissions import matrix_markdown

START = "<!-- matrix:start -->"
END = "<!-- matrix:end -->"


class Command(BaseCommand):
    help = "Rewrite the role/permission table in docs/permissions.md from accounts.permissions."

    def handle(self, *args, **options):
        path = Path(settings.BASE_DIR) / "docs" / "permissions.md"
        text = path.read_text()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{START}\n{matrix_markdown()}\n{END}{tail}")
        self.stdout.write(f"updated {path}")
