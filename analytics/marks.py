"""The data marks that invalidate cached dashboards: an organization's rollup version (bumped by every refresh),
the FX mark (changed by every rate load) and the organization's costs mark (changed by every edit of product
costs, fees or tax rates, which profit figures use). Kept in the cache so a cached view costs no query to
validate; a missing mark is read back from the database (the version) or started afresh (the others), which at
worst renders a view once more."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import transaction

from analytics.models import RollupFill

FX_KEY = "analytics:marks:fx"
# A version written to the cache by a refresh whose commit hook never ran (a killed worker) is read back from
# the database after this long at the latest.
VERSION_SECONDS = 600


def _version_key(organization_id: int) -> str:
    return f"analytics:marks:version:{organization_id}"


def _costs_key(organization_id: int) -> str:
    return f"analytics:marks:costs:{organization_id}"


def _started(key: str) -> str:
    cache.add(key, uuid.uuid4().hex[:12], None)
    return cache.get(key) or ""


def data_marks(*, organization_id: int) -> tuple[int, str]:
    """(rollup version, the other marks as one string) of an organization, from the cache when it has them."""
    version_key, costs_key = _version_key(organization_id), _costs_key(organization_id)
    found = cache.get_many([version_key, FX_KEY, costs_key])
    version = found.get(version_key)
    if version is None:
        version = (
            RollupFill.unscoped_objects.filter(organization_id=organization_id)
            .values_list("version", flat=True)
            .first()
            or 0
        )
        # add, not set: a refresh that committed meanwhile has already written the newer version
        cache.add(version_key, version, VERSION_SECONDS)
    fx_mark = found.get(FX_KEY) or _started(FX_KEY)
    costs_mark = found.get(costs_key) or _started(costs_key)
    return version, f"{fx_mark}.{costs_mark}"


def rollup_version_changed(*, organization_id: int, version: int) -> None:
    """Call inside the transaction that bumps the version: the cache learns it once the bump is committed."""
    transaction.on_commit(lambda: cache.set(_version_key(organization_id), version, VERSION_SECONDS))


def fx_rates_changed() -> None:
    """Call inside the transaction that writes rates: every organization's cached views are stale after it."""
    transaction.on_commit(lambda: cache.set(FX_KEY, uuid.uuid4().hex[:12], None))


def costs_changed(*, organization_id: int) -> None:
    """Call inside the transaction that edits product costs, fees or tax rates of an organization."""
    transaction.on_commit(lambda: cache.set(_costs_key(organization_id), uuid.uuid4().hex[:12], None))
