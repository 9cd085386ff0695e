"""Who may do what in an organization. The single source of truth; ``docs/permissions.md`` is
generated from it (``manage.py permissions_matrix``) and a test keeps the two equal."""

from __future__ import annotations

import enum
import functools

from django.core.exceptions import PermissionDenied
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Role


class Perm(enum.StrEnum):
    VIEW = "view"
    EXPORT = "export"
    EDIT_CAMPAIGNS = "edit_campaigns"
    PUSH_CHANGES = "push_changes"
    CONNECT_ACCOUNTS = "connect_accounts"
    INVITE = "invite"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_BILLING = "manage_billing"


PERM_LABELS = {
    Perm.VIEW: _("View dashboards, campaigns, connections and reports"),
    Perm.EXPORT: _("Export data (CSV, XLSX)"),
    Perm.EDIT_CAMPAIGNS: _("Draft keyword, bid and budget proposals and rules"),
    Perm.PUSH_CHANGES: _("Approve changes and push them to ad platforms"),
    Perm.CONNECT_ACCOUNTS: _("Connect, reconnect and remove marketplace and ad accounts"),
    Perm.INVITE: _("Invite members"),
    Perm.MANAGE_MEMBERS: _("Change members' roles and remove members"),
    Perm.MANAGE_SETTINGS: _("Change organization settings"),
    Perm.MANAGE_BILLING: _("Manage the plan, payment methods and invoices"),
}

MATRIX: dict[Role, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: frozenset(Perm) - {Perm.MANAGE_BILLING},
    Role.MARKETER: frozenset({Perm.VIEW, Perm.EXPORT, Perm.EDIT_CAMPAIGNS, Perm.PUSH_CHANGES}),
    Role.ANALYST: frozenset({Perm.VIEW, Perm.EXPORT}),
    Role.VIEWER: frozenset({Perm.VIEW}),
}

# Rules the matrix alone cannot say: only an owner may grant, change or remove the owner role.
OWNER_ONLY_ROLES = frozenset({Role.OWNER})


def has_perm(role: str | None, perm: Perm) -> bool:
    return role is not None and perm in MATRIX.get(Role(role), frozenset())


def can_assign_role(actor_role: str, role: str) -> bool:
    if not has_perm(actor_role, Perm.MANAGE_MEMBERS) and not has_perm(actor_role, Perm.INVITE):
        return False
    return Role(role) not in OWNER_ONLY_ROLES or Role(actor_role) == Role.OWNER


def require(perm: Perm):
    """View decorator: the member's role in the organization of the URL must grant ``perm``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None or not has_perm(membership.role, perm):
                raise PermissionDenied(_("Your role in this organization does not allow this."))
            return view(request, *args, **kwargs)

        wrapped.required_perm = perm
        return wrapped

    return decorator


def matrix_markdown() -> str:
    with translation.override("en"):
        return _matrix_markdown()


def _matrix_markdown() -> str:
    roles = list(Role)
    header = "| Permission | " + " | ".join(str(r.label) for r in roles) + " |"
    rule = "|---|" + "|".join(":-:" for _ in roles) + "|"
    rows = [
        f"| {PERM_LABELS[p]} (`{p.value}`) | " + " | ".join("yes" if p in MATRIX[r] else "-" for r in roles) + " |"
        for p in Perm
    ]
    return "\n".join([header, rule, *rows])
