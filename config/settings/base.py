"""Settings shared by every environment. Values that differ per deploy come from the environment."""

from pathlib import Path
from urllib.parse import unquote

from django.utils.translation import gettext_lazy as _

from config.env import BASE_DIR, env

DATA_DIR = Path(env("CHUHAI_DATA_DIR", default=str(BASE_DIR / ".data")))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "accounts.apps.ChuhaiAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_celery_beat",
    "djstripe",
    "accounts",
    "connectors",
    "simple_history",
    "campaigns",
    "analytics",
    "compliance",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",  # who changed a history-tracked row in the admin
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.HtmxResponseMiddleware",
    "accounts.middleware.OrganizationMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.shell",
            ],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]


def _database():
    if env("DATABASE_URL", default=""):
        db = env.db("DATABASE_URL")
        # A Unix-socket directory written percent-encoded as the host: postgres://user@%2Fvar%2Frun/db
        if str(db.get("HOST", "")).lower().startswith("%2f"):
            db["HOST"] = unquote(db["HOST"])
    else:
        from config.embedded_pg import database_settings

        db = database_settings()
    db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    db["CONN_HEALTH_CHECKS"] = True
    db["ATOMIC_REQUESTS"] = False
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "accounts.caching.CachedUserBackend",  # ModelBackend, with the per-request user read from the cache
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# --- allauth -------------------------------------------------------------------------------------
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Chuhai] "
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "5/5m/key,20/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Chuhai"
# The Django admin is only for staff who have turned on TOTP. Switch off only on a laptop.
ADMIN_REQUIRE_MFA = env.bool("ADMIN_REQUIRE_MFA", default=True)

# --- email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Chuhai <no-reply@chuhai.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- cache (allauth's rate limits need one shared by every web process) -----------------------------
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}")}
# Sessions read from the cache (Redis in production), written through to the database: no query per request.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# After each rollup refresh, render the default dashboard view into the cache for the next visitor.
DASHBOARD_PRERENDER = env.bool("DASHBOARD_PRERENDER", default=True)

# --- i18n ----------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_NAME = "chuhai_language"
FORMAT_MODULE_PATH = ["config.formats"]

# --- static --------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"

# --- security ------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it: the token travels in hx-headers on <body>
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- encryption of secrets at rest (OAuth tokens) ------------------------------------------------
# Comma-separated Fernet keys, newest first; older keys still decrypt (MultiFernet rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = DATA_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="chuhai")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 30
CELERY_TASK_SOFT_TIME_LIMIT = 60 * 25
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False

