"""Split a daily budget across campaigns by how likely each is to return the most per unit of spend.

Model (conjugate, so sampling is exact and cheap). For campaign i over the window:

- Orders arrive as a Poisson process in spend: ``orders_i ~ Poisson(rate_i x spend_i)``, with a Gamma prior
  on ``rate_i`` (orders per unit of spend). The prior is empirical Bayes: its mean is the pooled rate of all
  the campaigns and it weighs ``prior_orders`` orders, so a campaign with little spend sits near the
  portfolio's rate and one with hundreds of orders is judged on its own. Posterior:
  ``Gamma(prior_orders + orders_i, prior_orders / pooled_rate + spend_i)``.
- Order values are Gamma with shape ``ORDER_VALUE_SHAPE`` (2: a coefficient of variation of about 0.7) and an
  unknown rate, whose Gamma prior is centred on the pooled average order value with the same weight of
  ``prior_orders`` orders. Posterior: ``Gamma(2 x (prior_orders + orders_i), prior_orders x pooled AOV +
  sales_i)``, and AOV = 2 / rate.
- ROAS = rate x AOV. ``draws`` joint samples give each campaign's posterior mean and 90 % interval, and
  ``p_best``: the share of draws in which it has the highest ROAS (Thompson sampling's probability of
  being the best arm). Campaigns with the same evidence get the same ``p_best`` (their win rates are averaged).

Allocation: each campaign's weight is ``min_share / n + (1 - min_share) x p_best``, so a fraction
``min_share`` of the budget is spread evenly and no campaign starves (a new one keeps learning), and the rest
goes where the best return most likely is. Per-campaign ``min_budget`` / ``max_budget`` are hard limits:
the weights are scaled by one common factor, clipped to the limits, with the factor chosen so the total is
met; what a capped campaign cannot take flows to the others in proportion to their weights. Finally the
amounts are rounded to cents by largest remainder, so they add up to ``daily_total`` exactly.

Average ROAS stands in for the marginal return of the next unit of spend: the model assumes returns do not
fall as a campaign spends more. ``max_budget`` is how a seller marks where a campaign saturates (its
impressions run out), and ``min_share`` keeps the split from going all-in on one campaign.

With no order in any campaign there is no order value to put on a sale: ``p_best`` still ranks the order
rates (pooled with half an order so less spend without a sale looks less bad), but the ROAS figures are
None.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

REQUIRED_COLUMNS = ("campaign_id", "current_budget", "spend", "sales", "orders", "clicks")
OUTPUT_COLUMNS = [
    "campaign_id",
    "current_budget",
    "proposed_budget",
    "shift",
    "p_best",
    "roas_mean",
    "roas_p05",
    "roas_p95",
    "reason",
]
ORDER_VALUE_SHAPE = 2.0
CENT = Decimal("0.01")


def allocate_budget(
    *,
    campaigns: pd.DataFrame,
    daily_total: Decimal | float | int | str,
    draws: int = 4000,
    seed: int = 0,
    min_share: float = 0.2,
    prior_orders: float = 2.0,
) -> pd.DataFrame:
    """Proposed daily budgets for ``campaigns`` that add up to ``daily_total`` to the cent.

    ``campaigns`` has one row per campaign: campaign_id, current_budget, and the window's spend, sales,
    orders and clicks (all in one currency), optionally min_budget and max_budget (empty: no limit).
    ``daily_total`` is rounded to cents. ``min_share`` (0 to 1) is the fraction of the budget spread evenly
    before the rest follows ``p_best``. The same inputs and ``seed`` always give the same result.

    Returns one row per campaign in input order: current_budget, proposed_budget and shift (``Decimal``
    money, cents), p_best (0 to 1), roas_mean, roas_p05 and roas_p95 (posterior mean and 90 % interval of
    ROAS; None when no campaign has any order) and a translated ``reason`` quoting the numbers.

    Raises ValueError on missing columns, duplicate or negative inputs, or limits that cannot be met
    (minimums above the total, maximums below it).
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in campaigns.columns]
    if missing:
        raise ValueError(f"campaigns is missing columns: {', '.join(missing)}")
    if draws < 1:
        raise ValueError("draws must be at least 1.")
    if not 0 <= min_share <= 1:
        raise ValueError("min_share must be in [0, 1].")
    if not prior_orders > 0:
        raise ValueError("prior_orders must be positive.")
    total = Decimal(str(daily_total)).quantize(CENT, rounding=ROUND_HALF_UP)
    if total < 0:
        raise ValueError("daily_total must not be negative.")
    if campaigns["campaign_id"].duplicated().any():
        raise ValueError("campaign_id must be unique.")
    total_cents = int(total * 100)
    n = len(campaigns)
    if n == 0:
        if total_cents:
            raise ValueError("No campaign to give the budget to.")
        return pd.DataFrame({column: pd.Series(dtype=object) for column in OUTPUT_COLUMNS})

    spend, sales, orders, clicks = (_amounts(campaigns, column) for column in ("spend", "sales", "orders", "clicks"))
    low, high = _limits(campaigns)
    if low.sum() > total_cents:
        raise ValueError("The minimum budgets add up to more than daily_total.")
    if high.sum() < total_cents:
        raise ValueError("The maximum budgets add up to less than daily_total.")

    roas = _sample_roas(spend=spend, sales=sales, orders=orders, draws=draws, seed=seed, prior_orders=prior_orders)
    wins = np.bincount(np.argmax(roas, axis=1), minlength=n) / draws
    # Identical evidence means identical posteriors: share their wins so sampling noise does not pick one.
    evidence = pd.DataFrame({"spend": spend, "sales": sales, "orders": orders})
    p_best = pd.Series(wins).groupby([evidence[column] for column in evidence.columns]).transform("mean").to_numpy()
    weights = min_share / n + (1 - min_share) * p_best
    cents = _round_to_total(_fill(weights=weights, low=low, high=high, total=total_cents), low, high, total_cents)

    no_orders_anywhere = orders.sum() == 0
    roas_mean = roas.mean(axis=0)
    roas_p05, roas_p95 = np.quantile(roas, [0.05, 0.95], axis=0)
    current = [_to_money(value) for value in campaigns["current_budget"]]
    proposed = [Decimal(int(value)).scaleb(-2) for value in cents]
    out = pd.DataFrame(
        {
            "campaign_id": campaigns["campaign_id"].to_numpy(),
            "current_budget": _objects(current),
            "proposed_budget": _objects(proposed),
            "shift": _objects([new - old for new, old in zip(proposed, current, strict=True)]),
            "p_best": np.round(p_best, 4),
            "roas_mean": _objects([None if no_orders_anywhere else round(float(v), 2) for v in roas_mean]),
            "roas_p05": _objects([None if no_orders_anywhere else round(float(v), 2) for v in roas_p05]),
            "roas_p95": _objects([None if no_orders_anywhere else round(float(v), 2) for v in roas_p95]),
        }
    )
    no_data = (spend == 0) & (clicks == 0) & (orders == 0)
    at_max = np.isfinite(high) & (cents == high)
    at_min = (low > 0) & (cents == low)
    out["reason"] = [
        _reason(row, no_data=bool(a), at_max=bool(b), at_min=bool(c))
        for row, a, b, c in zip(out.itertuples(index=False), no_data, at_max, at_min, strict=True)
    ]
    return out[OUTPUT_COLUMNS]


