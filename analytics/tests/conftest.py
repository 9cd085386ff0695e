import pytest

from analytics.fake_ecb import make_app
from config.testing import serve_wsgi


@pytest.fixture
def fake_ecb(settings):
    """A fake ECB on a free local port, with ``settings.ECB_FX_URL`` pointing at it. Tests set
    ``fake_ecb.rates`` (or leave None for the generated series), ``today`` and ``fail_next``."""
    app = make_app()
    with serve_wsgi(app) as url:
        settings.ECB_FX_URL = url + "/"
        yield app
