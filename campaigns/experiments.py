"""A/B tests of ad creatives and copy: how much traffic a test needs, and a Bayesian readout of its results.

Planning (``sample_size``, ``duration_days``) uses the classical two-proportion normal approximation, the
formula sellers meet in every calculator, so the planned size can be checked by hand::

    n = (z(1 - a/2) * sqrt(2 * pbar * (1 - pbar)) + z(power) * sqrt(p1 * (1 - p1) + p2 * (1 - p2)))^2 / (p2 - p1)^2

with ``p2 = p1 * (1 + minimum_detectable_effect)`` and ``pbar = (p1 + p2) / 2``. A test of more than two
variants compares every challenger with the control, so ``a`` is split over those ``variants - 1``
comparisons (Bonferroni): conservative, and simple enough to explain. For ``roas``/``rpc`` tests plan on the
conversion rate (orders per click): revenue only moves when orders do.

The readout is Bayesian and never reports a p-value: sellers read "probability that B is best" and "what you
risk losing by choosing B", which is what they actually decide on.

- ``ctr`` (clicks / impressions) and ``cvr`` (orders / clicks): Beta-Binomial, posterior
  ``Beta(prior_a + successes, prior_b + failures)``. Failures are clipped at 0, because platforms attribute
  orders over a 7-14 day window and can report more orders than clicks.
- ``rpc`` (sales / clicks) and ``roas`` (sales / cost): orders are Poisson over the exposure (clicks, or
  money spent) with a Gamma posterior on their rate, times the mean order value, whose posterior is an
  inverse Gamma under an exponential model of order values. We only know each variant's order count and
  total sales, not single order values; the exponential model assumes they vary as much as their mean (a
  coefficient of variation of 1). Where orders vary less, as for a single-product listing, the intervals are
  wider than they need to be, which errs towards "continue". Both priors are worth ``prior[0]``
  pseudo-orders placed at the pooled rate and pooled order value of all variants together (one order over
  all exposure when none was recorded). The same prior for every variant only pulls them towards each
  other; it never favours one.

Monte Carlo draws from these posteriors (seeded, so a readout is reproducible) give for each variant the
probability it is best, the expected loss of choosing it (``E[max over variants - this variant]``) and the
credible interval of its lift over the control (the first variant). Losses are reported relative to the
control's posterior mean, so one threshold works for rates, revenue per click and ROAS alike.

Recommendation, in this order:

1. ``need_more_data``: a variant has less exposure than the planned ``min_units`` (impressions for ``ctr``,
   clicks otherwise). Looking earlier and stopping on the first good number is how A/A tests "find" winners.
2. ``stop_no_difference``: every variant's relative expected loss is below ``no_difference_threshold``:
   whichever is kept, almost nothing is lost.
3. ``stop_winner``: the leader has ``P(best) >= 0.95``, a relative expected loss below ``loss_threshold``,
   and beats every other variant with probability at least 0.975, i.e. the 95 % credible interval of its
   lift over each of them lies above 0. The last condition keeps the recommendation consistent with the
   intervals the seller is shown (never "keep B" next to "lift -0.3 % to +10 %"), and it is what bounds
   false winners: with two variants either side can reach P(best) 0.95 by chance, so P(best) alone would
   crown a winner in about 10 % of A/A tests at a single look, this rule in about 5 %. The expected loss
   barely binds at realistic sample sizes; it guards tests of three or more variants where the leader's
   edge is tiny. Looking again and again at a running test raises all of these rates, which is why
   ``need_more_data`` comes first.
4. ``continue`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils.translation import gettext as _
from scipy.stats import norm

METRICS = ("ctr", "cvr", "rpc", "roas")
NEED_MORE_DATA = "need_more_data"
STOP_WINNER = "stop_winner"
STOP_NO_DIFFERENCE = "stop_no_difference"
CONTINUE = "continue"

P_BEST_TO_STOP = 0.95
P_PAIRWISE_TO_STOP = 0.975
CREDIBLE_MASS = 0.95
# Default planned exposure per variant when the caller has no sample_size() plan: impressions for ctr,
# clicks for the others.
DEFAULT_MIN_UNITS = {"ctr": 5000, "cvr": 500, "rpc": 500, "roas": 500}
# Shares of the control's metric: a winner must risk losing less than 1 %; variants are "the same" when
# choosing any of them risks less than 0.5 %.
DEFAULT_LOSS_THRESHOLD = 0.01
DEFAULT_NO_DIFFERENCE_THRESHOLD = 0.005


def sample_size(
    *,
    baseline_rate: float,
    minimum_detectable_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
) -> int:
    """Units (impressions for CTR, clicks for CVR) each variant needs to detect a relative lift of
    ``minimum_detectable_effect`` over ``baseline_rate`` with two-sided level ``alpha`` and ``power``.

    Raises ``ValueError`` for rates outside (0, 1), a lift that pushes the rate to 1 or beyond, or fewer
    than two variants.
    """
    if not 0 < baseline_rate < 1:
        raise ValueError("baseline_rate must be between 0 and 1")
    if minimum_detectable_effect == 0:
        raise ValueError("minimum_detectable_effect must not be 0")
    if variants < 2:
        raise ValueError("a test needs at least two variants")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be between 0 and 1")
    p1 = baseline_rate
    p2 = baseline_rate * (1 + minimum_detectable_effect)
    if not 0 < p2 < 1:
        raise ValueError("baseline_rate * (1 + minimum_detectable_effect) must be between 0 and 1")
    adjusted_alpha = alpha / (variants - 1)
    z_alpha = norm.ppf(1 - adjusted_alpha / 2)
    z_power = norm.ppf(power)
    pbar = (p1 + p2) / 2
    root = z_alpha * math.sqrt(2 * pbar * (1 - pbar)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / (p2 - p1) ** 2)


def duration_days(*, per_variant: int, daily_units: float, variants: int) -> int:
    """Whole days the test must run for every variant to reach ``per_variant`` units, when the whole test
    gets ``daily_units`` impressions or clicks a day split evenly between ``variants``.

    Raises ``ValueError`` when there is no daily traffic: such a test never ends.
    """
    if daily_units <= 0:
        raise ValueError("daily_units must be positive")
    if variants < 1 or per_variant < 0:
        raise ValueError("variants must be positive and per_variant not negative")
    return math.ceil(per_variant * variants / daily_units)


@dataclass(frozen=True)
class VariantResult:
    """One variant of a readout. ``observed`` is the raw metric (``None`` when its denominator is 0);
    ``interval`` and ``lift_interval`` are 95 % equal-tailed credible intervals; the lift over the control
    (``variant / control - 1``, its median as the point value: the mean of a ratio is dragged by its long
    tail) is ``None`` for the control itself. ``units`` is the exposure ``min_units`` is checked against.
    ``relative_expected_loss`` is ``expected_loss`` over the control's posterior mean."""

    name: str
    units: float
    observed: float | None
    posterior_mean: float
    interval: tuple[float, float]
    p_best: float
    expected_loss: float
    relative_expected_loss: float
    lift_median: float | None
    lift_interval: tuple[float, float] | None


