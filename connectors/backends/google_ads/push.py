"""Approved proposals pushed to Google Ads through ``mutate`` (platform-apis.md section 3.3).

One account's proposals at a time, through the same client as the sync (token refresh, ``developer-token``,
``login-customer-id`` of the manager the account is reached through, the per-account rate limit):

- new keyword and ad-group negative: ``adGroupCriteria:mutate`` ``create`` (``proposed_value`` is the keyword's
  own bid; none: it bids its ad group's default); campaign negative (no ad group): ``campaignCriteria:mutate``;
- bid and keyword status: ``adGroupCriteria:mutate`` ``update`` with ``updateMask`` ``cpcBidMicros`` / ``status``;
- budget: ``campaignBudgets:mutate`` ``update`` of the campaign's budget (``amountMicros``); a budget shared by
  several campaigns changes for all of them, as it does in Google Ads;
- archive (a rollback of a created keyword or negative, a status change to ``archived``): ``remove``.

Every batch is sent twice: first with ``validateOnly`` (Google checks it and changes nothing), then, holding
only the operations that passed, for real. Both calls set ``partialFailure``, so one bad operation fails alone:
its error comes back in ``partialFailureError``, located by ``fieldPathElements[0].index``.

Before changing anything the current bids, budgets and statuses are read with GAQL and kept as ``previous``
(what a rollback restores). On a retried claim a keyword already there with the same text, match type and
polarity is taken as created by the earlier attempt (Google gives one keyword one criterion id, so it would
otherwise answer RESOURCE_ALREADY_EXISTS), and a criterion already removed counts as archived.

Campaign and ad group status changes are not pushed here (only keyword status): they fail with a message
that says to make them in the Google Ads console.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from campaigns.models import Proposal, ProposalKind
from connectors.backends.base import PushResult
from connectors.backends.google_ads import client as api
from connectors.backends.google_ads.backend import GoogleAdsBackend
from connectors.errors import PlatformError
from connectors.http import PlatformHTTP

BATCH = 1000  # operations per mutate call (Google takes up to 10,000)
QUERY_CHUNK = 500  # ids per GAQL IN list
CENT_MICROS = 10_000
CRITERIA_QUERY = (
    "SELECT ad_group.id, ad_group_criterion.criterion_id, ad_group_criterion.status, ad_group_criterion.negative, "
    "ad_group_criterion.keyword.text, ad_group_criterion.keyword.match_type, ad_group_criterion.cpc_bid_micros, "
    "ad_group_criterion.effective_cpc_bid_micros FROM ad_group_criterion "
    "WHERE ad_group_criterion.type = 'KEYWORD' AND ad_group.id IN ({ids})"
)
CAMPAIGN_CRITERIA_QUERY = (
    "SELECT campaign.id, campaign_criterion.criterion_id, campaign_criterion.status, campaign_criterion.negative, "
    "campaign_criterion.keyword.text, campaign_criterion.keyword.match_type FROM campaign_criterion "
    "WHERE campaign_criterion.type = 'KEYWORD' AND campaign.id IN ({ids})"
)
BUDGETS_QUERY = (
    "SELECT campaign.id, campaign_budget.id, campaign_budget.amount_micros FROM campaign WHERE campaign.id IN ({ids})"
)


@dataclass
class Write:
    """One proposal as one operation, with what it replaces and whether it creates something."""

    proposal: Proposal
    operation: dict
    previous: dict | None = None
    creates: bool = False


def push_proposals(
    *, connection, proposals: list[Proposal], save_credentials: Callable[[dict], None]
) -> Iterator[PushResult]:
    """Push one account's proposals; yields each one's result as soon as Google has answered for it.

    Raises TransientError (quota, 5xx, network, after the client's own retries) and AuthorizationError for the
    caller to handle; results yielded before that stand."""
    backend = GoogleAdsBackend()
    http = PlatformHTTP(
        platform=backend.label,
        bucket=f"customer:{connection.external_id}",  # the sync's bucket: pushes and syncs share the account's rate
        **backend._rates(),
        **backend._http_options(),
    )
    client = backend.client(
        http,
        connection.credentials,
        customer_id=connection.external_id,
        login_customer_id=(connection.config or {}).get("login_customer_id") or None,
        on_credentials=save_credentials,
    )
    try:
        yield from Pusher(client).run(proposals)
    finally:
        http.close()


def micros(value: Decimal) -> int:
    """An amount in micros, rounded half up to a whole cent (Google refuses finer bids and budgets)."""
    cents = (Decimal(value) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(cents) * CENT_MICROS


def _amount(value) -> str:
    """Micros as a plain decimal string (``"1.6"``, ``"30"``), as ``previous`` keeps amounts."""
    return format(Decimal(int(value)).scaleb(-6).normalize(), "f")


def _key(*parts) -> tuple:
    return tuple(str(p or "").casefold().strip() for p in parts)


def _failed(proposal: Proposal, code: str, message: str) -> PushResult:
    return PushResult(proposal_id=proposal.pk, ok=False, code=code, message=str(message))


def _match(match_type: str) -> str:
    return (match_type or "").removeprefix("NEGATIVE_")


class Pusher:
    """The proposals of one account: read what they change, then validate and apply them collection by
    collection."""

    def __init__(self, client: api.GoogleAdsClient):
        self.client = client
        self.cid = client.customer_id
        self.criteria: dict[tuple[str, str], dict] = {}  # (ad group id, criterion id) -> adGroupCriterion
        self.campaign_criteria: dict[tuple[str, str], dict] = {}  # (campaign id, criterion id) -> campaignCriterion
        self.budgets: dict[str, dict] = {}  # campaign id -> campaignBudget

    def run(self, proposals: Iterable[Proposal]) -> Iterator[PushResult]:
        proposals = list(proposals)
        self._read(proposals)
        planned: dict[str, list[Write]] = {"adGroupCriteria": [], "campaignCriteria": [], "campaignBudgets": []}
        for proposal in proposals:
            outcome = self._plan(proposal)
            if isinstance(outcome, PushResult):
                yield outcome
            else:
                collection, write = outcome
                planned[collection].append(write)
        for collection, writes in planned.items():
            for start in range(0, len(writes), BATCH):
                yield from self._send(collection, writes[start : start + BATCH])

    # -- reading what is there -------------------------------------------------------------------------
    def _search(self, query: str, ids: set[str]) -> Iterator[dict]:
        ordered = sorted(i for i in ids if i.isdigit())
        for start in range(0, len(ordered), QUERY_CHUNK):
            yield from self.client.search(query.format(ids=", ".join(ordered[start : start + QUERY_CHUNK])))

    def _read(self, proposals: list[Proposal]) -> None:
        ad_groups, campaigns, budgets = set(), set(), set()
        for p in proposals:
            retry = p.push_attempts > 1
            if p.kind == ProposalKind.BUDGET:
                budgets.add(p.campaign_id)
            elif p.kind in (ProposalKind.BID, ProposalKind.STATUS) or (retry and p.ad_group_id):
                ad_groups.add(p.ad_group_id)
            elif retry and p.kind == ProposalKind.NEGATIVE:
                campaigns.add(p.campaign_id)
        for row in self._search(CRITERIA_QUERY, ad_groups):
            criterion = row.get("adGroupCriterion") or {}
            self.criteria[(str((row.get("adGroup") or {}).get("id")), str(criterion.get("criterionId")))] = criterion
        for row in self._search(CAMPAIGN_CRITERIA_QUERY, campaigns):
            criterion = row.get("campaignCriterion") or {}
            campaign_id = str((row.get("campaign") or {}).get("id"))
            self.campaign_criteria[(campaign_id, str(criterion.get("criterionId")))] = criterion
        for row in self._search(BUDGETS_QUERY, budgets):
            self.budgets[str((row.get("campaign") or {}).get("id"))] = row.get("campaignBudget") or {}

    def _existing(self, found: dict[tuple[str, str], dict], parent: str, text: str, match: str, negative: bool) -> str:
        """``parent~criterion`` of a keyword already there (not removed) with this text, match type and polarity."""
        wanted = _key(text, match)
        for (owner, criterion_id), criterion in found.items():
            keyword = criterion.get("keyword") or {}
            if (
                owner == parent
                and criterion.get("status") != "REMOVED"
                and bool(criterion.get("negative")) == negative
                and _key(keyword.get("text"), keyword.get("matchType")) == wanted
            ):
                return f"{owner}~{criterion_id}"
        return ""

    # -- planning ----------------------------------------------------------------------------------------
    def _criterion_name(self, p: Proposal, parent: str, collection: str = "adGroupCriteria") -> str:
        tail = p.target_id if "~" in p.target_id else f"{parent}~{p.target_id}"
        return f"customers/{self.cid}/{collection}/{tail}"

    def _plan(self, p: Proposal) -> tuple[str, Write] | PushResult:
        """The call (or collection) and item one proposal becomes, or its result at once when there is nothing
        to send (an incomplete proposal, a change this platform cannot take, one an earlier attempt made)."""
        state = (p.proposed_state or "").strip().upper()
        missing = _("This change lacks an id or a value Google Ads needs to apply it.")
        retry = p.push_attempts > 1
        campaign_level = p.kind == ProposalKind.NEGATIVE and not p.ad_group_id
        if p.kind in (ProposalKind.KEYWORD, ProposalKind.NEGATIVE) and state in ("ARCHIVED", "REMOVED"):
            if not p.target_id or not (p.ad_group_id or p.campaign_id or "~" in p.target_id):
                return _failed(p, "invalid", missing)
            if campaign_level:
                name = self._criterion_name(p, p.campaign_id, "campaignCriteria")
                known = self.campaign_criteria
            else:
                name = self._criterion_name(p, p.ad_group_id)
                known = self.criteria
            owner, _sep, criterion_id = name.rpartition("/")[2].partition("~")
            if retry and (known.get((owner, criterion_id)) or {}).get("status", "REMOVED") == "REMOVED":
                return self._already_done(p)
            return ("campaignCriteria" if campaign_level else "adGroupCriteria"), Write(p, {"remove": name})
        if p.kind in (ProposalKind.KEYWORD, ProposalKind.NEGATIVE):
            negative = p.kind == ProposalKind.NEGATIVE
            if not p.text or not (p.campaign_id if campaign_level else p.ad_group_id):
                return _failed(p, "invalid", missing)
            keyword = {"text": p.text, "matchType": _match(p.match_type)}
            if campaign_level:
                if retry and (
                    found := self._existing(self.campaign_criteria, p.campaign_id, p.text, keyword["matchType"], True)
                ):
                    return self._already_there(p, found)
                create = {
                    "campaign": f"customers/{self.cid}/campaigns/{p.campaign_id}",
                    "negative": True,
                    "keyword": keyword,
                }
                return "campaignCriteria", Write(p, {"create": create}, creates=True)
            if retry and (
                found := self._existing(self.criteria, p.ad_group_id, p.text, keyword["matchType"], negative)
            ):
                return self._already_there(p, found)
            create: dict = {"adGroup": f"customers/{self.cid}/adGroups/{p.ad_group_id}", "keyword": keyword}
            if negative:
                create["negative"] = True
            else:
                create["status"] = "ENABLED"
                if p.proposed_value is not None:
                    create["cpcBidMicros"] = str(micros(p.proposed_value))
            return "adGroupCriteria", Write(p, {"create": create}, creates=True)
        if p.kind == ProposalKind.BID:
            if not p.target_id or p.proposed_value is None or not (p.ad_group_id or "~" in p.target_id):
                return _failed(p, "invalid", missing)
            name = self._criterion_name(p, p.ad_group_id)
            current = self.criteria.get(tuple(name.rpartition("/")[2].split("~", 1))) or {}
            bid = current.get("cpcBidMicros") or current.get("effectiveCpcBidMicros")
            update = {"resourceName": name, "cpcBidMicros": str(micros(p.proposed_value))}
            previous = {"value": _amount(bid)} if bid else None
            return "adGroupCriteria", Write(p, {"updateMask": "cpcBidMicros", "update": update}, previous)
        if p.kind == ProposalKind.BUDGET:
            if not p.campaign_id or p.proposed_value is None:
                return _failed(p, "invalid", missing)
            budget = self.budgets.get(p.campaign_id)
            if not budget or not budget.get("id"):
                return _failed(
                    p, "not_found", _("Google Ads has no campaign %(id)s in this account.") % {"id": p.campaign_id}
                )
            update = {
                "resourceName": f"customers/{self.cid}/campaignBudgets/{budget['id']}",
                "amountMicros": str(micros(p.proposed_value)),
            }
            previous = {"value": _amount(budget["amountMicros"])} if budget.get("amountMicros") else None
            return "campaignBudgets", Write(p, {"updateMask": "amountMicros", "update": update}, previous)
        if p.kind == ProposalKind.STATUS and p.target_id:
            if state not in ("ENABLED", "PAUSED", "ARCHIVED", "REMOVED"):
                message = _("Google Ads keywords are enabled, paused or removed, not “%(state)s”.")
                return _failed(p, "invalid", message % {"state": p.proposed_state})
            name = self._criterion_name(p, p.ad_group_id)
            current = self.criteria.get(tuple(name.rpartition("/")[2].split("~", 1))) or {}
            previous = {"state": current["status"].lower()} if current.get("status") else None
            if state in ("ARCHIVED", "REMOVED"):
                return "adGroupCriteria", Write(p, {"remove": name}, previous)
            operation = {"updateMask": "status", "update": {"resourceName": name, "status": state}}
            return "adGroupCriteria", Write(p, operation, previous)
        return _failed(
            p,
            "unsupported",
            _("Pushing this kind of change to Google Ads is not available yet; make it in the Google Ads console."),
        )

    @staticmethod
    def _already_there(p: Proposal, platform_id: str) -> PushResult:
        return PushResult(
            proposal_id=p.pk,
            ok=True,
            code="already_there",
            message=_("Already in Google Ads: an earlier attempt of this push created it."),
            platform_id=platform_id,
        )

    @staticmethod
    def _already_done(p: Proposal) -> PushResult:
        return PushResult(
            proposal_id=p.pk,
            ok=True,
            code="already_there",
            message=_("Already removed in Google Ads by an earlier attempt of this push."),
        )

    # -- writing -------------------------------------------------------------------------------------------
    def _mutate(self, collection: str, writes: list[Write], *, validate_only: bool) -> api.MutateResponse:
        return self.client.mutate(
            collection, [w.operation for w in writes], validate_only=validate_only, partial_failure=True
        )

    def _send(self, collection: str, writes: list[Write]) -> Iterator[PushResult]:
        """Validate the batch, report the operations Google refuses, then apply the others."""
        try:
            checked = self._mutate(collection, writes, validate_only=True)
        except PlatformError as exc:  # the request as a whole was refused: each of its changes fails
            for write in writes:
                yield _failed(write.proposal, exc.code, exc.user_message)
            return
        valid = []
        for write, result in zip(writes, checked.results, strict=True):
            if result.errors or not result.ok:
                yield self._refused(write, result)
            else:
                valid.append(write)
        if not valid:
            return
        try:
            applied = self._mutate(collection, valid, validate_only=False)
        except PlatformError as exc:
            for write in valid:
                yield _failed(write.proposal, exc.code, exc.user_message)
            return
        for write, result in zip(valid, applied.results, strict=True):
            if not result.ok:
                yield self._refused(write, result)
                continue
            created = result.resource_name.rpartition("/")[2] if write.creates else ""
            yield PushResult(proposal_id=write.proposal.pk, ok=True, platform_id=created, previous=write.previous)

    @staticmethod
    def _refused(write: Write, result: api.OperationResult) -> PushResult:
        error = result.errors[0] if result.errors else None
        if error is None:
            return _failed(write.proposal, "refused", _("Google Ads refused this change without saying why."))
        return _failed(write.proposal, error.code, error.message or error.label)
