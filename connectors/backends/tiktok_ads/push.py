"""Approved proposals pushed to TikTok Ads through the Business API v1.3: campaign budget and campaign status.

One advertiser's proposals at a time, through the same client as the sync (``Access-Token``, the envelope, the
inline waits on code 40100, token refresh where TikTok gave one) and the sync's per-advertiser rate limit:

- budget: ``POST /campaign/update/`` ``{advertiser_id, campaign_id, budget}``, one call per campaign, the budget
  in the advertiser's currency units. Only a campaign with a daily budget (``BUDGET_MODE_DAY``, or the dynamic
  daily one) takes it; one without a campaign budget (``BUDGET_MODE_INFINITE``: its ad groups hold the budgets)
  or with a lifetime budget (``BUDGET_MODE_TOTAL``) fails with a message that says so;
- status: ``POST /campaign/status/update/`` ``{advertiser_id, campaign_ids, operation_status}``, the campaigns
  going to one status together, at most 20 a call: ``enabled`` -> ENABLE, ``paused`` -> DISABLE, ``archived`` ->
  DELETE (TikTok has no archive; a deleted campaign cannot be changed again, so that cannot be rolled back).

Before changing anything the campaigns are read (``GET /campaign/get/`` filtered by ``campaign_ids``, at most 100
a call) and their budget or status kept as ``previous``, which a rollback restores. A campaign TikTok does not
list (unknown, or deleted) fails alone before any write, so it cannot sink a status call shared with others.

TikTok answers HTTP 200 with a non-zero ``code`` for errors. 40100 (rate limit) and 5000x are waited on by the
client and then raised for the push engine to retry later; 40001 and the token codes ask the seller to reconnect;
any other code (40002, a bad parameter: a budget below TikTok's minimum, for one) fails the changes of that call
with TikTok's message and its code. Keyword, negative and bid proposals, and changes to ad groups or ads, are not
pushed here: they fail as unsupported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from campaigns.models import Proposal, ProposalKind
from connectors.backends.base import PushResult
from connectors.backends.tiktok_ads import client as api
from connectors.backends.tiktok_ads.backend import TikTokAdsBackend
from connectors.errors import PlatformError
from connectors.http import PlatformHTTP

STATUS_BATCH = 20  # campaign_ids a status call takes
READ_CHUNK = 100  # campaign_ids a filtered campaign/get takes
DAILY_MODES = frozenset({"BUDGET_MODE_DAY", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"})
# Our proposal states -> TikTok's operation_status.
OPERATION = {"ENABLED": "ENABLE", "ACTIVE": "ENABLE", "PAUSED": "DISABLE", "ARCHIVED": "DELETE", "DELETED": "DELETE"}
# TikTok's operation_status -> the state a rollback proposes.
OUR_STATE = {"ENABLE": "enabled", "DISABLE": "paused"}
_CODE = re.compile(r": code (\d+):")


@dataclass
class Write:
    """One proposal as a change of one campaign, with what it replaces."""

    proposal: Proposal
    value: Decimal | str  # the new budget, or the operation_status
    previous: dict | None = None


def push_proposals(
    *, connection, proposals: list[Proposal], save_credentials: Callable[[dict], None]
) -> Iterator[PushResult]:
    """Push one advertiser's proposals; yields each one's result as soon as TikTok has answered for it.

    Raises TransientError (rate limited or down after the client's own waits) and AuthorizationError (the token
    was revoked or expired) for the caller to handle; results yielded before that stand."""
    backend = TikTokAdsBackend()
    http = PlatformHTTP(
        platform=backend.label,
        bucket=f"advertiser:{connection.external_id}",  # the sync's bucket: pushes and syncs share its rate
        **backend._rates(),
        **backend._http_options(),
    )
    client = api.TikTokAdsClient(
        http=http,
        conf=backend.conf,
        credentials=connection.credentials,
        on_credentials=save_credentials,
        sleep=backend.sleep,
    )
    try:
        yield from Pusher(client, advertiser_id=connection.external_id, page_size=backend._page_size()).run(proposals)
    finally:
        http.close()


def budget_number(value: Decimal) -> float:
    """A budget as the JSON number TikTok takes, rounded half up to the cent: 150.5."""
    return float(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def amount_text(value) -> str:
    """A budget TikTok listed (``120.0``) as the plain decimal string ``previous`` keeps (``"120"``)."""
    return format(Decimal(str(value)).normalize(), "f")


def _failed(proposal: Proposal, code: str, message: str) -> PushResult:
    return PushResult(proposal_id=proposal.pk, ok=False, code=code, message=str(message))


def refused(proposal: Proposal, exc: PlatformError) -> PushResult:
    """A change TikTok refused, with TikTok's code (``"40002"``) and message."""
    found = _CODE.search(exc.detail or "")
    return _failed(proposal, found.group(1) if found else exc.code, exc.user_message)


