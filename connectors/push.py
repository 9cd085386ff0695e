"""Pushing approved proposals (the ``campaigns`` outbox) to the ad platforms, and recording each result.

``proposals_push`` claims approved proposals (``campaigns.services.proposals.proposals_claim``: approved ->
pushing, skipping rows another worker holds, taking back claims a dead worker left), groups them by channel
and account, finds the organization's connection for each account and hands the group to its platform's
pusher (``PUSHERS``), which yields one ``PushResult`` per proposal as the platform answers. Each result is
recorded at once through ``proposal_record_result``; no platform call is made inside a transaction that
writes our rows (the claim and each record commit on their own).

What goes wrong, and what happens:

- a channel without a pusher, a missing or disconnected connection, an account that needs re-authorizing:
  the proposals fail with a message that says what to do;
- a platform refusing one item (Amazon's 207 error item, Google's partial failure): that proposal fails with
  the platform's message; the others go on;
- the platform busy or down after the client's own retries (429, 5xx, network): the proposals not answered
  yet go back to ``approved`` and ``PushDeferred`` asks the task to retry later, with bounded backoff; after
  ``MAX_PUSH_ATTEMPTS`` claims a proposal fails instead of waiting forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from importlib import import_module

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization
from campaigns.models import Channel, Proposal
from campaigns.services import proposals as proposal_services
from campaigns.services.proposals import proposal_record_result, proposals_claim
from connectors import services
from connectors.backends.base import PushResult
from connectors.errors import AuthorizationError, SyncError, TransientError
from connectors.models import Connection, ConnectionStatus

logger = logging.getLogger(__name__)

# campaigns.Channel -> the module whose ``push_proposals(*, connection, proposals, save_credentials)`` pushes it
PUSHERS: dict[str, str] = {
    Channel.AMAZON_ADS: "connectors.backends.amazon_ads.push",
    Channel.GOOGLE_ADS: "connectors.backends.google_ads.push",
    Channel.META: "connectors.backends.meta.push",
    Channel.TIKTOK_ADS: "connectors.backends.tiktok_ads.push",
}
# campaigns.Channel -> the Connection.platform its accounts are connected through
PLATFORM_OF_CHANNEL: dict[str, str] = {
    Channel.AMAZON_ADS: "amazon_ads",
    Channel.GOOGLE_ADS: "google_ads",
    Channel.META: "meta",
    Channel.TIKTOK_ADS: "tiktok_ads",
    Channel.SHOPEE_ADS: "shopee",
    Channel.EBAY_PL: "ebay",
}
CLAIM_LIMIT = 500  # proposals claimed per round; a push goes round again while rounds come back full
MAX_ROUNDS = 20
MAX_PUSH_ATTEMPTS = 5  # claims of one proposal before a platform that stays busy fails it
MAX_RETRY_DELAY = 10 * 60  # the longest a task waits before its retry (seconds)
# An approved proposal untouched this long lost its push (a dispatch that never ran, a retry given up):
# the sweeper sends it again. Longer than any retry delay, so a push waiting out a Retry-After is left alone.
APPROVED_GRACE = timedelta(seconds=MAX_RETRY_DELAY + 60)


class PushDeferred(TransientError):
    """Some proposals went back to ``approved`` because a platform was busy; ``done`` got their final result."""

    def __init__(self, user_message: str, *, retry_after: float | None = None, detail: str = "", done: int = 0):
        super().__init__(user_message, retry_after=retry_after, detail=detail)
        self.done = done


def retry_delay(*, retry_after: float | None, retries: int) -> float:
    """Seconds before a deferred push runs again: the platform's Retry-After if it gave one, else exponential
    backoff from 30 s; never more than ``MAX_RETRY_DELAY``."""
    wanted = retry_after if retry_after is not None else 30 * 2**retries
    return max(1.0, min(float(wanted), MAX_RETRY_DELAY))


def proposals_push(*, organization: Organization) -> int:
    """Push every approved proposal of ``organization``; returns how many got their final result (pushed or
    failed). Raises ``PushDeferred`` (after recording everything else) when some must wait for a busy platform."""
    done = 0
    deferred: list[TransientError] = []
    for _round in range(MAX_ROUNDS):
        claimed = proposals_claim(organization=organization, limit=CLAIM_LIMIT)
        groups: dict[tuple[str, str], list[Proposal]] = {}
        for proposal in claimed:
            groups.setdefault((proposal.channel, proposal.account_id), []).append(proposal)
        for (channel, account_id), proposals in groups.items():
            recorded, error = _push_group(organization, channel, account_id, proposals)
            done += recorded
            if error is not None:
                deferred.append(error)
        if deferred or len(claimed) < CLAIM_LIMIT:
            break
    if deferred:
        waits = [e.retry_after for e in deferred if e.retry_after is not None]
        raise PushDeferred(
            deferred[0].user_message,
            retry_after=max(waits) if waits else None,
            detail="; ".join(e.detail for e in deferred if e.detail)[:2000],
            done=done,
        )
    return done


def organizations_with_due_pushes(*, now=None) -> list[int]:
    """Organizations (beat fan-out) with proposals whose push was lost (see ``APPROVED_GRACE``)."""
    return proposal_services.organizations_with_due_pushes(approved_grace=APPROVED_GRACE, now=now)


# --- one channel and account ----------------------------------------------------------------------------------


def _push_group(
    organization: Organization, channel: str, account_id: str, proposals: list[Proposal]
) -> tuple[int, TransientError | None]:
    """Push one account's proposals. Returns (results recorded, the transient error that deferred the rest)."""
    pending = {p.pk: p for p in proposals}
    label = Channel(channel).label if channel in Channel.values else channel

    def record(result: PushResult) -> None:
        proposal = pending.pop(result.proposal_id, None)
        if proposal is not None:
            proposal_record_result(
                proposal=proposal,
                ok=result.ok,
                code=result.code,
                message=result.message,
                platform_id=result.platform_id,
                previous=result.previous,
            )

    def fail_rest(code: str, message: str) -> None:
        for proposal_id in list(pending):
            record(PushResult(proposal_id=proposal_id, ok=False, code=code, message=str(message)))

    count = len(proposals)
    module = PUSHERS.get(channel)
    if module is None:
        fail_rest(
            "unsupported",
            _("Pushing to %(platform)s is not available yet; make this change in the platform's console.")
            % {"platform": label},
        )
        return count, None
    connection = _connection(organization, channel, account_id, proposals[0].marketplace)
    if connection is None:
        fail_rest(
            "no_connection",
            _(
                "%(platform)s account %(account)s is not connected (or was disconnected). Connect it on the "
                "Connections page, then propose the change again."
            )
            % {"platform": label, "account": account_id},
        )
        return count, None
    if connection.status == ConnectionStatus.REAUTH:
        fail_rest(
            "reauth",
            _("%(platform)s needs you to reconnect %(account)s before changes can be pushed.")
            % {"platform": label, "account": connection.name},
        )
        return count, None

    def save_credentials(credentials: dict) -> None:
        services.connection_save_credentials(connection=connection, credentials=credentials)

    try:
        pusher = import_module(module).push_proposals
        for result in pusher(
            connection=connection, proposals=list(pending.values()), save_credentials=save_credentials
        ):
            record(result)
    except TransientError as exc:
        _spent, released = _release(list(pending.values()), label)
        return count - released, exc if released else None
    except AuthorizationError as exc:
        Connection.unscoped_objects.filter(pk=connection.pk).exclude(status=ConnectionStatus.DISCONNECTED).update(
            status=ConnectionStatus.REAUTH, last_error=exc.user_message, updated_at=timezone.now()
        )
        fail_rest(exc.code, exc.user_message)
    except SyncError as exc:
        fail_rest(exc.code, exc.user_message)
    except Exception:
        logger.exception("push of %s proposals to %s %s failed", len(pending), channel, account_id)
        fail_rest("internal", _("Something went wrong on our side while pushing this change. We have been told."))
    if pending:  # a pusher must answer for every proposal it was given
        logger.error("pusher for %s gave no result for proposals %s", channel, sorted(pending))
        fail_rest("no_answer", _("%(platform)s gave no answer for this change.") % {"platform": label})
    return count, None


