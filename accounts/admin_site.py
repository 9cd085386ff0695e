"""The Django admin sits behind the product's own login, and only staff with TOTP turned on get in."""

import functools

from allauth.account.decorators import secure_admin_login
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _


def staff_has_mfa(user) -> bool:
    if not getattr(settings, "ADMIN_REQUIRE_MFA", True):
        return True
    return is_mfa_enabled(user)


def require_admin_mfa(has_permission):
    @functools.wraps(has_permission)
    def wrapped(request):
        return has_permission(request) and staff_has_mfa(request.user)

    return wrapped


def admin_login(login_view):
    secured = secure_admin_login(login_view)

    @functools.wraps(login_view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and not staff_has_mfa(user):
            messages.warning(request, _("Turn on two-factor authentication to use the staff console."))
            return redirect("mfa_activate_totp")
        return secured(request, *args, **kwargs)

    return wrapped
