"""The test suite: real PostgreSQL, eager Celery for unit tests (one test drives a real worker)."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-9f3b1c"
FIELD_ENCRYPTION_KEYS = ["dGVzdC1vbmx5LWtleS0wMDAwMDAwMDAwMDAwMDAwMDA="]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
CELERY_TASK_ALWAYS_EAGER = True
DASHBOARD_PRERENDER = False  # every eager sync would render dashboards; the tests that need it turn it on
CELERY_TASK_EAGER_PROPAGATES = True
# Rate-limit buckets in the test database, so each test starts with full buckets (Redis keys would outlive it).
RATE_LIMIT_REDIS_URL = ""
ACCOUNT_RATE_LIMITS = {**ACCOUNT_RATE_LIMITS, "login_failed": "5/5m/key,20/m/ip"}  # noqa: F405
TEST_ARTIFACTS_DIR = Path(env("TEST_ARTIFACTS_DIR", default=str(BASE_DIR / "test-artifacts")))

# Parallel checkouts on one server can keep their test databases apart.
if env("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}  # noqa: F405
