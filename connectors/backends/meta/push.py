"""Approved proposals pushed to Meta through the Marketing API: campaign budget and campaign status.

One ad account's proposals at a time, with its access token (and ``appsecret_proof``) and the sync's per-account
rate limit. Each change is one Graph call on the campaign node, ``POST /{version}/{campaign_id}`` with a form body
(as the Business SDK sends it), answered ``{"success": true}``:

- budget: ``daily_budget`` in the account currency's minor units (cents; whole units for the currencies Meta keeps
  without them, ``mapping.NO_MINOR_UNITS``). Only a campaign that holds the budget itself (Advantage campaign
  budget) takes one; a campaign whose ad sets hold the budgets, or one with a lifetime budget, fails with a message
  that says so, since the proposal is for a daily campaign budget;
- status: ``status`` ACTIVE (``enabled``), PAUSED (``paused``) or ARCHIVED (``archived``). Meta lets an archived
  campaign only be deleted, so a rollback of an archive fails with Meta's own message.

Before a change the campaign is read (``GET /{campaign_id}?fields=status,daily_budget,lifetime_budget``) and its
budget or status kept as ``previous``, which a rollback restores. A campaign Meta does not know fails with Meta's
message. Proposals for one campaign share that read.

Meta has no keywords and no keyword bids: keyword, negative and bid proposals fail as unsupported, as do changes
to ad sets and ads (the proposal names an ad group or a target), which are not pushed here.

Errors: Meta's error body (``{"error": {"message", "type", "code", "error_subcode", "error_user_msg", ...}}``).
Throttling (4, 17, 32, 613, 80000-80014), an invalid or expired token (190), a missing permission and Meta's own
trouble raise for the push engine (``client.raise_graph_error``): the first and last put the changes back for a
later retry, the others ask the seller to reconnect. Any other refusal fails that one change with Meta's reason
(``error_user_msg`` when Meta gives one) and code (``code`` or ``code/subcode``); the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from campaigns.models import Proposal, ProposalKind
from connectors.backends.base import PushResult
from connectors.backends.meta import client as api
from connectors.backends.meta import mapping
from connectors.backends.meta.backend import MetaBackend
from connectors.errors import PlatformError, TransientError
from connectors.http import PlatformHTTP

CAMPAIGN_FIELDS = "id,name,status,daily_budget,lifetime_budget"
# Our proposal states -> Meta's campaign status.
META_STATUS = {"ENABLED": "ACTIVE", "ACTIVE": "ACTIVE", "PAUSED": "PAUSED", "ARCHIVED": "ARCHIVED"}
# Meta's campaign status -> the state a rollback proposes.
OUR_STATE = {"ACTIVE": "enabled", "PAUSED": "paused", "ARCHIVED": "archived", "DELETED": "deleted"}


def push_proposals(
    *, connection, proposals: list[Proposal], save_credentials: Callable[[dict], None]
) -> Iterator[PushResult]:
    """Push one ad account's proposals; yields each one's result as soon as Meta has answered for it.

    Raises TransientError (throttled or down after the HTTP layer's own retries) and AuthorizationError (the
    token expired or was revoked, a permission is missing) for the caller; results yielded before that stand.
    ``save_credentials`` is part of the pusher interface; Meta has no refresh grant, so nothing is ever saved."""
    credentials = connection.credentials or {}
    expires_at = credentials.get("expires_at")
    if not credentials.get("access_token") or (expires_at is not None and expires_at <= time.time()):
        api.check_token(credentials, now=time.time())  # raises AuthorizationError with the reconnect message
    backend = MetaBackend()
    http = PlatformHTTP(
        platform=backend.label,
        bucket=f"account:{connection.external_id}",  # the sync's bucket: pushes and syncs share the account's rate
        **backend._rates(),
        **backend._http_options(),
    )
    graph = Graph(http=http, conf=backend.conf, access_token=credentials["access_token"])
    try:
        yield from Pusher(graph, currency=connection.currency).run(proposals)
    finally:
        http.close()


def to_minor(value: Decimal, currency: str) -> int:
    """A budget as Meta takes it, in the currency's minor units, rounded half up: 42.5 USD -> 4250."""
    exponent = 0 if currency.upper() in mapping.NO_MINOR_UNITS else 2
    return int(Decimal(value).scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def amount_text(minor, currency: str) -> str:
    """Minor units as the plain decimal string ``previous`` keeps: ``"6000"`` USD -> ``"60"``."""
    return format(mapping.minor_to_decimal(minor, currency).normalize(), "f")


def _failed(proposal: Proposal, code: str, message: str) -> PushResult:
    return PushResult(proposal_id=proposal.pk, ok=False, code=code, message=str(message))


def refusal(error: dict) -> tuple[str, str]:
    """(code, message) of a Graph error that refuses one change: ``"100/1885272"`` and the reason for people."""
    code, subcode = error.get("code"), error.get("error_subcode")
    result_code = f"{code}/{subcode}" if subcode else str(code or "refused")
    message = str(error.get("error_user_msg") or error.get("message") or "")
    return result_code, message or _("Meta refused this change (error %(code)s).") % {"code": result_code}


def _raises(error: dict, status: int) -> bool:
    """Whether a Graph error concerns the whole push (throttle, token, permission, Meta's own trouble) rather
    than this one change."""
    code = error.get("code")
    return (
        code in api.THROTTLE_CODES
        or code in api.TOKEN_CODES
        or code in api.PERMISSION_CODES
        or code in api.TRANSIENT_CODES
        or bool(error.get("is_transient"))
        or status >= 500
    )


class Graph:
    """Graph calls on single nodes with one token: the refusal of one object comes back as a value, everything
    that concerns the whole push is raised as the sync raises it."""

    def __init__(self, *, http: PlatformHTTP, conf: dict, access_token: str):
        self.http = http
        self.base = api.graph_base(conf)
        self.auth = {
            "access_token": access_token,
            "appsecret_proof": api.appsecret_proof(conf["client_secret"], access_token),
        }
        self.usage = api.Usage()

    def call(self, method: str, node: str, params: dict) -> tuple[dict, dict | None]:
        """``(body, None)``, or ``({}, error)`` when Meta refused this object; raises TransientError,
        AuthorizationError or PlatformError for the rest."""
        if self.usage.percent >= api.USAGE_STOP_PERCENT:
            raise TransientError(
                _("Meta says we have used %(percent)d%% of what we may do for now; the change will be pushed later.")
                % {"percent": self.usage.percent},
                retry_after=max(api.THROTTLE_WAIT_SECONDS, self.usage.regain_seconds),
            )
        url = f"{self.base}/{node}"
        if method == "POST":
            response = self.http.request("POST", url, data={**params, **self.auth})
        else:
            response = self.http.request(method, url, params={**params, **self.auth})
        self.usage = api.usage_of(response.headers)
        error = api.graph_error(response)
        if error is not None and not _raises(error, response.status_code):
            return {}, error
        if response.status_code >= 400 or error is not None:
            api.raise_graph_error(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(
                _("Meta sent an answer we could not read; the change will be pushed again."),
                detail=response.text[:300],
            ) from exc
        return (body if isinstance(body, dict) else {}), None


@dataclass
class Change:
    """One proposal as the one field of a campaign update it sets, with Meta's value for it."""

    proposal: Proposal
    field: str  # "daily_budget" or "status"
    value: str


class Pusher:
    """The proposals of one ad account: each campaign read once, then each change written and answered."""

    def __init__(self, graph: Graph, *, currency: str):
        self.graph = graph
        self.currency = currency
        self.campaigns: dict[str, tuple[dict, dict | None]] = {}  # campaign id -> (node, Meta's refusal)

    def run(self, proposals: Iterable[Proposal]) -> Iterator[PushResult]:
        for proposal in proposals:
            planned = self._plan(proposal)
            if isinstance(planned, PushResult):
                yield planned
            else:
                yield self._push(planned)

    def _plan(self, p: Proposal) -> Change | PushResult:
        """The field and value one proposal sets, or its result at once when there is nothing to send."""
        if p.kind not in (ProposalKind.BUDGET, ProposalKind.STATUS):
            return _failed(
                p,
                "unsupported",
                _(
                    "Meta has no keywords or keyword bids: only campaign budgets and campaign status changes can be "
                    "pushed to Meta. Make this change in Meta Ads Manager."
                ),
            )
        if p.ad_group_id or p.target_id:
            return _failed(
                p,
                "unsupported",
                _("Only whole Meta campaigns can be changed from here; change ad sets and ads in Meta Ads Manager."),
            )
        if not p.campaign_id.isdigit():  # the id goes into the URL path: a Graph node id is digits only
            return _failed(p, "invalid", _("This change names no Meta campaign."))
        if p.kind == ProposalKind.BUDGET:
            if p.proposed_value is None or p.proposed_value <= 0:
                return _failed(p, "invalid", _("This budget change has no new budget above zero."))
            return Change(p, "daily_budget", str(to_minor(p.proposed_value, self.currency)))
        status = META_STATUS.get((p.proposed_state or "").strip().upper())
        if status is None:
            message = _("Meta campaigns are enabled, paused or archived, not “%(state)s”.")
            return _failed(p, "invalid", message % {"state": p.proposed_state})
        return Change(p, "status", status)

    def _campaign(self, campaign_id: str) -> tuple[dict, dict | None]:
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = self.graph.call("GET", campaign_id, {"fields": CAMPAIGN_FIELDS})
        return self.campaigns[campaign_id]

    def _push(self, change: Change) -> PushResult:
        p = change.proposal
        try:
            node, error = self._campaign(p.campaign_id)
            if error is not None:
                return _failed(p, *refusal(error))
            if change.field == "daily_budget":
                if node.get("daily_budget") in (None, "", "0"):
                    return self._no_campaign_budget(p, node)
                previous = {"value": amount_text(node["daily_budget"], self.currency)}
            else:
                status = str(node.get("status") or "")
                previous = {"state": OUR_STATE.get(status, status.lower())} if status else None
            body, error = self.graph.call("POST", p.campaign_id, {change.field: change.value})
        except PlatformError as exc:  # an answer Meta gave for this change that is not a Graph error body
            return _failed(p, exc.code, exc.user_message)
        if error is not None:
            return _failed(p, *refusal(error))
        if body.get("success") is not True:
            return _failed(p, "refused", _("Meta did not confirm this change."))
        node[change.field] = change.value  # a later change of this campaign reads what is there now
        return PushResult(proposal_id=p.pk, ok=True, previous=previous)

    @staticmethod
    def _no_campaign_budget(p: Proposal, node: dict) -> PushResult:
        name = node.get("name") or p.campaign_name or p.campaign_id
        if node.get("lifetime_budget") not in (None, "", "0"):
            message = _(
                "Meta campaign %(name)s has a lifetime budget, not a daily one; Meta does not switch budget types "
                "once a campaign has run. Change its lifetime budget in Meta Ads Manager."
            )
            return _failed(p, "lifetime_budget", message % {"name": name})
        message = _(
            "Meta campaign %(name)s has no campaign budget: its ad sets hold the budgets. Change the ad set budgets "
            "in Meta Ads Manager, or turn on Advantage campaign budget there first."
        )
        return _failed(p, "no_campaign_budget", message % {"name": name})
