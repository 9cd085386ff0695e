"""Serve every fake platform on one port: ``python -m connectors.fakes [--port 8900]``."""

import argparse
import os
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

import django


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FAKES_PORT", "8900")))
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from connectors.fakes import FAKES, PrefixDispatcher

    public_url = f"http://{args.host}:{args.port}"
    server = make_server(args.host, args.port, PrefixDispatcher(public_url, demo=True), server_class=ThreadingServer)
    print(f"fake platforms on {public_url}: {', '.join(sorted(FAKES)) or 'none registered'}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
