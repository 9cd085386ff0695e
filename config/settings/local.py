"""Development on a laptop: ``make run``."""

import os

# Development talks to the local fake platforms unless told otherwise (see connectors/fakes).
os.environ.setdefault("FAKE_PLATFORMS_URL", "http://127.0.0.1:8900")

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-never-used-in-production-7Qm2")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=["dGhpcy1pcy1hLWRldi1vbmx5LWtleS0wMDAwMDAwMDA="])
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
