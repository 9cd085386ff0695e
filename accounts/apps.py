from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and organizations")
    default_auto_field = "django.db.models.BigAutoField"
    default = True

    def ready(self):
        from accounts import caching  # noqa: F401 - connects the cache invalidation receivers


class ChuhaiAdminConfig(admin_apps.AdminConfig):
    """The Django admin, as the staff console (see accounts.admin_site)."""

    default = False
    default_site = "accounts.admin_site.ChuhaiAdminSite"
