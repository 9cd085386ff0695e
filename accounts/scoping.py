"""The tenancy boundary.

The organization in scope lives in a context variable. The default manager of every
``OrgOwnedModel`` filters by it and *fails closed*: with no organization in scope a query
raises ``OrganizationScopeError`` instead of returning every tenant's rows. Code that must
see all tenants (admin, migrations, beat fan-out) says so with ``unscoped_objects``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from accounts.models import Organization

_current_organization: contextvars.ContextVar[Organization | None] = contextvars.ContextVar(
    "current_organization", default=None
)


_all_organizations: contextvars.ContextVar[bool] = contextvars.ContextVar("all_organizations", default=False)


class OrganizationScopeError(RuntimeError):
    """A tenant-owned table was queried with no organization in scope."""


def current_organization() -> Organization | None:
    return _current_organization.get()


@contextlib.contextmanager
def organization_scope(organization: Organization) -> Iterator[Organization]:
    """Run a block with ``organization`` in scope; the previous scope comes back afterwards."""
    if organization is None or organization.pk is None:
        raise OrganizationScopeError("organization_scope needs a saved organization")
    token = _current_organization.set(organization)
    try:
        yield organization
    finally:
        _current_organization.reset(token)


@contextlib.contextmanager
def all_organizations() -> Iterator[None]:
    """The staff console only: tenant tables show every organization's rows inside this block."""
    token = _all_organizations.set(True)
    try:
        yield
    finally:
        _all_organizations.reset(token)


class OrgScopedQuerySet(models.QuerySet):
    pass


class OrgScopedManager(models.Manager.from_queryset(OrgScopedQuerySet)):
    """Default manager of tenant tables: only the organization in scope, or an error."""

    def get_queryset(self):
        organization = _current_organization.get()
        if organization is None:
            if _all_organizations.get():
                return super().get_queryset()
            raise OrganizationScopeError(
                f"{self.model._meta.label} queried with no organization in scope; "
                "use organization_scope() or, for admin and fan-out, unscoped_objects."
            )
        return super().get_queryset().filter(organization_id=organization.pk)


class OrgOwnedModel(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()
    unscoped_objects = models.Manager()  # noqa: DJ012 - a manager, which ruff reads as a field

    class Meta:
        abstract = True
        base_manager_name = "unscoped_objects"
        default_manager_name = "objects"

    def save(self, *args, **kwargs):
        scoped = _current_organization.get()
        if self.organization_id is None and scoped is not None:
            self.organization = scoped
        if scoped is not None and self.organization_id != scoped.pk:
            raise OrganizationScopeError(
                f"refusing to save a {self._meta.label} of another organization inside this scope"
            )
        super().save(*args, **kwargs)


def get_org_object_or_404(model_or_queryset, organization: Organization, **lookup):
    """Fetch one tenant-owned object of ``organization``; any other tenant's object is a 404."""
    if isinstance(model_or_queryset, models.QuerySet):
        queryset = model_or_queryset
        model = queryset.model
    else:
        model = model_or_queryset
        queryset = model.unscoped_objects.all()
    try:
        return queryset.filter(organization=organization).get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {model._meta.verbose_name} matches the given query.") from exc


def request_organization(request):
    """dj-stripe's subscriber for a request is the organization in the URL."""
    return getattr(request, "organization", None)


def organization_task(func):
    """Celery task body decorator: ``organization_id`` in, the task runs inside that organization's scope.

    Use under ``@shared_task``: ``@shared_task`` then ``@organization_task``. The organization is loaded
    fresh in the worker, so a deleted organization ends the task quietly instead of acting unscoped.
    """

    @functools.wraps(func)
    def wrapper(*args, organization_id: int, **kwargs):
        from accounts.models import Organization

        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return None
        with organization_scope(organization):
            return func(*args, organization=organization, **kwargs)

    return wrapper
