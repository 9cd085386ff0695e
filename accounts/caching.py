"""Who the request's user is and which membership a ``/o/<slug>/`` URL resolves to, kept in the cache so a
signed-in page view needs no query before its own.

Invalidation is explicit and immediate: saving or deleting a user drops its cached copy; saving or deleting a
membership moves its user's generation; saving or deleting an organization moves the generation of every
membership (renames are rare). A generation that is missing from the cache counts as a miss, never as a match,
so an evicted generation can only cost a query. Entries also expire after ``SECONDS``.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Membership, Organization, User

SECONDS = 300
ORGANIZATIONS_GENERATION = "accounts:gen:organizations"


def _user_key(user_id) -> str:
    return f"accounts:user:{user_id}"


def _user_generation_key(user_id) -> str:
    return f"accounts:gen:memberships:{user_id}"


def _membership_key(user_id, slug: str) -> str:
    return f"accounts:membership:{user_id}:{slug}"


class CachedUserBackend(ModelBackend):
    """``ModelBackend`` whose per-request ``get_user`` reads the cache first (sign-in itself is unchanged)."""

    def get_user(self, user_id):
        key = _user_key(user_id)
        user = cache.get(key)
        if user is None:
            user = super().get_user(user_id)  # None for an unknown or inactive user: not cached
            if user is not None:
                cache.set(key, user, SECONDS)
            return user
        return user if self.user_can_authenticate(user) else None


def membership_for(*, user: User, slug: str) -> Membership | None:
    """The user's membership (with its organization) of the organization at ``slug``, or None."""
    key, user_generation_key = _membership_key(user.pk, slug), _user_generation_key(user.pk)
    found = cache.get_many([key, user_generation_key, ORGANIZATIONS_GENERATION])
    generations = (found.get(user_generation_key), found.get(ORGANIZATIONS_GENERATION))
    entry = found.get(key)
    if entry is not None and None not in generations and entry[0] == generations:
        return entry[1]
    membership = (
        Membership.unscoped_objects.select_related("organization").filter(user=user, organization__slug=slug).first()
    )
    generations = (_generation(user_generation_key), _generation(ORGANIZATIONS_GENERATION))
    cache.set(key, (generations, membership), SECONDS)
    return membership


def _generation(key: str) -> str:
    cache.add(key, uuid.uuid4().hex[:12], None)
    return cache.get(key) or ""


def _move(key: str) -> None:
    cache.set(key, uuid.uuid4().hex[:12], None)


@receiver([post_save, post_delete], sender=User, dispatch_uid="accounts.caching.user")
def _user_changed(sender, instance, **kwargs):
    cache.delete(_user_key(instance.pk))


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="accounts.caching.membership")
def _membership_changed(sender, instance, **kwargs):
    _move(_user_generation_key(instance.user_id))


@receiver([post_save, post_delete], sender=Organization, dispatch_uid="accounts.caching.organization")
def _organization_changed(sender, instance, **kwargs):
    _move(ORGANIZATIONS_GENERATION)