# --- Stripe (dj-stripe) --------------------------------------------------------------------------
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
DJSTRIPE_WEBHOOK_SECRET = env("DJSTRIPE_WEBHOOK_SECRET", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_SUBSCRIBER_MODEL = "accounts.Organization"
DJSTRIPE_USE_NATIVE_JSONFIELD = True

# --- logging -------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
DJSTRIPE_SUBSCRIBER_MODEL_REQUEST_CALLBACK = "accounts.scoping.request_organization"

# --- ad copy: an optional OpenAI-compatible provider (all three set), else the built-in templates ---------
COPY_LLM_BASE_URL = env("COPY_LLM_BASE_URL", default="")
COPY_LLM_API_KEY = env("COPY_LLM_API_KEY", default="")
COPY_LLM_MODEL = env("COPY_LLM_MODEL", default="")

# --- platforms -----------------------------------------------------------------------------------
# Each platform's app credentials and endpoints. When FAKE_PLATFORMS_URL is set (development and the demo),
# every endpoint not set explicitly points at the local fake servers (``python -m connectors.fakes``).
FAKE_PLATFORMS_URL = env("FAKE_PLATFORMS_URL", default="").rstrip("/")
RATE_LIMIT_REDIS_URL = env("RATE_LIMIT_REDIS_URL", default=None)  # unset: the broker if it is Redis, "": database
# ECB euro reference rates (analytics.fx); the fake serves the same documents under /ecb/.
ECB_FX_URL = env(
    "ECB_FX_URL",
    default=f"{FAKE_PLATFORMS_URL}/ecb/" if FAKE_PLATFORMS_URL else "https://www.ecb.europa.eu/stats/eurofxref/",
)


def _endpoint(variable: str, real: str, fake_path: str) -> str:
    return env(variable, default=f"{FAKE_PLATFORMS_URL}/{fake_path}" if FAKE_PLATFORMS_URL else real)


def _app_credential(variable: str) -> str:
    return env(variable, default="chuhai-fake-" + variable.lower() if FAKE_PLATFORMS_URL else "")


PLATFORMS = {
    "amazon_ads": {
        "client_id": _app_credential("AMAZON_ADS_CLIENT_ID"),
        "client_secret": _app_credential("AMAZON_ADS_CLIENT_SECRET"),
        "auth_url": _endpoint("AMAZON_ADS_AUTH_URL", "https://www.amazon.com/ap/oa", "amazon-ads/ap/oa"),
        "token_url": _endpoint(
            "AMAZON_ADS_TOKEN_URL", "https://api.amazon.com/auth/o2/token", "amazon-ads/auth/o2/token"
        ),
        "api_urls": {
            "NA": _endpoint("AMAZON_ADS_API_URL_NA", "https://advertising-api.amazon.com", "amazon-ads/api"),
            "EU": _endpoint("AMAZON_ADS_API_URL_EU", "https://advertising-api-eu.amazon.com", "amazon-ads/api"),
            "FE": _endpoint("AMAZON_ADS_API_URL_FE", "https://advertising-api-fe.amazon.com", "amazon-ads/api"),
        },
    },
    "amazon_sp": {
        "client_id": _app_credential("AMAZON_SP_CLIENT_ID"),
        "client_secret": _app_credential("AMAZON_SP_CLIENT_SECRET"),
        "application_id": env("AMAZON_SP_APPLICATION_ID", default="amzn1.sp.solution.chuhai-fake"),
        "auth_url": _endpoint(
            "AMAZON_SP_AUTH_URL", "https://sellercentral.amazon.com/apps/authorize/consent", "amazon-sp/consent"
        ),
        "token_url": _endpoint(
            "AMAZON_SP_TOKEN_URL", "https://api.amazon.com/auth/o2/token", "amazon-sp/auth/o2/token"
        ),
        "api_urls": {
            "NA": _endpoint("AMAZON_SP_API_URL_NA", "https://sellingpartnerapi-na.amazon.com", "amazon-sp/api"),
            "EU": _endpoint("AMAZON_SP_API_URL_EU", "https://sellingpartnerapi-eu.amazon.com", "amazon-sp/api"),
            "FE": _endpoint("AMAZON_SP_API_URL_FE", "https://sellingpartnerapi-fe.amazon.com", "amazon-sp/api"),
        },
    },
    "shopify": {
        "client_id": _app_credential("SHOPIFY_CLIENT_ID"),
        "client_secret": _app_credential("SHOPIFY_CLIENT_SECRET"),
        "api_version": env("SHOPIFY_API_VERSION", default="2025-07"),
        # {shop} is replaced by the shop's subdomain; the fake serves every shop under one prefix.
        "shop_url": _endpoint("SHOPIFY_SHOP_URL", "https://{shop}.myshopify.com", "shopify/{shop}"),
    },
    "google_ads": {
        "client_id": _app_credential("GOOGLE_ADS_CLIENT_ID"),
        "client_secret": _app_credential("GOOGLE_ADS_CLIENT_SECRET"),
        "developer_token": _app_credential("GOOGLE_ADS_DEVELOPER_TOKEN"),
        "api_version": env("GOOGLE_ADS_API_VERSION", default="v26"),
        "auth_url": _endpoint(
            "GOOGLE_ADS_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth", "google-ads/o/oauth2/v2/auth"
        ),
        "token_url": _endpoint("GOOGLE_ADS_TOKEN_URL", "https://oauth2.googleapis.com/token", "google-ads/token"),
        "api_url": _endpoint("GOOGLE_ADS_API_URL", "https://googleads.googleapis.com", "google-ads/api"),
    },
    "meta": {
        "client_id": _app_credential("META_APP_ID"),
        "client_secret": _app_credential("META_APP_SECRET"),
        "api_version": env("META_API_VERSION", default="v25.0"),
        "auth_url": _endpoint("META_AUTH_URL", "https://www.facebook.com/dialog/oauth", "meta/dialog/oauth"),
        "graph_url": _endpoint("META_GRAPH_URL", "https://graph.facebook.com", "meta/graph"),
    },
    "tiktok_ads": {
        "client_id": _app_credential("TIKTOK_ADS_APP_ID"),
        "client_secret": _app_credential("TIKTOK_ADS_SECRET"),
        "auth_url": _endpoint(
            "TIKTOK_ADS_AUTH_URL", "https://business-api.tiktok.com/portal/auth", "tiktok-ads/portal/auth"
        ),
        "api_url": _endpoint(
            "TIKTOK_ADS_API_URL", "https://business-api.tiktok.com/open_api/v1.3", "tiktok-ads/open_api/v1.3"
        ),
    },
    "shopee": {
        "client_id": _app_credential("SHOPEE_PARTNER_ID"),
        "client_secret": _app_credential("SHOPEE_PARTNER_KEY"),
        "api_url": _endpoint("SHOPEE_API_URL", "https://partner.shopeemobile.com", "shopee"),
        # Shopee's hosts by where our servers run (global: near Singapore; cn: Chinese Mainland; br: near the
        # US); SHOPEE_HOST picks the one used for every market unless the connect picker says "CN".
        "host": env("SHOPEE_HOST", default="global"),
        "api_urls": {
            "global": _endpoint("SHOPEE_API_URL", "https://partner.shopeemobile.com", "shopee"),
            "cn": _endpoint("SHOPEE_CN_API_URL", "https://openplatform.shopee.cn", "shopee"),
            "br": _endpoint("SHOPEE_BR_API_URL", "https://openplatform.shopee.com.br", "shopee"),
        },
    },
    "tiktok_shop": {
        "client_id": _app_credential("TIKTOK_SHOP_APP_KEY"),
        "client_secret": _app_credential("TIKTOK_SHOP_APP_SECRET"),
        "service_id": env("TIKTOK_SHOP_SERVICE_ID", default="chuhai-fake-service"),
        "auth_url": _endpoint(
            "TIKTOK_SHOP_AUTH_URL", "https://services.tiktokshop.com/open/authorize", "tiktok-shop/open/authorize"
        ),
        # TikTok authorizes US sellers on its US host (backend.authorization_url with region="US").
        "auth_url_us": _endpoint(
            "TIKTOK_SHOP_AUTH_URL_US", "https://services.us.tiktokshop.com/open/authorize", "tiktok-shop/open/authorize"
        ),
        "token_url": _endpoint("TIKTOK_SHOP_TOKEN_URL", "https://auth.tiktok-shops.com", "tiktok-shop/auth"),
        "api_url": _endpoint("TIKTOK_SHOP_API_URL", "https://open-api.tiktokglobalshop.com", "tiktok-shop/api"),
    },
    "ebay": {
        "client_id": _app_credential("EBAY_CLIENT_ID"),
        "client_secret": _app_credential("EBAY_CLIENT_SECRET"),
        "ru_name": env("EBAY_RU_NAME", default="chuhai-fake-runame"),
        "auth_url": _endpoint("EBAY_AUTH_URL", "https://auth.ebay.com/oauth2/authorize", "ebay/oauth2/authorize"),
        "token_url": _endpoint(
            "EBAY_TOKEN_URL", "https://api.ebay.com/identity/v1/oauth2/token", "ebay/identity/v1/oauth2/token"
        ),
        "api_url": _endpoint("EBAY_API_URL", "https://api.ebay.com", "ebay/api"),
        # the Identity API lives on its own host (apiz.ebay.com)
        "identity_url": _endpoint("EBAY_IDENTITY_URL", "https://apiz.ebay.com", "ebay/apiz"),
        # Promoted Listings report calls: eBay allows 200 an hour per seller. Against the local fake (whose demo
        # grant has a larger quota) the demo's year of history loads in minutes instead of an hour.
        "rate": env.float("EBAY_REPORT_RATE", default=2.0 if FAKE_PLATFORMS_URL else 200 / 3600),
        "poll_interval": env.float("EBAY_POLL_INTERVAL", default=1.0 if FAKE_PLATFORMS_URL else 10.0),
    },
}
