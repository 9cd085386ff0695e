"""What can go wrong talking to a platform, sorted by what the sync engine does about it."""

from __future__ import annotations


class SyncError(Exception):
    """Base class. ``user_message`` is shown to the seller and says what to do."""

    code = "sync_error"

    def __init__(self, user_message: str, *, detail: str = ""):
        super().__init__(user_message)
        self.user_message = user_message
        self.detail = detail


class TransientError(SyncError):
    """Worth retrying: network trouble, 5xx, 429. ``retry_after``: seconds the platform asked us to wait."""

    code = "transient"

    def __init__(self, user_message: str, *, retry_after: float | None = None, detail: str = ""):
        super().__init__(user_message, detail=detail)
        self.retry_after = retry_after


class AuthorizationError(SyncError):
    """The platform no longer accepts our credentials: the seller must re-authorize. Not retried."""

    code = "reauth"


class PlatformError(SyncError):
    """The platform refused the request for a reason retrying will not fix. Not retried."""

    code = "platform"


class RunStopped(SyncError):
    """The run was stopped from outside (the account was disconnected) while it was working."""

    code = "stopped"
