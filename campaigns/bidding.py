"""Bid proposals per target (keyword or product target) from its recent results.

A target's bid should buy a click for what the click is worth at the seller's target ACoS::

    ideal bid = target ACoS x expected revenue per click (RPC)

Most targets have few clicks, so their own conversion rate and order value are mostly noise. Both are
shrunk toward the pooled values of the target's ad group, and the ad group's toward its campaign's, with an
empirical-Bayes prior worth ``prior_strength_clicks`` pseudo-clicks (a beta-binomial prior for the
conversion rate)::

    smoothed CVR = (orders + k x prior CVR) / (clicks + k)
    smoothed AOV = (sales + k x prior CVR x prior AOV) / (orders + k x prior CVR)
    RPC          = smoothed CVR x smoothed AOV = (sales + k x prior RPC) / (clicks + k)

The k pseudo-clicks carry the prior's expected orders (k x prior CVR) at the prior's order value, so the
order value is shrunk by the weight of orders it actually has. A keyword with 3 clicks lands close to its
group; one with 300 clicks is nearly its own numbers. The pooled values include the target itself.

The ideal bid is not applied at once: each run moves a bid at most ``max_step`` (20 %) of the current bid,
and by proportionally less while the target has fewer than ``min_clicks`` clicks of its own (5 clicks of
10: at most 10 %). The result is kept within ``[min_bid, max_bid]`` and rounded to the cent. So a target
with a huge ACoS is lowered step by step, and one that has clicks but no order while neither its ad group
nor its campaign has any order either (revenue per click 0) is lowered by the full step, never below
``min_bid``.

Days: the window is the ``window_days`` days ending on ``as_of``. Its last ``ignore_last_days`` days are
left out, because platforms still restate conversions for them (Amazon up to 14 days) and a half-counted
day looks like a day without orders.

Edge cases, each deliberate:
- No click in the window (whatever the impressions): there is no evidence about the value of a click, so
  the bid is kept ("hold"). A bid outside ``[min_bid, max_bid]`` is still brought inside.
- No current bid (missing or 0): there is nothing to step from, so the target starts at the ideal bid from
  its smoothed RPC (its group's when it has no clicks), or at ``min_bid`` when nothing is known.
- Profit-aware mode: the target ACoS is the product's break-even ACoS, ``(price - cogs - fees) / price``,
  less ``profit_target_margin`` (never below 0). A target whose product has no price or unit costs keeps
  its bid: a guessed target could overspend.
- Outputs contain no NaN: a ratio that is undefined (ACoS without sales, AOV without orders) is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

REQUIRED_COLUMNS = (
    "target_id",
    "ad_group_id",
    "campaign_id",
    "bid",
    "date",
    "impressions",
    "clicks",
    "cost",
    "orders",
    "sales",
)
PRODUCT_COLUMNS = ("unit_cogs", "unit_fees", "price")
NUMERIC_COLUMNS = ("impressions", "clicks", "cost", "orders", "sales")

OUTPUT_COLUMNS = [
    "target_id",
    "ad_group_id",
    "campaign_id",
    "current_bid",
    "proposed_bid",
    "change_pct",
    "action",
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
    "reason",
]

RAISE, LOWER, HOLD = "raise", "lower", "hold"

# Why a proposal is what it is; each has its own sentence in ``_reason``.
_NO_CLICKS, _NO_TARGET, _NO_BID, _NO_ORDERS, _AT_MIN, _AT_MAX, _STEP, _THIN, _IDEAL = range(9)


@dataclass(frozen=True)
class BidPolicy:
    """How bids are proposed. Exactly one of ``target_acos``, ``target_roas``, ``profit_target_margin``.

    Rates are fractions (``target_acos=0.25`` is 25 %; ``target_roas=4`` means a target ACoS of 0.25;
    ``profit_target_margin=0.10`` aims 10 points below each product's break-even ACoS). ``max_step`` is the
    largest relative change per run. ``as_of`` is the last day of the window; ``None`` takes the latest
    date in the data.
    """

    target_acos: float | None = None
    target_roas: float | None = None
    profit_target_margin: float | None = None
    min_bid: float = 0.02
    max_bid: float | None = None
    max_step: float = 0.20
    min_clicks: int = 10
    prior_strength_clicks: float = 30.0
    ignore_last_days: int = 0
    as_of: date | None = None
    window_days: int = 30

    def __post_init__(self) -> None:
        targets = [self.target_acos, self.target_roas, self.profit_target_margin]
        if sum(value is not None for value in targets) != 1:
            raise ValueError("Set exactly one of target_acos, target_roas and profit_target_margin.")
        if self.target_acos is not None and not self.target_acos > 0:
            raise ValueError("target_acos must be positive.")
        if self.target_roas is not None and not self.target_roas > 0:
            raise ValueError("target_roas must be positive.")
        if self.profit_target_margin is not None and not 0 <= self.profit_target_margin < 1:
            raise ValueError("profit_target_margin must be in [0, 1).")
        if not self.min_bid >= 0:
            raise ValueError("min_bid must not be negative.")
        if self.max_bid is not None and not self.max_bid >= self.min_bid:
            raise ValueError("max_bid must not be below min_bid.")
        if not 0 <= self.max_step < 1:
            raise ValueError("max_step must be in [0, 1).")
        if self.min_clicks < 0 or self.prior_strength_clicks < 0:
            raise ValueError("min_clicks and prior_strength_clicks must not be negative.")
        if self.window_days < 1 or not 0 <= self.ignore_last_days < self.window_days:
            raise ValueError("Need window_days >= 1 and 0 <= ignore_last_days < window_days.")

    @property
    def fixed_target_acos(self) -> float | None:
        """The target ACoS shared by every target, or None in profit-aware mode."""
        if self.target_acos is not None:
            return float(self.target_acos)
        if self.target_roas is not None:
            return 1.0 / float(self.target_roas)
        return None


def propose_bids(*, daily: pd.DataFrame, policy: BidPolicy) -> pd.DataFrame:
    """One bid proposal per target in ``daily``, with the evidence behind it.

    ``daily`` has one row per (target_id, date): target_id, ad_group_id, campaign_id, bid (the bid that
    day), date, impressions, clicks, cost, orders, sales, and in profit-aware mode unit_cogs, unit_fees and
    price. Rows after ``as_of`` are not used at all. The current bid is the one on the target's latest row.

    Returns a frame with ``OUTPUT_COLUMNS``, sorted by campaign, ad group and target: current_bid (0.0 when
    there is none) and proposed_bid (money per click, rounded to 0.01), change_pct (percent, +20.0 is a 20 % raise;
    None without a current bid), action ("raise", "lower" or "hold"), the window's clicks, orders, cost and
    sales, acos, smoothed_cvr, smoothed_aov, rpc (expected revenue per click) and target_acos (fractions or
    money, None when undefined), days_used and ignored_days (days with rows, used or left out as
    provisional) and a translated ``reason`` that quotes the numbers.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in daily.columns]
    profit_mode = policy.fixed_target_acos is None
    if profit_mode:
        missing += [column for column in PRODUCT_COLUMNS if column not in daily.columns]
    if missing:
        raise ValueError(f"daily is missing columns: {', '.join(missing)}")
    if daily.empty:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in OUTPUT_COLUMNS})

    frame = daily.copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.normalize()
    for column in ("bid", *(PRODUCT_COLUMNS if profit_mode else ())):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("float64")
    as_of = pd.Timestamp(policy.as_of) if policy.as_of is not None else frame["date"].max()
    frame = frame[frame["date"] <= as_of].sort_values("date", kind="stable")
    if frame.empty:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in OUTPUT_COLUMNS})

    last_used_day = as_of - pd.Timedelta(days=policy.ignore_last_days)
    first_day = as_of - pd.Timedelta(days=policy.window_days - 1)
    used = frame[(frame["date"] >= first_day) & (frame["date"] <= last_used_day)]
    provisional = frame[frame["date"] > last_used_day]

    # Identity and current bid from each target's latest row; product data from its latest known values.
    targets = frame.groupby("target_id", sort=False).agg(
        ad_group_id=("ad_group_id", "last"), campaign_id=("campaign_id", "last"), current_bid=("bid", "last")
    )
    sums = used.groupby("target_id", sort=False)[list(NUMERIC_COLUMNS)].sum()
    targets = targets.join(sums).fillna(dict.fromkeys(NUMERIC_COLUMNS, 0.0))
    targets["days_used"] = used.groupby("target_id", sort=False)["date"].nunique()
    targets["ignored_days"] = provisional.groupby("target_id", sort=False)["date"].nunique()
    targets[["days_used", "ignored_days"]] = targets[["days_used", "ignored_days"]].fillna(0).astype("int64")
    targets = targets.reset_index()

    if profit_mode:
        product = frame.groupby("target_id", sort=False)[list(PRODUCT_COLUMNS)].last()
        product = product.reindex(targets["target_id"]).to_numpy(dtype="float64")
        cogs, fees, price = product[:, 0], product[:, 1], product[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            break_even = np.where(price > 0, (price - cogs - fees) / price, np.nan)
        target_acos = np.maximum(break_even - float(policy.profit_target_margin), 0.0)
    else:
        target_acos = np.full(len(targets), policy.fixed_target_acos)

    cvr, aov, rpc = _smoothed_rates(targets, k=float(policy.prior_strength_clicks))
    proposed, cause = _propose(targets, policy=policy, target_acos=target_acos, rpc=rpc)

    current = targets["current_bid"].to_numpy(dtype="float64")
    has_bid = np.isfinite(current) & (current > 0)
    difference = proposed - np.where(has_bid, current, 0.0)
    action = np.select([difference > 1e-9, difference < -1e-9], [RAISE, LOWER], HOLD)
    with np.errstate(invalid="ignore", divide="ignore"):
        change_pct = np.round((proposed - current) / current * 100, 1)
        acos = targets["cost"].to_numpy() / targets["sales"].to_numpy()

    out = pd.DataFrame(
        {
            "target_id": targets["target_id"],
            "ad_group_id": targets["ad_group_id"],
            "campaign_id": targets["campaign_id"],
            "current_bid": np.where(has_bid, current, 0.0),
            "proposed_bid": proposed,
            "change_pct": _none_where_undefined(np.where(has_bid, change_pct, np.nan)),
            "action": action,
            "clicks": np.rint(targets["clicks"]).astype("int64"),
            "orders": np.rint(targets["orders"]).astype("int64"),
            "cost": np.round(targets["cost"], 2),
            "sales": np.round(targets["sales"], 2),
            "acos": _none_where_undefined(np.round(acos, 4)),
            "smoothed_cvr": _none_where_undefined(np.round(cvr, 4)),
            "smoothed_aov": _none_where_undefined(np.round(aov, 2)),
            "rpc": _none_where_undefined(np.round(rpc, 4)),
            "target_acos": _none_where_undefined(np.round(target_acos, 4)),
            "days_used": targets["days_used"],
            "ignored_days": targets["ignored_days"],
        }
    )
    ideal = np.round(target_acos * rpc, 2)
    out["reason"] = [
        _reason(row, cause=int(c), ideal=float(i), policy=policy)
        for row, c, i in zip(out.itertuples(index=False), cause, ideal, strict=True)
    ]
    out = out.sort_values(["campaign_id", "ad_group_id", "target_id"], kind="stable").reset_index(drop=True)
    return out[OUTPUT_COLUMNS]


def _shrink(numerator: np.ndarray, denominator: np.ndarray, prior: np.ndarray, k: float) -> np.ndarray:
    """(numerator + k x prior) / (denominator + k); the prior counts only where it is known."""
    weight = np.where(np.isfinite(prior), k, 0.0)
    top = numerator + weight * np.nan_to_num(prior)
    bottom = denominator + weight
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / bottom, np.nan)


