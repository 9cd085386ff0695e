"""Local fake platforms, all behind one port, each under its own path prefix.

``python -m connectors.fakes`` serves them for development and the demo (``make run`` starts it); tests
serve a single fake with ``config.testing.serve_wsgi``. Each fake is a WSGI app factory
``make_app(public_url)`` in its backend package; ``public_url`` is where the fake is reachable, so it can
build URLs (consent redirects, report downloads) that point back at itself.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

# path prefix -> dotted path of the fake's WSGI app factory
FAKES: dict[str, str] = {
    "amazon-ads": "connectors.backends.amazon_ads.fake.make_app",
    "amazon-sp": "connectors.backends.amazon_sp.fake.make_app",
    "shopify": "connectors.backends.shopify.fake.make_app",
    "ecb": "analytics.fake_ecb.make_public_app",
    "google-ads": "connectors.backends.google_ads.fake.make_app",
    "meta": "connectors.backends.meta.fake.make_app",
    "tiktok-ads": "connectors.backends.tiktok_ads.fake.make_app",
    "shopee": "connectors.backends.shopee.fake.make_app",
    "tiktok-shop": "connectors.backends.tiktok_shop.fake.make_app",
    "ebay": "connectors.backends.ebay.fake.make_app",
}


def _factory(path: str):
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


class PrefixDispatcher:
    """Route ``/<prefix>/...`` to the fake registered under ``prefix``, with the prefix moved to SCRIPT_NAME."""

    def __init__(self, public_url: str, *, demo: bool = False):
        self.apps = {
            prefix: _factory(path)(f"{public_url.rstrip('/')}/{prefix}")
            for prefix, path in FAKES.items()
            if find_spec(path.rpartition(".")[0].rpartition(".")[0])  # the fake's package is in this build
        }
        if demo:
            from connectors.fakes.demo import grant_demo_access

            grant_demo_access(self.apps)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        prefix, _, rest = path.lstrip("/").partition("/")
        app = self.apps.get(prefix)
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"no fake platform at /{prefix}; known: {sorted(self.apps)}".encode()]
        environ = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + "/" + prefix, PATH_INFO="/" + rest)
        return app(environ, start_response)