@dataclass(frozen=True)
class Readout:
    """The state of a test: per-variant results (control first), the recommendation (one of
    ``need_more_data``, ``stop_winner``, ``stop_no_difference``, ``continue``), the winner's name for
    ``stop_winner``, and sentences for the seller: ``explanation`` (the recommendation) and ``details``
    (one line per challenger)."""

    metric: str
    variants: tuple[VariantResult, ...]
    recommendation: str
    winner: str | None
    min_units: float
    explanation: str
    details: tuple[str, ...]


def _field(row: Any, name: str) -> Any:
    # dicts and pandas rows (whose ``.name`` attribute is the index label, not the column) read by key
    if isinstance(row, Mapping) or callable(getattr(row, "get", None)):
        return row.get(name, 0)
    return getattr(row, name, 0)


def _number(row: Any, name: str) -> float:
    value = _field(row, name)
    number = 0.0 if value is None else float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite, non-negative number")
    return number


def _observed(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _draws_rate(
    *, rng: np.random.Generator, successes: np.ndarray, trials: np.ndarray, prior: tuple[float, float], draws: int
) -> np.ndarray:
    failures = np.clip(trials - successes, 0, None)
    a = prior[0] + successes
    b = prior[1] + failures
    return rng.beta(a[:, None], b[:, None], size=(len(a), draws))


def _draws_revenue(
    *,
    rng: np.random.Generator,
    orders: np.ndarray,
    sales: np.ndarray,
    exposure: np.ndarray,
    weight: float,
    draws: int,
) -> np.ndarray:
    total_orders = float(orders.sum())
    total_exposure = float(exposure.sum())
    total_sales = float(sales.sum())
    prior_exposure = weight * max(total_exposure, 1.0) / max(total_orders, 1.0)
    pooled_value = total_sales / total_orders if total_orders > 0 else (total_sales or 1.0)
    k = len(orders)
    rate = rng.gamma((weight + orders)[:, None], 1.0 / (prior_exposure + exposure)[:, None], size=(k, draws))
    # mean order value ~ InvGamma(shape, scale) = scale / Gamma(shape, 1)
    shape = weight + 1.0 + orders
    scale = weight * pooled_value + sales
    value = scale[:, None] / rng.gamma(shape[:, None], 1.0, size=(k, draws))
    return rate * value


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _metric_label(metric: str) -> str:
    return {"ctr": _("CTR"), "cvr": _("conversion rate"), "rpc": _("revenue per click"), "roas": _("ROAS")}[metric]


def readout(
    *,
    variants: Sequence[Mapping[str, Any] | Any],
    metric: str,
    draws: int = 20000,
    seed: int = 0,
    prior: tuple[float, float] = (1.0, 1.0),
    min_units: float | None = None,
    loss_threshold: float = DEFAULT_LOSS_THRESHOLD,
    no_difference_threshold: float = DEFAULT_NO_DIFFERENCE_THRESHOLD,
) -> Readout:
    """Bayesian readout of a test. ``variants``: dicts or objects with name, impressions, clicks, orders,
    sales, cost (missing fields count as 0), the control first. ``min_units``: the planned exposure per
    variant (use ``sample_size``), defaulting to ``DEFAULT_MIN_UNITS[metric]``; thresholds are shares of the
    control's metric (see the module docstring).

    Raises ``ValueError`` for an unknown metric, fewer than two variants, or negative counts.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    rows = list(variants)
    if len(rows) < 2:
        raise ValueError("a test needs at least two variants")
    if draws < 100:
        raise ValueError("draws must be at least 100")
    if prior[0] <= 0 or prior[1] <= 0:
        raise ValueError("prior parameters must be positive")
    names = [str(_field(row, "name") or f"#{i + 1}") for i, row in enumerate(rows)]
    impressions, clicks, orders, sales, cost = (
        np.array([_number(row, field) for row in rows])
        for field in ("impressions", "clicks", "orders", "sales", "cost")
    )
    rng = np.random.default_rng(seed)
    if metric == "ctr":
        units, observed = impressions, [_observed(c, i) for c, i in zip(clicks, impressions, strict=True)]
        samples = _draws_rate(rng=rng, successes=clicks, trials=impressions, prior=prior, draws=draws)
    elif metric == "cvr":
        units, observed = clicks, [_observed(o, c) for o, c in zip(orders, clicks, strict=True)]
        samples = _draws_rate(rng=rng, successes=orders, trials=clicks, prior=prior, draws=draws)
    else:
        exposure = clicks if metric == "rpc" else cost
        units, observed = clicks, [_observed(s, e) for s, e in zip(sales, exposure, strict=True)]
        samples = _draws_revenue(
            rng=rng, orders=orders, sales=sales, exposure=exposure, weight=float(prior[0]), draws=draws
        )

    k = len(rows)
    best = samples.max(axis=0)
    p_best = np.bincount(samples.argmax(axis=0), minlength=k) / draws
    expected_loss = (best[None, :] - samples).mean(axis=1)
    control_mean = float(samples[0].mean())
    relative_loss = expected_loss / control_mean
    tail = (1 - CREDIBLE_MASS) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=1)
    lift = samples[1:] / samples[0][None, :] - 1
    lift_low, lift_high = np.percentile(lift, [tail, 100 - tail], axis=1)
    lift_median = np.median(lift, axis=1)

    results = tuple(
        VariantResult(
            name=names[i],
            units=float(units[i]),
            observed=observed[i],
            posterior_mean=float(samples[i].mean()),
            interval=(float(low[i]), float(high[i])),
            p_best=float(p_best[i]),
            expected_loss=float(expected_loss[i]),
            relative_expected_loss=float(relative_loss[i]),
            lift_median=None if i == 0 else float(lift_median[i - 1]),
            lift_interval=None if i == 0 else (float(lift_low[i - 1]), float(lift_high[i - 1])),
        )
        for i in range(k)
    )
    leader = int(np.argmax(p_best))
    others = [i for i in range(k) if i != leader]
    leader_pairwise = float(min((samples[leader] > samples[i]).mean() for i in others))
    planned = float(DEFAULT_MIN_UNITS[metric] if min_units is None else min_units)
    recommendation, winner, explanation = _decide(
        results=results,
        leader=results[leader],
        leader_pairwise=leader_pairwise,
        metric=metric,
        planned=planned,
        loss_threshold=loss_threshold,
        no_difference_threshold=no_difference_threshold,
    )
    label = _metric_label(metric)
    details = tuple(
        _(
            "%(name)s vs %(control)s: %(metric)s lift %(lift)s (95%% credible interval %(low)s to %(high)s), "
            "%(p_best)s chance of being best."
        )
        % {
            "name": r.name,
            "control": results[0].name,
            "metric": label,
            "lift": _pct(r.lift_median),
            "low": _pct(r.lift_interval[0]),
            "high": _pct(r.lift_interval[1]),
            "p_best": _pct(r.p_best),
        }
        for r in results[1:]
    )
    return Readout(
        metric=metric,
        variants=results,
        recommendation=recommendation,
        winner=winner,
        min_units=planned,
        explanation=explanation,
        details=details,
    )


def _decide(
    *,
    results: tuple[VariantResult, ...],
    leader: VariantResult,
    leader_pairwise: float,
    metric: str,
    planned: float,
    loss_threshold: float,
    no_difference_threshold: float,
) -> tuple[str, str | None, str]:
    label = _metric_label(metric)
    short = [r for r in results if r.units < planned]
    if short:
        fewest = min(short, key=lambda r: r.units)
        unit = _("impressions") if metric == "ctr" else _("clicks")
        return (
            NEED_MORE_DATA,
            None,
            _("Keep the test running: %(name)s has %(units)s %(unit)s of the %(planned)s planned per variant.")
            % {"name": fewest.name, "units": f"{fewest.units:,.0f}", "unit": unit, "planned": f"{planned:,.0f}"},
        )
    worst_loss = max(r.relative_expected_loss for r in results)
    if worst_loss < no_difference_threshold:
        return (
            STOP_NO_DIFFERENCE,
            None,
            _(
                "Stop the test: the variants perform practically the same. Whichever you keep, the expected "
                "loss is below %(loss)s of the %(metric)s."
            )
            % {"loss": f"{worst_loss:.2%}", "metric": label},
        )
    if (
        leader.p_best >= P_BEST_TO_STOP
        and leader_pairwise >= P_PAIRWISE_TO_STOP
        and leader.relative_expected_loss < loss_threshold
    ):
        return (
            STOP_WINNER,
            leader.name,
            _(
                "Stop the test and keep %(name)s: it has a %(p_best)s chance of the best %(metric)s, and an "
                "expected loss of only %(loss)s of the %(metric)s if it is not."
            )
            % {
                "name": leader.name,
                "p_best": _pct(leader.p_best),
                "metric": label,
                "loss": f"{leader.relative_expected_loss:.2%}",
            },
        )
    return (
        CONTINUE,
        None,
        _(
            "Keep the test running: %(name)s leads with a %(p_best)s chance of the best %(metric)s, but the "
            "difference is not clear enough yet to pick a winner."
        )
        % {"name": leader.name, "p_best": _pct(leader.p_best), "metric": label},
    )