def _connection(organization: Organization, channel: str, account_id: str, marketplace: str) -> Connection | None:
    """The organization's live connection of the account (never another organization's)."""
    platform = PLATFORM_OF_CHANNEL.get(channel, channel)
    candidates = list(
        Connection.unscoped_objects.filter(organization=organization, platform=platform, external_id=account_id)
        .exclude(status=ConnectionStatus.DISCONNECTED)
        .order_by("pk")
    )
    if len(candidates) > 1 and marketplace:
        candidates = [c for c in candidates if c.marketplace == marketplace] or candidates
    return candidates[0] if candidates else None


def _release(proposals: Iterable[Proposal], label: str) -> tuple[int, int]:
    """Put proposals a busy platform did not answer back to ``approved`` for the retry; those claimed
    ``MAX_PUSH_ATTEMPTS`` times fail instead. Returns (how many failed, how many went back)."""
    proposals = list(proposals)
    spent = [p for p in proposals if p.push_attempts >= MAX_PUSH_ATTEMPTS]
    for proposal in spent:
        proposal_record_result(
            proposal=proposal,
            ok=False,
            code="unavailable",
            message=_(
                "%(platform)s stayed busy or unavailable through %(attempts)s attempts. Make this change in the "
                "platform's console, or propose it again later."
            )
            % {"platform": label, "attempts": proposal.push_attempts},
        )
    waiting = [p.pk for p in proposals if p.push_attempts < MAX_PUSH_ATTEMPTS]
    if waiting:
        proposal_services.proposals_release(
            ids=waiting,
            message=_("%(platform)s is busy; the change will be pushed again in a few minutes.") % {"platform": label},
        )
    return len(spent), len(waiting)
