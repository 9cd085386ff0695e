"""The staff console: the Django admin behind the product's own login, for staff with TOTP turned on.

Staff work across tenants, so every admin view runs inside ``all_organizations()``; nothing else does.
"""

import functools

from allauth.account.decorators import secure_admin_login
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.scoping import all_organizations


def staff_has_mfa(user) -> bool:
    if not getattr(settings, "ADMIN_REQUIRE_MFA", True):
        return True
    return is_mfa_enabled(user)


class ChuhaiAdminSite(admin.AdminSite):
    site_header = gettext_lazy("Chuhai customer success")
    site_title = gettext_lazy("Chuhai staff console")
    index_title = gettext_lazy("Organizations and accounts")

    def has_permission(self, request):
        return super().has_permission(request) and staff_has_mfa(request.user)

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        @functools.wraps(wrapped)
        def unscoped(request, *args, **kwargs):
            with all_organizations():
                return wrapped(request, *args, **kwargs)

        return unscoped

    def login(self, request, extra_context=None):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and not staff_has_mfa(user):
            messages.warning(request, _("Turn on two-factor authentication to use the staff console."))
            return redirect("mfa_activate_totp")
        return secure_admin_login(super().login)(request, extra_context)