def _smoothed_rates(targets: pd.DataFrame, *, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed conversion rate, order value and revenue per click per target (NaN where undefined)."""
    columns = ["clicks", "orders", "sales"]
    group = targets.groupby(["campaign_id", "ad_group_id"], sort=False)[columns].transform("sum")
    campaign = targets.groupby("campaign_id", sort=False)[columns].transform("sum")
    no_prior = np.full(len(targets), np.nan)

    def level(sums: pd.DataFrame, prior_cvr: np.ndarray, prior_rpc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clicks, orders, sales = (sums[column].to_numpy(dtype="float64") for column in columns)
        return _shrink(orders, clicks, prior_cvr, k), _shrink(sales, clicks, prior_rpc, k)

    campaign_cvr, campaign_rpc = level(campaign, no_prior, no_prior)
    group_cvr, group_rpc = level(group, campaign_cvr, campaign_rpc)
    cvr, rpc = level(targets, group_cvr, group_rpc)
    with np.errstate(invalid="ignore", divide="ignore"):
        aov = np.where(cvr > 0, rpc / cvr, np.nan)
    return cvr, aov, rpc


def _propose(
    targets: pd.DataFrame, *, policy: BidPolicy, target_acos: np.ndarray, rpc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Proposed bids (rounded to the cent) and the cause code that explains each."""
    current = targets["current_bid"].to_numpy(dtype="float64")
    clicks = targets["clicks"].to_numpy(dtype="float64")
    has_bid = np.isfinite(current) & (current > 0)
    current = np.where(has_bid, current, 0.0)
    ideal = target_acos * rpc  # NaN without a target or without any clicks in the campaign
    known = np.isfinite(ideal)

    evidence = 1.0 if policy.min_clicks == 0 else np.minimum(clicks / policy.min_clicks, 1.0)
    step = policy.max_step * evidence
    stepped = np.clip(np.nan_to_num(ideal), current * (1 - step), current * (1 + step))

    moves = has_bid & (clicks > 0) & known
    starts = ~has_bid
    unbounded = np.select(
        [moves, starts & known, starts],
        [stepped, ideal, policy.min_bid],
        current,
    )
    low = math.ceil(round(policy.min_bid * 100, 6)) / 100
    high = np.inf if policy.max_bid is None else math.floor(round(policy.max_bid * 100, 6)) / 100
    proposed = np.clip(np.round(np.clip(unbounded, policy.min_bid, high), 2), low, high)

    unbounded_cents = np.rint(unbounded * 100)
    proposed_cents = np.rint(proposed * 100)
    orders = targets["orders"].to_numpy(dtype="float64")
    no_sales_anywhere = (rpc == 0) & (orders == 0) & (policy.prior_strength_clicks > 0)
    cause = np.select(
        [
            starts,
            clicks == 0,
            ~known,
            no_sales_anywhere,
            proposed_cents > unbounded_cents,
            proposed_cents < unbounded_cents,
            stepped != np.nan_to_num(ideal),
        ],
        [_NO_BID, _NO_CLICKS, _NO_TARGET, _NO_ORDERS, _AT_MIN, _AT_MAX, np.where(step < policy.max_step, _THIN, _STEP)],
        _IDEAL,
    )
    return proposed, cause


def _none_where_undefined(values) -> np.ndarray:
    """An object array of floats, with None where the value is NaN or infinite (so the output holds no NaN)."""
    floats = np.asarray(values, dtype="float64")
    out = np.empty(len(floats), dtype=object)
    out[:] = [float(value) if math.isfinite(value) else None for value in floats]
    return out


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _reason(row, *, cause: int, ideal: float, policy: BidPolicy) -> str:
    """A sentence a seller reads: what the target did and why the proposal follows from it."""
    values = {
        "clicks": row.clicks,
        "orders": row.orders,
        "cost": _money(row.cost),
        "acos": _percent(row.acos),
        "target": _percent(row.target_acos),
        "rpc": _money(row.rpc),
        "ideal": _money(ideal if math.isfinite(ideal) else None),
        "current": _money(row.current_bid),
        "proposed": _money(row.proposed_bid),
        "window": policy.window_days - policy.ignore_last_days,
        "step": _percent(policy.max_step),
        "min_clicks": policy.min_clicks,
        "min_bid": _money(policy.min_bid),
    }
    if cause == _NO_CLICKS:
        return ngettext(
            "No clicks in the last %(days)s day: no evidence to change the bid of %(proposed)s.",
            "No clicks in the last %(days)s days: no evidence to change the bid of %(proposed)s.",
            values["window"],
        ) % {**values, "days": values["window"]}
    if cause == _NO_TARGET:
        return _("No price and unit costs for this product, so no profit target: bid kept at %(proposed)s.") % values
    if cause == _NO_BID:
        if row.rpc is None or row.target_acos is None:
            return _("No current bid and no results to price a click: starting at the minimum, %(proposed)s.") % values
        return (
            _(
                "No current bid: starting at %(proposed)s from %(rpc)s expected revenue per click "
                "at a %(target)s target ACoS."
            )
            % values
        )
    if cause == _AT_MIN:
        return (
            _(
                "%(clicks)s clicks, %(orders)s orders, ACoS %(acos)s against a %(target)s target: "
                "ideal bid %(ideal)s, held at the minimum bid %(proposed)s (was %(current)s)."
            )
            % values
        )
    if cause == _AT_MAX:
        return (
            _(
                "%(clicks)s clicks, %(orders)s orders, ACoS %(acos)s against a %(target)s target: "
                "ideal bid %(ideal)s, held at the maximum bid %(proposed)s (was %(current)s)."
            )
            % values
        )
    if cause == _NO_ORDERS:
        return (
            _(
                "%(clicks)s clicks and %(cost)s spent without a sale, and none in its ad group or campaign "
                "either: bid %(proposed)s (was %(current)s), lowered by up to %(step)s per run and never "
                "below %(min_bid)s."
            )
            % values
        )
    if cause == _STEP:
        return (
            _(
                "%(clicks)s clicks, %(orders)s orders, ACoS %(acos)s against a %(target)s target: "
                "ideal bid %(ideal)s, moved at most %(step)s per run, from %(current)s to %(proposed)s."
            )
            % values
        )
    if cause == _THIN:
        return (
            _(
                "%(clicks)s clicks, %(orders)s orders, ACoS %(acos)s against a %(target)s target: "
                "ideal bid %(ideal)s; with fewer than %(min_clicks)s clicks the move is smaller, "
                "from %(current)s to %(proposed)s."
            )
            % values
        )
    if row.action == HOLD:
        return (
            _(
                "%(clicks)s clicks, %(orders)s orders, ACoS %(acos)s against a %(target)s target: "
                "ideal bid %(ideal)s, so the bid stays at %(proposed)s."
            )
            % values
        )
    return (
        _(
            "%(clicks)s clicks, %(orders)s orders, ACoS %(acos)s against a %(target)s target: "
            "ideal bid %(ideal)s, so from %(current)s to %(proposed)s."
        )
        % values
    )
