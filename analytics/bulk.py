"""Large loads: stream rows into a temporary staging table with PostgreSQL COPY, then upsert in one statement.

The whole report never sits in memory: rows are written to COPY as they are produced, in chunks. Within a
chunk the last row for a natural key wins (a platform can repeat a row); across chunks and runs, the
table's unique key decides (``ON CONFLICT ... DO UPDATE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction

DEFAULT_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class UpsertTarget:
    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    timestamps: bool = True

    @property
    def update_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.key)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_upsert(
    target: UpsertTarget, rows: Iterable[Sequence], *, chunk_rows: int = DEFAULT_CHUNK_ROWS, progress=None
) -> tuple[int, int]:
    """Load ``rows`` (tuples in ``target.columns`` order). Returns (rows read, rows inserted or updated).

    Runs inside the caller's transaction if there is one; each chunk is its own statement pair, so memory
    stays bounded by ``chunk_rows`` on the database side and by one row on ours.
    """
    read = written = 0
    iterator = iter(rows)
    stage = "_stage_" + target.table
    cols = ", ".join(_ident(c) for c in target.columns)
    key = ", ".join(_ident(c) for c in target.key)
    updates = [f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in target.update_columns]
    insert_cols, select_cols = cols, cols
    if target.timestamps:
        insert_cols += ', "created_at", "updated_at"'
        select_cols += ", now(), now()"
        updates.append('"updated_at" = now()')
    upsert_sql = (
        f"INSERT INTO {_ident(target.table)} ({insert_cols}) "
        f"SELECT DISTINCT ON ({key}) {select_cols} FROM {stage} ORDER BY {key}, _n DESC "
        f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
            f"SELECT {cols}, 0::bigint AS _n FROM {_ident(target.table)} WITH NO DATA"
        )
        raw = cursor.cursor  # the psycopg cursor, for COPY
        done = False
        while not done:
            cursor.execute(f"TRUNCATE {stage}")
            count = 0
            with raw.copy(f"COPY {stage} ({cols}, _n) FROM STDIN") as copy:
                for row in iterator:
                    copy.write_row((*row, read))
                    read += 1
                    count += 1
                    if count >= chunk_rows:
                        break
                else:
                    done = True
            if count:
                cursor.execute(upsert_sql)
                written += cursor.rowcount
                if progress:
                    progress(read, written)
    return read, written
