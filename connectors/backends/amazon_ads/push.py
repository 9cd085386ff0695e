"""Approved proposals pushed to Amazon Ads through Sponsored Products v3 (platform-apis.md section 1.5).

One profile's proposals at a time, through the same client, token refresh and per-profile rate limit as the
sync. Each kind of change is one SP v3 call per batch of at most 1000 items:

- new keyword: ``POST /sp/keywords`` (``proposed_value`` is its bid; none: the ad group's default bid);
- negative keyword: ``POST /sp/negativeKeywords`` (with an ad group) or ``POST /sp/campaignNegativeKeywords``;
- bid: ``PUT /sp/keywords`` or, for a product or automatic target, ``PUT /sp/targets``;
- budget and campaign state: ``PUT /sp/campaigns``; ad group state: ``PUT /sp/adGroups``;
- archive (a rollback of a created keyword or negative, or a status change to ``archived``): the entity's
  ``POST /sp/<entity>/delete`` with ``<id>Filter.include``, which is how SP v3 archives.

Amazon answers 207 Multi-Status: ``{<key>: {"success": [{"index", <id>}], "error": [{"index", "errors"}]}}``;
each item's result is taken by its ``index``, so one bad item fails alone with Amazon's own message.

Before changing anything the current bids, budgets and states are read from Amazon (list calls filtered by
campaign) and recorded as ``previous``, which a rollback restores. On a retried claim (a worker that died,
or a push put back after a throttle) a keyword or negative that is already there with the same text and match
type is taken as created by the earlier attempt: its id is recorded and nothing is created twice. On a first
attempt Amazon's duplicate error stands: we did not create that keyword, so a rollback must not archive it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from campaigns.models import Proposal, ProposalKind
from connectors.backends.amazon_ads import client as api
from connectors.backends.amazon_ads import mapping
from connectors.backends.amazon_ads.backend import AmazonAdsBackend
from connectors.backends.base import PushResult
from connectors.errors import PlatformError
from connectors.http import PlatformHTTP

BATCH = 1000  # SP v3 list writes take at most 1000 items a call
FILTER_CHUNK = 100  # campaign ids per filtered list call
ZERO_DECIMAL_CURRENCIES = {"JPY"}
NEGATIVE_MATCHES = {"EXACT": "NEGATIVE_EXACT", "PHRASE": "NEGATIVE_PHRASE"}


@dataclass(frozen=True)
class Call:
    """One kind of SP v3 write: the entity (its media type), how it is sent and the id its success items carry."""

    entity: str
    method: str
    key: str  # the body's and the response's key
    success_id: str
    delete_filter: str = ""  # set for an archive through ``/delete``
    creates: bool = False

    @property
    def path(self) -> str:
        return f"/sp/{self.entity}/delete" if self.delete_filter else f"/sp/{self.entity}"


CALLS = {
    "keyword_create": Call("keywords", "POST", "keywords", "keywordId", creates=True),
    "negative_create": Call("negativeKeywords", "POST", "negativeKeywords", "negativeKeywordId", creates=True),
    "campaign_negative_create": Call(
        "campaignNegativeKeywords", "POST", "campaignNegativeKeywords", "campaignNegativeKeywordId", creates=True
    ),
    "keyword_update": Call("keywords", "PUT", "keywords", "keywordId"),
    "target_update": Call("targets", "PUT", "targetingClauses", "targetId"),
    "campaign_update": Call("campaigns", "PUT", "campaigns", "campaignId"),
    "ad_group_update": Call("adGroups", "PUT", "adGroups", "adGroupId"),
    "keyword_archive": Call("keywords", "POST", "keywords", "keywordId", "keywordIdFilter"),
    "target_archive": Call("targets", "POST", "targetingClauses", "targetId", "targetIdFilter"),
    "negative_archive": Call(
        "negativeKeywords", "POST", "negativeKeywords", "negativeKeywordId", "negativeKeywordIdFilter"
    ),
    "campaign_negative_archive": Call(
        "campaignNegativeKeywords",
        "POST",
        "campaignNegativeKeywords",
        "campaignNegativeKeywordId",
        "campaignNegativeKeywordIdFilter",
    ),
    "ad_group_archive": Call("adGroups", "POST", "adGroups", "adGroupId", "adGroupIdFilter"),
    "campaign_archive": Call("campaigns", "POST", "campaigns", "campaignId", "campaignIdFilter"),
}
MEDIA_TYPES = {entity: media_type for entity, (media_type, _key) in api.LISTS.items()}


@dataclass
class Write:
    """One proposal as an item of a call: the body item (or, for an archive, the id) and what it replaces."""

    proposal: Proposal
    item: dict | str
    previous: dict | None = None


def push_proposals(
    *, connection, proposals: list[Proposal], save_credentials: Callable[[dict], None]
) -> Iterator[PushResult]:
    """Push one profile's proposals; yields each one's result as soon as Amazon has answered for it.

    Raises TransientError (throttled or down after the client's own retries) and AuthorizationError (the grant
    is gone) for the caller to handle; results yielded before that stand."""
    backend = AmazonAdsBackend()
    http = PlatformHTTP(
        platform=backend.label,
        bucket=f"profile:{connection.external_id}",  # the sync's bucket: pushes and syncs share the profile's rate
        **backend._rates(),
        **backend._http_options(),
    )
    client = api.AmazonAdsClient(
        http=http,
        conf=backend.conf,
        credentials=connection.credentials,
        region=connection.region or mapping.region_of(connection.marketplace),
        profile_id=connection.external_id,
        on_credentials=save_credentials,
        sleep=backend.sleep,
    )
    decimals = 0 if connection.currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    try:
        yield from Pusher(client, decimals=decimals, page_size=int(backend.conf.get("page_size", 500))).run(proposals)
    finally:
        http.close()


def _money(value: Decimal, decimals: int) -> int | float:
    """An amount as the JSON number Amazon takes (0.75; 50 yen)."""
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return int(rounded) if decimals == 0 else float(rounded)


def _state(proposal: Proposal) -> str:
    return (proposal.proposed_state or "").strip().upper()


def _key(*parts) -> tuple:
    return tuple(str(p or "").casefold().strip() for p in parts)


def _failed(proposal: Proposal, code: str, message: str) -> PushResult:
    return PushResult(proposal_id=proposal.pk, ok=False, code=code, message=str(message))


class Pusher:
    """The proposals of one profile: read what they change, then write them call by call."""

    def __init__(self, client: api.AmazonAdsClient, *, decimals: int, page_size: int = 500):
        self.client = client
        self.decimals = decimals
        self.page_size = page_size
        self.lists: dict[str, dict[str, dict]] = {}  # entity -> id -> list item

    def run(self, proposals: Iterable[Proposal]) -> Iterator[PushResult]:
        proposals = list(proposals)
        self._read(proposals)
        planned: dict[str, list[Write]] = {name: [] for name in CALLS}
        for proposal in proposals:
            outcome = self._plan(proposal)
            if isinstance(outcome, PushResult):
                yield outcome
            else:
                name, write = outcome
                planned[name].append(write)
        for name, writes in planned.items():
            for start in range(0, len(writes), BATCH):
                yield from self._send(CALLS[name], writes[start : start + BATCH])

    # -- reading what is there -------------------------------------------------------------------------
    def _read(self, proposals: list[Proposal]) -> None:
        """List the entities the proposals change, all states, filtered by their campaigns: bids, budgets and
        states to record as ``previous`` (and to tell keywords from targets); on a retried claim also the
        keywords and negatives an earlier attempt may have created."""
        wanted: dict[str, set[str] | None] = {}

        def want(entity: str, campaign_id: str) -> None:
            if entity in wanted and wanted[entity] is None:
                return
            wanted[entity] = None if not campaign_id else {*(wanted.get(entity) or set()), campaign_id}

        for p in proposals:
            retry = p.push_attempts > 1
            if p.kind == ProposalKind.BID or (p.kind == ProposalKind.STATUS and p.target_id):
                want("keywords", p.campaign_id)
                want("targets", p.campaign_id)
            elif p.kind == ProposalKind.STATUS and p.ad_group_id:
                want("adGroups", p.campaign_id)
            elif p.kind in (ProposalKind.BUDGET, ProposalKind.STATUS):
                want("campaigns", p.campaign_id)
            elif retry and _state(p) != "ARCHIVED" and p.kind == ProposalKind.KEYWORD:
                want("keywords", p.campaign_id)
            elif retry and _state(p) != "ARCHIVED" and p.kind == ProposalKind.NEGATIVE:
                want("negativeKeywords" if p.ad_group_id else "campaignNegativeKeywords", p.campaign_id)
        for entity, campaign_ids in wanted.items():
            self.lists[entity] = self._list(entity, campaign_ids)

    def _list(self, entity: str, campaign_ids: set[str] | None) -> dict[str, dict]:
        media_type, key = api.LISTS[entity]
        id_key = {"targets": "targetId", "campaigns": "campaignId", "adGroups": "adGroupId"}.get(entity, "keywordId")
        ids = sorted(campaign_ids or ())
        chunks = [ids[i : i + FILTER_CHUNK] for i in range(0, len(ids), FILTER_CHUNK)] or [[]]  # []: no filter
        found: dict[str, dict] = {}
        for chunk in chunks:
            body: dict = {"stateFilter": {"include": api.ALL_STATES}, "maxResults": self.page_size}
            if chunk:
                body["campaignIdFilter"] = {"include": chunk}
            while True:
                page = self.client.call("POST", f"/sp/{entity}/list", body=body, media_type=media_type).json()
                for item in page.get(key) or []:
                    found[str(item.get(id_key))] = item
                if not page.get("nextToken"):
                    break
                body = {**body, "nextToken": page["nextToken"]}
        return found

    def _existing(self, entity: str, *parts) -> str:
        """The id of a keyword or negative already there (not archived) with this parent, text and match type."""
        wanted = _key(*parts)
        parent = "campaignId" if entity == "campaignNegativeKeywords" else "adGroupId"
        for entity_id, item in (self.lists.get(entity) or {}).items():
            there = _key(item.get(parent), item.get("keywordText"), item.get("matchType"))
            if item.get("state") != "ARCHIVED" and there == wanted:
                return entity_id
        return ""

    # -- planning ----------------------------------------------------------------------------------------
    def _plan(self, p: Proposal) -> tuple[str, Write] | PushResult:
        """The call (or collection) and item one proposal becomes, or its result at once when there is nothing
        to send (an incomplete proposal, a change this platform cannot take, one an earlier attempt made)."""
        state = _state(p)
        missing = _("This change lacks an id or a value Amazon Ads needs to apply it.")
        if p.kind in (ProposalKind.KEYWORD, ProposalKind.NEGATIVE) and state == "ARCHIVED":
            if not p.target_id:
                return _failed(p, "invalid", missing)
            if p.kind == ProposalKind.KEYWORD:
                return "keyword_archive", Write(p, p.target_id)
            return ("negative_archive" if p.ad_group_id else "campaign_negative_archive"), Write(p, p.target_id)
        if p.kind == ProposalKind.KEYWORD:
            if not (p.campaign_id and p.ad_group_id and p.text):
                return _failed(p, "invalid", missing)
            if p.push_attempts > 1 and (found := self._existing("keywords", p.ad_group_id, p.text, p.match_type)):
                return self._already_there(p, found)
            item = {
                "campaignId": p.campaign_id,
                "adGroupId": p.ad_group_id,
                "keywordText": p.text,
                "matchType": p.match_type,
                "state": "ENABLED",
            }
            if p.proposed_value is not None:
                item["bid"] = _money(p.proposed_value, self.decimals)
            return "keyword_create", Write(p, item)
        if p.kind == ProposalKind.NEGATIVE:
            if not (p.campaign_id and p.text):
                return _failed(p, "invalid", missing)
            match_type = NEGATIVE_MATCHES.get(p.match_type, p.match_type)
            entity = "negativeKeywords" if p.ad_group_id else "campaignNegativeKeywords"
            parent = p.ad_group_id or p.campaign_id
            if p.push_attempts > 1 and (found := self._existing(entity, parent, p.text, match_type)):
                return self._already_there(p, found)
            item = {"campaignId": p.campaign_id, "keywordText": p.text, "matchType": match_type, "state": "ENABLED"}
            if p.ad_group_id:
                item["adGroupId"] = p.ad_group_id
                return "negative_create", Write(p, item)
            return "campaign_negative_create", Write(p, item)
        if p.kind == ProposalKind.BID:
            if not p.target_id or p.proposed_value is None:
                return _failed(p, "invalid", missing)
            target = p.target_id in self.lists.get("targets", {}) or (
                p.target_id not in self.lists.get("keywords", {}) and p.match_type.startswith("TARGETING")
            )
            entity, id_key = ("targets", "targetId") if target else ("keywords", "keywordId")
            current = self.lists.get(entity, {}).get(p.target_id, {})
            previous = {"value": str(current["bid"])} if current.get("bid") is not None else None
            item = {id_key: p.target_id, "bid": _money(p.proposed_value, self.decimals)}
            return ("target_update" if target else "keyword_update"), Write(p, item, previous)
        if p.kind == ProposalKind.BUDGET:
            if not p.campaign_id or p.proposed_value is None:
                return _failed(p, "invalid", missing)
            current = self.lists.get("campaigns", {}).get(p.campaign_id, {})
            budget = (current.get("budget") or {}).get("budget")
            previous = {"value": str(budget)} if budget is not None else None
            item = {
                "campaignId": p.campaign_id,
                "budget": {"budget": _money(p.proposed_value, self.decimals), "budgetType": "DAILY"},
            }
            return "campaign_update", Write(p, item, previous)
        if p.kind == ProposalKind.STATUS:
            return self._plan_state(p, state)
        return _failed(
            p,
            "unsupported",
            _("Pushing this kind of change to Amazon Ads is not available yet; make it in the Amazon Ads console."),
        )

    def _plan_state(self, p: Proposal, state: str) -> tuple[str, Write] | PushResult:
        if state not in ("ENABLED", "PAUSED", "ARCHIVED"):
            message = _("Amazon Ads states are enabled, paused or archived, not “%(state)s”.")
            return _failed(p, "invalid", message % {"state": p.proposed_state})
        if p.target_id:
            target = p.target_id in self.lists.get("targets", {})
            entity, id_key, name = ("targets", "targetId", "target") if target else ("keywords", "keywordId", "keyword")
            entity_id = p.target_id
        elif p.ad_group_id:
            entity, id_key, name, entity_id = "adGroups", "adGroupId", "ad_group", p.ad_group_id
        elif p.campaign_id:
            entity, id_key, name, entity_id = "campaigns", "campaignId", "campaign", p.campaign_id
        else:
            return _failed(p, "invalid", _("This change names no campaign, ad group or keyword."))
        current = self.lists.get(entity, {}).get(entity_id, {})
        previous = {"state": current["state"].lower()} if current.get("state") else None
        if state == "ARCHIVED":
            return f"{name}_archive", Write(p, entity_id, previous)
        return f"{name}_update", Write(p, {id_key: entity_id, "state": state}, previous)

    @staticmethod
    def _already_there(p: Proposal, entity_id: str) -> PushResult:
        return PushResult(
            proposal_id=p.pk,
            ok=True,
            code="already_there",
            message=_("Already on Amazon Ads: an earlier attempt of this push created it."),
            platform_id=entity_id,
        )

    # -- writing -------------------------------------------------------------------------------------------
    def _send(self, call: Call, writes: list[Write]) -> Iterator[PushResult]:
        if call.delete_filter:
            body = {call.delete_filter: {"include": [w.item for w in writes]}}
        else:
            body = {call.key: [w.item for w in writes]}
        try:
            response = self.client.call(call.method, call.path, body=body, media_type=MEDIA_TYPES[call.entity])
        except PlatformError as exc:  # the whole call refused (a 400 for the request, a 403...): each item fails
            for write in writes:
                yield _failed(write.proposal, exc.code, exc.user_message)
            return
        payload = _json(response).get(call.key) or {}
        answers: dict[int, tuple[bool, dict]] = {}
        for item in payload.get("success") or []:
            answers[int(item.get("index", -1))] = (True, item)
        for item in payload.get("error") or []:
            answers[int(item.get("index", -1))] = (False, item)
        for index, write in enumerate(writes):
            ok, item = answers.get(index, (None, {}))
            if ok:
                created = str(item.get(call.success_id) or "") if call.creates else ""
                yield PushResult(proposal_id=write.proposal.pk, ok=True, platform_id=created, previous=write.previous)
            elif ok is None:
                yield _failed(write.proposal, "no_answer", _("Amazon Ads did not answer for this change."))
            else:
                code, message = error_of(item)
                yield _failed(write.proposal, code, message)


def _json(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_of(item: dict) -> tuple[str, str]:
    """(reason, message) of a 207 error item: ``{"index", "errors": [{"errorType", "errorValue": {type: {...}}}]}``."""
    errors = item.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    error_type = str(first.get("errorType") or "")
    values = first.get("errorValue") if isinstance(first.get("errorValue"), dict) else {}
    value = values.get(error_type) or next(iter(values.values()), {})
    value = value if isinstance(value, dict) else {}
    code = str(value.get("reason") or error_type or "refused")
    message = str(value.get("message") or "") or _("Amazon Ads refused this change (%(code)s).") % {"code": code}
    return code, message
