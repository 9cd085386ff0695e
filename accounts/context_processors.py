from accounts import selectors
from accounts.permissions import MATRIX, Role


def shell(request):
    """What the base layout needs: the user's organizations and what the current role may do."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    perms = {p.value for p in MATRIX[Role(membership.role)]} if membership else set()
    return {
        "user_memberships": selectors.user_memberships(user=user),
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        "perms": perms,
    }
