"""Bid and budget proposal runs, and the seller's own calendar events.

A run reads the organization's results, asks ``campaigns.bidding`` or ``campaigns.budgets`` what to change and
records the changes as proposals (one tool run; a change that already waits for approval is not proposed
again). Nothing here talks to a platform: approved proposals are pushed by the connectors.

Bids (``bids_run``): the window is the ``window_days`` days ending on ``as_of`` (today in the organization's
time zone). Its last days are left out per channel while the platform may still restate them: by default as
many days as the channel's connections restate (``DataSource.restatement_days``, read through
``analytics.selectors.freshness.provisional_since``), so a day whose conversions are half counted does not
pull bids down. The seller can set one number of days for every channel instead. ``min_bid``/``max_bid`` are
in each account's own currency. In profit-aware mode each ad group's products give the break-even ACoS:
price is the window's ad sales per unit, cost of goods the mean unit cost of the ad group's SKUs (converted
at the latest rate), fees the marketplace's fee table of the store behind the ad channel, and VAT/GST in the
price where the market's prices include it; an ad group with an unknown input keeps its bids. Raises and
lowers become proposals; targets held where they are are only counted in the run's summary.

Budgets (``budgets_run``): one currency at a time, over the campaigns that serve and have a daily budget.
Campaigns in another currency, paused or ended, without a campaign-level budget or with a lifetime budget
are left out and counted in the summary. Each campaign whose budget would move by less than 1 % keeps its
budget exactly and the rest of the total is split again among the others, so applying every proposal leaves
the total at ``daily_total`` to the cent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.scoping import organization_scope
from accounts.services import record_audit
from analytics.fx.selectors import rates_frame
from analytics.query import today_in
from analytics.selectors.freshness import provisional_since
from analytics.selectors.products import Inputs, UnitRates
from campaigns import optimize_selectors as selectors
from campaigns.bidding import HOLD, LOWER, RAISE, BidPolicy, propose_bids
from campaigns.budgets import allocate_budget
from campaigns.models import Channel, ProposalKind, SellerEvent, ToolRun
from campaigns.services.proposals import Proposed, proposals_create

CENT = Decimal("0.01")
# A budget that would move by less than this share of itself is left as it is.
BUDGET_MIN_CHANGE = 0.01
DEFAULT_MIN_BUDGET = Decimal("1.00")
# The store whose fee table prices a sale an ad channel brings. Google and Meta ads mostly send shoppers to the
# seller's own shop, taken to be Shopify.
CHANNEL_FEE_PLATFORM = {
    "amazon_ads": "amazon_sp",
    "ebay_pl": "ebay",
    "shopee_ads": "shopee",
    "tiktok_ads": "tiktok_shop",
    "google_ads": "shopify",
    "meta": "shopify",
}
BID_EVIDENCE = (
    "change_pct",
    "clicks",
    "orders",
    "cost",
    "sales",
    "acos",
    "smoothed_cvr",
    "smoothed_aov",
    "rpc",
    "target_acos",
    "days_used",
    "ignored_days",
)
PRODUCT_COLUMNS = ("price", "unit_cogs", "unit_fees")


class OptimizeError(ValueError):
    """A run or an entry that cannot be made as asked; the message is for the seller."""


@dataclass(frozen=True)
class BidRunInput:
    """What the seller chose for a bid run. Exactly one goal: ``target_acos`` (a fraction, 0.25 is 25 %),
    ``target_roas`` (4 means sales of 4 per 1 spent) or ``profit_target_margin`` (a fraction of the price to
    keep after ads, under each product's break-even ACoS). ``ignore_last_days`` None means each channel's
    restatement days. Empty ``channels``/``accounts`` mean all. ``as_of`` None means today."""

    target_acos: float | None = None
    target_roas: float | None = None
    profit_target_margin: float | None = None
    min_bid: float = 0.02
    max_bid: float | None = None
    max_step: float = 0.20
    ignore_last_days: int | None = None
    window_days: int = 30
    channels: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    as_of: date | None = None

    def __post_init__(self) -> None:
        self.policy(ignore_last_days=self.ignore_last_days or 0, as_of=self.as_of)  # raises on bad input

    @property
    def profit_mode(self) -> bool:
        return self.profit_target_margin is not None

    def policy(self, *, ignore_last_days: int, as_of: date | None) -> BidPolicy:
        return BidPolicy(
            target_acos=self.target_acos,
            target_roas=self.target_roas,
            profit_target_margin=self.profit_target_margin,
            min_bid=self.min_bid,
            max_bid=self.max_bid,
            max_step=self.max_step,
            ignore_last_days=ignore_last_days,
            as_of=as_of,
            window_days=self.window_days,
        )

    def parameters(self) -> dict:
        values = asdict(self)
        values["channels"], values["accounts"] = list(self.channels), list(self.accounts)
        values["as_of"] = self.as_of.isoformat() if self.as_of else None
        return values


def _plain(value):
    """A frame cell as a JSON-friendly Python value (NaN means no value)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- bids ---------------------------------------------------------------------------------------------------


def _ad_group_economics(organization: Organization, frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Price, unit cost of goods and unit fees per ad group (NaN where an input is missing), in the ad
    account's currency. Five queries: products, fees, taxes, costs, rates."""
    groups = frame.groupby("ad_group_pk", sort=False).agg(
        channel=("channel", "first"),
        marketplace=("marketplace", "first"),
        currency=("currency", "first"),
        sales=("sales", "sum"),
        units=("units", "sum"),
        orders=("orders", "sum"),
    )
    skus = selectors.ad_group_skus(organization=organization, ad_group_pks=groups.index.tolist())
    with organization_scope(organization):  # the profit selectors read through the scoped managers
        inputs = Inputs.load(organization)
    currencies = set(groups["currency"]) | inputs.currencies() | {"EUR"}
    rates = UnitRates.of(rates_frame(currencies, as_of, as_of, "EUR"), as_of, "EUR")

    def converted(amount: Decimal, source: str, target: str) -> float:
        value = rates.convert(amount, source, target)
        return math.nan if value is None else float(value)

    rows = []
    for ad_group_pk, group in groups.iterrows():
        marketplace = selectors.normalise_marketplace(group["marketplace"])
        currency = group["currency"]
        units = group["units"] if group["units"] > 0 else group["orders"]
        price = group["sales"] / units if units > 0 else math.nan
        costs = [inputs.cost(sku, marketplace) for sku in skus.get(ad_group_pk, [])]
        if costs and all(cost is not None for cost in costs):
            cogs = float(np.mean([converted(cost.unit_cost, cost.currency, currency) for cost in costs]))
        else:
            cogs = math.nan
        fee = inputs.fee(CHANNEL_FEE_PLATFORM.get(group["channel"], ""), marketplace)
        if fee is None or not math.isfinite(price):
            fees = math.nan
        else:
            orders_per_unit = group["orders"] / group["units"] if group["units"] > 0 else 1.0
            fixed = converted(fee.fixed_per_order, fee.currency, currency) * orders_per_unit
            fixed += converted(fee.fulfilment_per_unit, fee.currency, currency)
            tax = inputs.tax(marketplace)
            tax_share = float(tax.rate_pct / (100 + tax.rate_pct)) if tax and tax.prices_include_tax else 0.0
            fees = price * float(fee.referral_pct) / 100 + fixed + price * tax_share
        rows.append((ad_group_pk, price, cogs, fees))
    return pd.DataFrame(rows, columns=["ad_group_pk", *PRODUCT_COLUMNS]).set_index("ad_group_pk")


def _proposed_bids(
    frame: pd.DataFrame, *, policy_input: BidRunInput, as_of: date, ignored: dict[str, int]
) -> pd.DataFrame:
    """``propose_bids`` for each group of channels that leave out the same number of days, keyed by our
    target, ad group and campaign keys (unique across accounts)."""
    outputs = []
    for days in sorted(set(ignored.values())):
        part = frame[frame["channel"].isin([channel for channel, n in ignored.items() if n == days])]
        daily = pd.DataFrame(
            {
                "target_id": part["target_pk"],
                "ad_group_id": part["ad_group_pk"],
                "campaign_id": part["campaign_pk"],
                "bid": part["bid"],
                "date": part["date"],
                **{column: part[column] for column in ("impressions", "clicks", "cost", "orders", "sales")},
                **{column: part[column] for column in PRODUCT_COLUMNS if column in part},
            }
        )
        outputs.append(propose_bids(daily=daily, policy=policy_input.policy(ignore_last_days=days, as_of=as_of)))
    outputs = [output for output in outputs if not output.empty]
    if not outputs:
        return pd.DataFrame()
    return pd.concat(outputs, ignore_index=True)


def _bid_row(row: dict, *, profit_mode: bool, window: tuple[date, date]) -> dict:
    """One raise or lower of ``propose_bids`` (joined to its target's ``t_`` columns) as a Proposal row."""
    evidence = {name: _plain(row[name]) for name in BID_EVIDENCE}
    evidence.update(action=row["action"], window_start=window[0].isoformat(), window_end=window[1].isoformat())
    if profit_mode:
        evidence.update({name: _plain(round(float(row[f"t_{name}"]), 4)) for name in PRODUCT_COLUMNS})
    return {
        **{name: row[f"t_{name}"] for name in ("channel", "account_id", "marketplace", "currency", "campaign_id",
                                               "campaign_name", "ad_group_id", "ad_group_name", "text", "match_type")},
        "target_id": row["t_target_id"],
        "current_value": row["current_bid"] if row["current_bid"] > 0 else None,
        "proposed_value": row["proposed_bid"],
        "reason": row["reason"],
        "evidence": evidence,
    }  # fmt: skip


def bids_run(*, organization: Organization, actor: User | None, policy_input: BidRunInput) -> Proposed:
    """Propose new bids for the organization's keywords and targets from the window's results.

    Returns the run (``Proposed``): raises and lowers become ``bid`` proposals with the current and proposed
    bid in the account's currency, the evidence (clicks, orders, spend, sales, ACoS, smoothed rates, the
    target ACoS, days used and left out) and the reason; holds only count in ``run.summary``."""
    as_of = policy_input.as_of or today_in(organization.time_zone)
    start = as_of - timedelta(days=policy_input.window_days - 1)
    frame = selectors.target_daily_frame(
        organization=organization,
        start=start,
        end=as_of,
        channels=policy_input.channels,
        accounts=policy_input.accounts,
    )
    channels = sorted(set(frame["channel"]))
    if policy_input.ignore_last_days is not None:
        ignored = dict.fromkeys(channels, policy_input.ignore_last_days)
    else:
        ignored = selectors.provisional_days(
            organization=organization, as_of=as_of, channels=channels, window_days=policy_input.window_days
        )
    if policy_input.profit_mode and not frame.empty:
        economics = _ad_group_economics(organization, frame, as_of)
        frame = frame.join(economics, on="ad_group_pk")

    proposed = _proposed_bids(frame, policy_input=policy_input, as_of=as_of, ignored=ignored)
    actions = {RAISE: 0, LOWER: 0, HOLD: 0}
    rows = []
    if not proposed.empty:
        actions.update({action: int(count) for action, count in proposed["action"].value_counts().items()})
        names = [*selectors.TARGET_TEXT_COLUMNS, *(PRODUCT_COLUMNS if policy_input.profit_mode else ())]
        targets = frame.drop_duplicates("target_pk").set_index("target_pk")[names].add_prefix("t_")
        moves = proposed[proposed["action"] != HOLD].join(targets, on="target_id")
        rows = [
            _bid_row(row, profit_mode=policy_input.profit_mode, window=(start, as_of))
            for row in moves.to_dict("records")
        ]
    with transaction.atomic():
        result = proposals_create(
            organization=organization,
            tool=ToolRun.Tool.BIDS,
            kind=ProposalKind.BID,
            rows=rows,
            actor=actor,
            parameters=policy_input.parameters(),
            window=(start, as_of),
        )
        run = result.run
        run.summary = {
            **run.summary,
            "targets": len(proposed),
            "raise": actions[RAISE],
            "lower": actions[LOWER],
            "hold": actions[HOLD],
            "ignored_days": ignored,
        }
        run.save(update_fields=["summary", "updated_at"])
    return result


# --- budgets ------------------------------------------------------------------------------------------------


def _is_lifetime(budget_type: str) -> bool:
    kind = (budget_type or "").lower()
    return "lifetime" in kind or kind == "total"


def _allocate_keeping_small_changes(
    campaigns: pd.DataFrame, *, total: Decimal, min_budget: Decimal, seed: int
) -> tuple[pd.DataFrame, bool]:
    """``allocate_budget`` where a campaign that would move by less than ``BUDGET_MIN_CHANGE`` keeps its
    budget exactly and the others share the rest; returns the allocation and whether the kept budgets and
    the new ones add up to ``total`` (they do unless the kept budgets alone leave too little to share)."""
    current = np.round(campaigns["current_budget"].to_numpy(dtype="float64"), 2)
    frozen = np.zeros(len(campaigns), dtype=bool)
    result = None
    for _round in range(len(campaigns) + 1):
        limits = campaigns.assign(
            min_budget=np.where(frozen, current, float(min_budget)), max_budget=np.where(frozen, current, np.nan)
        )
        try:
            result = allocate_budget(campaigns=limits, daily_total=total, seed=seed)
        except ValueError:
            if result is None:
                raise
            return result, False
        proposed = np.array([float(value) for value in result["proposed_budget"]])
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(current > 0, np.abs(proposed - current) / current, np.where(proposed > 0, 1.0, 0.0))
        small = ~frozen & (relative < BUDGET_MIN_CHANGE)
        if not small.any():
            return result, True
        frozen |= small
    return result, True


def budgets_run(
    *,
    organization: Organization,
    actor: User | None,
    daily_total: Decimal | float | int | str,
    currency: str,
    channels: tuple[str, ...] | list[str] = (),
    min_budget: Decimal = DEFAULT_MIN_BUDGET,
    window_days: int = 30,
    as_of: date | None = None,
    seed: int = 0,
) -> Proposed:
    """Split ``daily_total`` (in ``currency``) across the organization's serving campaigns in that currency
    (optionally of some channels) by how likely each is to return the most, and propose the new budgets.

    Returns the run (``Proposed``): one ``budget`` proposal per campaign whose budget moves by 1 % or more,
    with the current and proposed budget, the evidence (window spend, sales, orders, clicks, ROAS and its
    90 % interval, chance of the best ROAS) and the reason. ``run.summary`` counts the campaigns left out and
    why. Raises ``OptimizeError`` when no campaign qualifies or ``min_budget`` each exceeds the total."""
    total = Decimal(str(daily_total)).quantize(CENT, rounding=ROUND_HALF_UP)
    currency = currency.strip().upper()
    min_budget = Decimal(str(min_budget)).quantize(CENT, rounding=ROUND_HALF_UP)
    if total <= 0:
        raise OptimizeError(_("The daily total must be more than 0."))
    as_of = as_of or today_in(organization.time_zone)
    since = provisional_since(organization=organization, today=as_of)
    # Provisional days would count spend without its orders: the window ends before the first of them.
    waited = set(channels) if channels else set(Channel.values)
    relevant = [day for key, day in since.items() if key in waited]
    end = min(relevant) - timedelta(days=1) if relevant else as_of
    start = end - timedelta(days=window_days - 1)
    frame = selectors.campaign_window_frame(organization=organization, start=start, end=end, channels=channels)

    states = frame["state"].fillna("").str.lower()
    same_currency = frame["currency"].str.upper() == currency
    serving = ~states.isin(selectors.INACTIVE_STATES)
    has_budget = frame["budget"].notna()
    daily = ~frame["budget_type"].map(_is_lifetime).astype(bool)
    eligible = same_currency & serving & has_budget & daily
    left_out = {
        "other_currency": frame.loc[~same_currency, "currency"].str.upper().value_counts().sort_index().to_dict(),
        "not_serving": int((same_currency & ~serving).sum()),
        "no_budget": int((same_currency & serving & ~has_budget).sum()),
        "lifetime_budget": int((same_currency & serving & has_budget & ~daily).sum()),
    }
    chosen = frame[eligible].reset_index(drop=True)
    if chosen.empty:
        raise OptimizeError(
            _("No serving campaign with a daily budget in %(currency)s to share the budget between.")
            % {"currency": currency}
        )
    if min_budget * len(chosen) > total:
        raise OptimizeError(
            _(
                "A minimum of %(minimum)s for each of the %(count)s campaigns adds up to more than the daily "
                "total of %(total)s."
            )
            % {"minimum": min_budget, "count": len(chosen), "total": total}
        )
    campaigns = pd.DataFrame(
        {
            "campaign_id": chosen["campaign_pk"],
            "current_budget": chosen["budget"],
            "spend": chosen["spend"],
            "sales": chosen["sales"],
            "orders": chosen["orders"],
            "clicks": chosen["clicks"],
        }
    )
    allocation, total_kept = _allocate_keeping_small_changes(campaigns, total=total, min_budget=min_budget, seed=seed)

    rows = []
    for campaign, result in zip(chosen.to_dict("records"), allocation.to_dict("records"), strict=True):
        current, proposed = result["current_budget"], result["proposed_budget"]
        if current == proposed or (current > 0 and abs(proposed - current) / current < Decimal(BUDGET_MIN_CHANGE)):
            continue
        spend, sales = campaign["spend"], campaign["sales"]
        rows.append(
            {
                "channel": campaign["channel"],
                "account_id": campaign["account_id"],
                "marketplace": campaign["marketplace"],
                "campaign_id": campaign["campaign_id"],
                "campaign_name": campaign["campaign_name"],
                "current_value": current,
                "proposed_value": proposed,
                "currency": campaign["currency"],
                "reason": result["reason"],
                "evidence": {
                    "shift": _plain(float(result["shift"])),
                    "spend": round(float(spend), 2),
                    "sales": round(float(sales), 2),
                    "orders": int(campaign["orders"]),
                    "clicks": int(campaign["clicks"]),
                    "roas": round(sales / spend, 4) if spend > 0 else None,
                    "p_best": _plain(result["p_best"]),
                    "roas_mean": result["roas_mean"],
                    "roas_p05": result["roas_p05"],
                    "roas_p95": result["roas_p95"],
                    "daily_total": float(total),
                    "window_start": start.isoformat(),
                    "window_end": end.isoformat(),
                },
            }
        )
    parameters = {
        "daily_total": str(total),
        "currency": currency,
        "channels": list(channels),
        "min_budget": str(min_budget),
        "window_days": window_days,
        "as_of": as_of.isoformat(),
    }
    with transaction.atomic():
        outcome = proposals_create(
            organization=organization,
            tool=ToolRun.Tool.BUDGETS,
            kind=ProposalKind.BUDGET,
            rows=rows,
            actor=actor,
            parameters=parameters,
            window=(start, end),
        )
        run = outcome.run
        run.summary = {
            **run.summary,
            "currency": currency,
            "daily_total": str(total),
            "campaigns": len(chosen),
            "changed": len(rows),
            "unchanged": len(chosen) - len(rows),
            "total_kept": total_kept,
            "left_out": left_out,
        }
        run.save(update_fields=["summary", "updated_at"])
    return outcome


# --- the seller's own events --------------------------------------------------------------------------------


@transaction.atomic
def seller_event_add(
    *, organization: Organization, actor: User | None, key: str, marketplace: str, start: date, end: date
) -> SellerEvent:
    """Record a date only the seller knows (Prime Day in one marketplace, a store's own sale). Raises
    ``OptimizeError`` when it ends before it starts, or the same event already starts that day there."""
    if key not in selectors.SELLER_EVENT_NAMES:
        raise OptimizeError(_("Choose one of the listed events."))
    if end < start:
        raise OptimizeError(_("The event ends before it starts."))
    marketplace = selectors.normalise_marketplace(marketplace)
    try:
        with transaction.atomic():
            event = SellerEvent.unscoped_objects.create(
                organization=organization, key=key, marketplace=marketplace, start=start, end=end
            )
    except IntegrityError as exc:
        raise OptimizeError(
            _("%(event)s in %(marketplace)s starting on that day is already in the calendar.")
            % {"event": selectors.SELLER_EVENT_NAMES[key], "marketplace": marketplace}
        ) from exc
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.seller_event_added",
        target=event,
        data={"key": key, "marketplace": marketplace, "start": start.isoformat(), "end": end.isoformat()},
    )
    return event


@transaction.atomic
def seller_event_delete(*, organization: Organization, actor: User | None, event: SellerEvent) -> None:
    """Remove one of the seller's events from the calendar."""
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.seller_event_deleted",
        target=event,
        data={"key": event.key, "marketplace": event.marketplace, "start": event.start.isoformat()},
    )
    SellerEvent.unscoped_objects.filter(organization=organization, pk=event.pk).delete()