def _amounts(campaigns: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(campaigns[column], errors="coerce").fillna(0).to_numpy(dtype="float64")
    if (values < 0).any():
        raise ValueError(f"{column} must not be negative.")
    return values


def _limits(campaigns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-campaign minimum and maximum in cents (minimums rounded up, maximums down; no maximum: inf)."""
    n = len(campaigns)
    low = np.zeros(n)
    high = np.full(n, np.inf)
    if "min_budget" in campaigns.columns:
        values = pd.to_numeric(campaigns["min_budget"], errors="coerce").to_numpy(dtype="float64")
        low = np.where(np.isfinite(values), np.ceil(np.round(np.maximum(values, 0) * 100, 6)), 0.0)
    if "max_budget" in campaigns.columns:
        values = pd.to_numeric(campaigns["max_budget"], errors="coerce").to_numpy(dtype="float64")
        high = np.where(np.isfinite(values), np.floor(np.round(values * 100, 6)), np.inf)
    if (high < low).any():
        raise ValueError("max_budget must not be below min_budget.")
    return low, high


def _sample_roas(
    *, spend: np.ndarray, sales: np.ndarray, orders: np.ndarray, draws: int, seed: int, prior_orders: float
) -> np.ndarray:
    """Posterior ROAS draws, shape (draws, campaigns)."""
    total_spend, total_orders, total_sales = spend.sum(), orders.sum(), sales.sum()
    # No spend anywhere: every campaign has the same prior, so its scale does not matter.
    pooled_rate = max(total_orders, 0.5) / total_spend if total_spend > 0 else 1.0
    pooled_aov = total_sales / total_orders if total_orders > 0 and total_sales > 0 else 1.0
    rng = np.random.default_rng(seed)
    size = (draws, len(spend))
    rate = rng.gamma(prior_orders + orders, 1.0 / (prior_orders / pooled_rate + spend), size=size)
    value_rate = rng.gamma(
        ORDER_VALUE_SHAPE * (prior_orders + orders), 1.0 / (prior_orders * pooled_aov + sales), size=size
    )
    return rate * ORDER_VALUE_SHAPE / value_rate


def _fill(*, weights: np.ndarray, low: np.ndarray, high: np.ndarray, total: float) -> np.ndarray:
    """clip(factor x weights, low, high) with the one factor that makes it add up to ``total``.

    The sum is piecewise linear and non-decreasing in the factor, so it is evaluated at every breakpoint
    (where a campaign reaches its minimum or maximum) and interpolated exactly in the bracketing segment.
    """
    weights = weights + 1e-12  # a campaign without weight still takes money once all others are capped
    breakpoints = np.concatenate([[0.0], low / weights, high / weights])
    breakpoints = np.unique(breakpoints[np.isfinite(breakpoints)])
    sums = np.clip(breakpoints[:, None] * weights, low, high).sum(axis=1)
    reached = np.flatnonzero(sums >= total)
    if reached.size == 0:  # beyond the last breakpoint only campaigns without a maximum still grow
        slope = weights[np.isinf(high)].sum()
        factor = breakpoints[-1] + (total - sums[-1]) / slope
    elif reached[0] == 0:
        factor = breakpoints[0]
    else:
        k = reached[0]
        span = sums[k] - sums[k - 1]
        factor = breakpoints[k - 1] + (total - sums[k - 1]) / span * (breakpoints[k] - breakpoints[k - 1])
    return np.clip(factor * weights, low, high)


def _round_to_total(amounts: np.ndarray, low: np.ndarray, high: np.ndarray, total: int) -> np.ndarray:
    """Whole cents by largest remainder, adding up to ``total`` and staying within the limits."""
    amounts = np.clip(np.round(amounts, 6), low, high)
    cents = np.floor(amounts)
    remainders = amounts - cents
    left = total - int(cents.sum())
    if left > 0:
        order = np.argsort(-remainders, kind="stable")
        room = order[cents[order] < high[order]]
        cents[room[:left]] += 1
    elif left < 0:
        order = np.argsort(remainders, kind="stable")
        room = order[cents[order] > low[order]]
        cents[room[:-left]] -= 1
    return cents.astype("int64")


def _to_money(value) -> Decimal:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _reason(row, *, no_data: bool, at_max: bool, at_min: bool) -> str:
    """Why this campaign gets what it gets, with the numbers, in the reader's language."""
    values = {
        "p_best": f"{row.p_best * 100:.1f}%",
        "roas": "-" if row.roas_mean is None else f"{row.roas_mean:.2f}",
        "low": "-" if row.roas_p05 is None else f"{row.roas_p05:.2f}",
        "high": "-" if row.roas_p95 is None else f"{row.roas_p95:.2f}",
        "budget": f"{row.proposed_budget}",
        "current": f"{row.current_budget}",
        "shift": f"{abs(row.shift)}",
    }
    if row.roas_mean is None:
        return (
            _(
                "No campaign has an order yet, so less spend without a sale counts as more promising: "
                "%(budget)s (was %(current)s)."
            )
            % values
        )
    if no_data:
        return (
            _(
                "No spend in the window, so its return is still a guess (ROAS %(low)s to %(high)s): "
                "%(budget)s keeps it learning (was %(current)s)."
            )
            % values
        )
    if at_max:
        return (
            _(
                "%(p_best)s chance of the best ROAS (mean %(roas)s, 90%% interval %(low)s to %(high)s): "
                "capped at its maximum budget of %(budget)s (was %(current)s)."
            )
            % values
        )
    if at_min:
        return (
            _(
                "%(p_best)s chance of the best ROAS (mean %(roas)s, 90%% interval %(low)s to %(high)s): "
                "held at its minimum budget of %(budget)s (was %(current)s)."
            )
            % values
        )
    if row.shift > 0:
        return (
            _(
                "%(p_best)s chance of the best ROAS (mean %(roas)s, 90%% interval %(low)s to %(high)s): "
                "raised by %(shift)s to %(budget)s."
            )
            % values
        )
    if row.shift < 0:
        return (
            _(
                "%(p_best)s chance of the best ROAS (mean %(roas)s, 90%% interval %(low)s to %(high)s): "
                "lowered by %(shift)s to %(budget)s."
            )
            % values
        )
    return (
        _("%(p_best)s chance of the best ROAS (mean %(roas)s, 90%% interval %(low)s to %(high)s): kept at %(budget)s.")
        % values
    )