class Pusher:
    """The proposals of one advertiser: read the campaigns they change, then write budgets and statuses."""

    def __init__(self, client: api.TikTokAdsClient, *, advertiser_id: str, page_size: int = api.MAX_PAGE_SIZE):
        self.client = client
        self.advertiser_id = str(advertiser_id)
        self.page_size = page_size
        self.campaigns: dict[str, dict] = {}  # campaign id -> campaign/get item

    def run(self, proposals: Iterable[Proposal]) -> Iterator[PushResult]:
        planned: list[Proposal] = []
        for proposal in proposals:
            failure = self._check(proposal)
            if failure is not None:
                yield failure
            else:
                planned.append(proposal)
        self._read({p.campaign_id for p in planned})
        budgets: list[Write] = []
        statuses: dict[str, list[Write]] = {}
        for proposal in planned:
            outcome = self._plan(proposal)
            if isinstance(outcome, PushResult):
                yield outcome
            elif proposal.kind == ProposalKind.BUDGET:
                budgets.append(outcome)
            else:
                statuses.setdefault(str(outcome.value), []).append(outcome)
        for write in budgets:
            yield self._send_budget(write)
        for operation, writes in statuses.items():
            for start in range(0, len(writes), STATUS_BATCH):
                yield from self._send_status(operation, writes[start : start + STATUS_BATCH])

    # -- checking and reading ----------------------------------------------------------------------------
    def _check(self, p: Proposal) -> PushResult | None:
        """The result at once of a proposal that cannot be pushed to TikTok whatever its campaign holds."""
        if p.kind not in (ProposalKind.BUDGET, ProposalKind.STATUS):
            return _failed(
                p,
                "unsupported",
                _(
                    "TikTok Ads has no keywords or keyword bids: only campaign budgets and campaign status changes "
                    "can be pushed to TikTok Ads. Make this change in TikTok Ads Manager."
                ),
            )
        if p.ad_group_id or p.target_id:
            return _failed(
                p,
                "unsupported",
                _(
                    "Only whole TikTok Ads campaigns can be changed from here; change ad groups and ads in TikTok "
                    "Ads Manager."
                ),
            )
        if not p.campaign_id or not p.campaign_id.isdigit():
            return _failed(p, "invalid", _("This change names no TikTok Ads campaign."))
        if p.kind == ProposalKind.BUDGET and (p.proposed_value is None or p.proposed_value <= 0):
            return _failed(p, "invalid", _("This budget change has no new budget above zero."))
        if p.kind == ProposalKind.STATUS and _operation(p) is None:
            message = _("TikTok Ads campaigns are enabled, paused or deleted (archived), not “%(state)s”.")
            return _failed(p, "invalid", message % {"state": p.proposed_state})
        return None

    def _read(self, campaign_ids: set[str]) -> None:
        ids = sorted(campaign_ids)
        for start in range(0, len(ids), READ_CHUNK):
            params = {
                "advertiser_id": self.advertiser_id,
                "filtering": json.dumps({"campaign_ids": ids[start : start + READ_CHUNK]}, separators=(",", ":")),
            }
            for _page, data in self.client.pages("/campaign/get/", params, page_size=self.page_size):
                for item in data.get("list") or []:
                    self.campaigns[str(item.get("campaign_id"))] = item

    # -- planning ----------------------------------------------------------------------------------------
    def _plan(self, p: Proposal) -> Write | PushResult:
        campaign = self.campaigns.get(p.campaign_id)
        if campaign is None:
            message = _("TikTok Ads has no campaign %(id)s in this advertiser account (or it was deleted).")
            return _failed(p, "not_found", message % {"id": p.campaign_id})
        name = campaign.get("campaign_name") or p.campaign_id
        if p.kind == ProposalKind.BUDGET:
            mode = campaign.get("budget_mode") or ""
            if mode == "BUDGET_MODE_TOTAL":
                message = _(
                    "TikTok Ads campaign %(name)s has a lifetime budget, not a daily one, and TikTok does not switch "
                    "budget types once a campaign is live. Change its lifetime budget in TikTok Ads Manager."
                )
                return _failed(p, "lifetime_budget", message % {"name": name})
            if mode not in DAILY_MODES:
                message = _(
                    "TikTok Ads campaign %(name)s has no campaign budget: its ad groups hold the budgets. Change the "
                    "ad group budgets in TikTok Ads Manager."
                )
                return _failed(p, "no_campaign_budget", message % {"name": name})
            budget = campaign.get("budget")
            previous = {"value": amount_text(budget)} if budget not in (None, "") else None
            return Write(p, Decimal(p.proposed_value), previous)
        status = campaign.get("operation_status") or ""
        previous = {"state": OUR_STATE.get(status, status.lower())} if status else None
        return Write(p, _operation(p), previous)

    # -- writing -----------------------------------------------------------------------------------------
    def _send_budget(self, write: Write) -> PushResult:
        p = write.proposal
        body = {"advertiser_id": self.advertiser_id, "campaign_id": p.campaign_id, "budget": budget_number(write.value)}
        try:
            self.client.call("POST", "/campaign/update/", body=body)
        except PlatformError as exc:
            return refused(p, exc)
        return PushResult(proposal_id=p.pk, ok=True, previous=write.previous)

    def _send_status(self, operation: str, writes: list[Write]) -> Iterator[PushResult]:
        body = {
            "advertiser_id": self.advertiser_id,
            "campaign_ids": [w.proposal.campaign_id for w in writes],
            "operation_status": operation,
        }
        try:
            self.client.call("POST", "/campaign/status/update/", body=body)
        except PlatformError as exc:  # TikTok refuses the call as a whole: each of its changes fails
            for write in writes:
                yield refused(write.proposal, exc)
            return
        for write in writes:
            yield PushResult(proposal_id=write.proposal.pk, ok=True, previous=write.previous)


def _operation(p: Proposal) -> str | None:
    return OPERATION.get((p.proposed_state or "").strip().upper())
