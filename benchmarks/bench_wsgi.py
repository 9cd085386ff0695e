"""WSGI entry for the HTTP load benchmark: the product with ``bench_urls`` as its URLconf."""

import os
import sys
from pathlib import Path

# The project first: benchmarks/ holds scripts named like apps (compliance.py), which must not shadow them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
settings.ROOT_URLCONF = "bench_urls"
