"""Serve a WSGI fake server on a free localhost port in a background thread (tests and benchmarks)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the standard library
        pass


@contextlib.contextmanager
def serve_wsgi(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """``with serve_wsgi(app) as base_url:`` -> ``http://127.0.0.1:<port>``; stops the server on exit."""
    server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
