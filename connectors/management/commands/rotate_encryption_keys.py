"""Re-encrypt every stored secret with the newest key in FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old one after it), deploy, run this
command, then remove the old key.
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from connectors import crypto
from connectors.models import Connection


class Command(BaseCommand):
    help = "Re-encrypt stored credentials with the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        table = Connection._meta.db_table
        rotated = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, credentials FROM {table} WHERE credentials <> '' FOR UPDATE")
            for pk, token in cursor.fetchall():
                cursor.execute(f"UPDATE {table} SET credentials = %s WHERE id = %s", [crypto.rotate(token), pk])
                rotated += 1
        self.stdout.write(f"{rotated} connection secret(s) re-encrypted with the newest key.")
