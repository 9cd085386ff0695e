"""Rules: "if <metric> over <window> <op> <value> [and ...] then <action>", evaluated on metric frames.

What a rule stores (``campaigns.Rule``):

- ``conditions``: a list of ``{"metric", "window_days", "op", "value"}``; every one must hold (AND). Metrics are
  the sums ``spend``, ``sales``, ``orders``, ``clicks``, ``impressions`` and the ratios ``acos``, ``roas``,
  ``cpc``, ``ctr``, ``cvr``, defined as in ``analytics.metrics`` (ACoS = spend / sales, ROAS = sales / spend,
  CPC = spend / clicks, CTR = clicks / impressions, CVR = orders / clicks). ACoS, CTR and CVR are fractions
  (0.3 is 30 %; the form takes percentages). ``window_days`` (1 to 90) is the number of days ending at the
  window end; ``op`` is one of gt, gte, lt, lte, eq (eq within 1e-9).
- Undefined ratios: a ratio whose denominator is zero (ACoS without sales, ROAS without spend, CPC or CVR
  without clicks, CTR without impressions) is undefined, and every condition on it is False, whatever the
  operator: "ACoS > 30 %" does not catch a keyword without sales. Each undefined ratio is exactly the zero of
  its denominator, so a rule says that directly ("sales = 0") and no "is undefined" operator is needed.
- ``action``: ``{"type", "value", "ignore_last_days"}``. ``ignore_last_days`` (0 to 30, default 0) sits in the
  action because ``conditions`` is a list: the last N days up to ``as_of`` are left out of every window, since
  platforms still restate them (Amazon for up to 14 days, most of it in the first two) and a half-counted day
  looks like a day without orders. Every window then ends at ``as_of - N``.

Actions by scope (``ACTIONS``):

- campaign: ``budget_pct`` (value: +/- percent), ``budget_set`` (value: the daily budget), ``pause``, ``enable``.
- keyword (keywords and product targets): ``bid_pct``, ``bid_set``, ``pause``, ``enable``.
- search_term: ``negative_exact`` / ``negative_phrase`` (a campaign-level negative in the term's campaign),
  ``harvest_exact`` (an exact keyword in the term's ad group, at ``value`` or, without one, at the term's CPC
  over the longest window).

Which entities a rule looks at, each deliberate:

- Archived or removed entities (and targets in an archived campaign or ad group) are left out.
- Negatives act at campaign level, so their conditions are judged on the term summed over the campaign's ad
  groups: a term that converts in another ad group of the campaign is not blocked there.
- A term that looks like an ASIN (product targeting) is left out of search-term actions: it would be a
  product target, not a keyword. A term that already is an exact keyword in the ad group is not harvested,
  and one that is an exact keyword anywhere in the campaign is not made a negative there (it would block
  that keyword); a negative already in place is not proposed again.
- Bid actions need a known bid (the target's, or its ad group's default); budget percentages a known budget.
- A change that changes nothing (pause a paused campaign, a bid already at the floor) is counted as
  ``unchanged``, not proposed. Bids are kept >= 0.02 and budgets >= 1.00, both rounded to the cent.

Guardrails, in this order, on the changes sorted by spend over the longest window (highest first):

1. Spend increase: changes that raise spend stop being added once their estimated extra daily spend would go
   over ``max_spend_increase_pct`` of the scope's current daily spend (its spend over the longest window,
   divided by that window's days). Estimates: a budget change, the budget difference; a bid change, the
   entity's spend per day times the relative bid change; enabling a campaign, its budget (its spend per day
   without one); enabling a target, its spend per day; a harvested keyword, the term's spend per day times
   new bid / its CPC. Spend is compared within one currency: the cap applies per currency.
2. At most ``max_changes`` changes per run.

``stopped_by_guardrail`` records which guardrail left changes out and how many, as ``"spend_increase:3"``,
``"max_changes:5"`` or both (space-separated); ``describe_guardrail`` turns it into a sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from campaigns.models import Channel, MatchType, ProposalKind, Rule

CAMPAIGN, KEYWORD, SEARCH_TERM = Rule.Scope.CAMPAIGN.value, Rule.Scope.KEYWORD.value, Rule.Scope.SEARCH_TERM.value
SCOPES = (CAMPAIGN, KEYWORD, SEARCH_TERM)

SCOPE_PHRASES = {
    CAMPAIGN: gettext_lazy("campaigns"),
    KEYWORD: gettext_lazy("keywords and targets"),
    SEARCH_TERM: gettext_lazy("search terms"),
}
SUMS = ("impressions", "clicks", "cost", "orders", "sales")
# metric -> (label, kind); kinds: money, count, ratio (shown as %), multiple (shown as 2.00x)
METRICS: dict[str, tuple[str, str]] = {
    "spend": (gettext_lazy("Spend"), "money"),
    "sales": (gettext_lazy("Sales"), "money"),
    "orders": (gettext_lazy("Orders"), "count"),
    "clicks": (gettext_lazy("Clicks"), "count"),
    "impressions": (gettext_lazy("Impressions"), "count"),
    "acos": (gettext_lazy("ACoS"), "ratio"),
    "roas": (gettext_lazy("ROAS"), "multiple"),
    "cpc": (gettext_lazy("CPC"), "money"),
    "ctr": (gettext_lazy("CTR"), "ratio"),
    "cvr": (gettext_lazy("CVR"), "ratio"),
}
PERCENT_METRICS = frozenset(key for key, (_label, kind) in METRICS.items() if kind == "ratio")
OPS: dict[str, str] = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "="}
OP_LABELS = {
    "gt": gettext_lazy("more than"),
    "gte": gettext_lazy("at least"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("at most"),
    "eq": gettext_lazy("equal to"),
}
MIN_WINDOW, MAX_WINDOW = 1, 90
MAX_CONDITIONS = 10
MAX_IGNORE_DAYS = 30
MAX_CHANGES_LIMIT = 1000
MAX_SPEND_INCREASE_PCT = 1000
MIN_BID, MIN_BUDGET = 0.02, 1.00
EQ_TOLERANCE = 1e-9

ACTIONS: dict[str, tuple[str, ...]] = {
    CAMPAIGN: ("budget_pct", "budget_set", "pause", "enable"),
    KEYWORD: ("bid_pct", "bid_set", "pause", "enable"),
    SEARCH_TERM: ("negative_exact", "negative_phrase", "harvest_exact"),
}
ACTION_LABELS = {
    "budget_pct": gettext_lazy("Change the daily budget by a percentage"),
    "budget_set": gettext_lazy("Set the daily budget"),
    "bid_pct": gettext_lazy("Change the bid by a percentage"),
    "bid_set": gettext_lazy("Set the bid"),
    "pause": gettext_lazy("Pause"),
    "enable": gettext_lazy("Enable"),
    "negative_exact": gettext_lazy("Add as a negative exact keyword (campaign)"),
    "negative_phrase": gettext_lazy("Add as a negative phrase keyword (campaign)"),
    "harvest_exact": gettext_lazy("Add as an exact keyword (ad group)"),
}
VALUE_REQUIRED = frozenset({"budget_pct", "budget_set", "bid_pct", "bid_set"})
VALUE_OPTIONAL = frozenset({"harvest_exact"})
PERCENT_ACTIONS = frozenset({"budget_pct", "bid_pct"})
NEGATIVE_ACTIONS = {
    "negative_exact": MatchType.NEGATIVE_EXACT.value,
    "negative_phrase": MatchType.NEGATIVE_PHRASE.value,
}

KEYS: dict[str, list[str]] = {
    CAMPAIGN: ["channel", "account_id", "campaign_id"],
    KEYWORD: ["channel", "account_id", "campaign_id", "ad_group_id", "target_id"],
    SEARCH_TERM: ["channel", "account_id", "campaign_id", "ad_group_id", "search_term"],
}
ATTRIBUTES: dict[str, list[str]] = {
    CAMPAIGN: ["marketplace", "currency", "campaign_name", "state", "budget"],
    KEYWORD: [
        "marketplace",
        "currency",
        "campaign_name",
        "ad_group_name",
        "text",
        "match_type",
        "state",
        "campaign_state",
        "ad_group_state",
        "bid",
    ],
    SEARCH_TERM: [
        "marketplace",
        "currency",
        "campaign_name",
        "ad_group_name",
        "exact_in_ad_group",
        "exact_in_campaign",
        "negative_exact_in_place",
        "negative_phrase_in_place",
    ],
}
FLAG_COLUMNS = ("exact_in_ad_group", "exact_in_campaign", "negative_exact_in_place", "negative_phrase_in_place")
CHANGE_COLUMNS = [
    "channel",
    "account_id",
    "marketplace",
    "campaign_id",
    "campaign_name",
    "ad_group_id",
    "ad_group_name",
    "target_id",
    "text",
    "match_type",
    "current_value",
    "proposed_value",
    "proposed_state",
    "currency",
    "evidence",
    "reason",
]

PAUSED = "paused"
ENABLED = "enabled"
PAUSED_STATES = frozenset({"paused", "disable", "disabled", "inactive"})
ARCHIVED_STATES = frozenset({"archived", "removed", "deleted", "ended"})
ASIN = re.compile(r"^b0[0-9a-z]{8}$", re.IGNORECASE)

SPEND_INCREASE, MAX_CHANGES = "spend_increase", "max_changes"


class InvalidRule(ValueError):
    """A rule spec that cannot run; ``messages`` say why, in words a seller reads."""

    def __init__(self, messages: Sequence[str]):
        super().__init__("; ".join(str(m) for m in messages))
        self.messages = [str(m) for m in messages]


@dataclass(frozen=True)
class Condition:
    metric: str
    window_days: int
    op: str
    value: float

    def as_json(self) -> dict:
        return {"metric": self.metric, "window_days": self.window_days, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class RuleSpec:
    scope: str
    conditions: tuple[Condition, ...]
    action: str
    value: float | None = None
    ignore_last_days: int = 0
    channels: tuple[str, ...] = ()
    max_changes: int = 50
    max_spend_increase_pct: float = 20.0

    @property
    def windows(self) -> list[int]:
        """The distinct windows the conditions use, shortest first."""
        return sorted({condition.window_days for condition in self.conditions})

    @property
    def longest(self) -> int:
        return max(self.windows)

    @property
    def kind(self) -> str:
        return action_kind(self.action)

    def action_json(self) -> dict:
        return {"type": self.action, "value": self.value, "ignore_last_days": self.ignore_last_days}


def action_kind(action: str) -> str:
    """The proposal kind an action's changes are."""
    if action in ("budget_pct", "budget_set"):
        return ProposalKind.BUDGET.value
    if action in ("bid_pct", "bid_set"):
        return ProposalKind.BID.value
    if action in ("pause", "enable"):
        return ProposalKind.STATUS.value
    if action in NEGATIVE_ACTIONS:
        return ProposalKind.NEGATIVE.value
    return ProposalKind.KEYWORD.value


def window_dates(*, as_of: date, window_days: int, ignore_last_days: int = 0) -> tuple[date, date]:
    """First and last day (inclusive) of a condition's window."""
    end = as_of - timedelta(days=ignore_last_days)
    return end - timedelta(days=window_days - 1), end


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == int(number) else None


def parse_rule(
    *,
    scope: str,
    conditions,
    action,
    channels=(),
    max_changes=50,
    max_spend_increase_pct=20,
) -> RuleSpec:
    """A checked ``RuleSpec`` from stored or submitted JSON, or ``InvalidRule`` with every problem found."""
    errors: list[str] = []
    if scope not in SCOPES:
        errors.append(_("Unknown scope “%(scope)s”.") % {"scope": scope})
    parsed: list[Condition] = []
    if not isinstance(conditions, list | tuple) or not conditions:
        errors.append(_("Add at least one condition."))
        conditions = []
    elif len(conditions) > MAX_CONDITIONS:
        errors.append(_("A rule can have at most %(count)s conditions.") % {"count": MAX_CONDITIONS})
    for number, raw in enumerate(conditions, start=1):
        condition = _parse_condition(raw, number, errors)
        if condition is not None:
            parsed.append(condition)
    action = action if isinstance(action, Mapping) else {}
    kind = action.get("type")
    value = action.get("value")
    if scope in SCOPES and kind not in ACTIONS[scope]:
        if kind in ACTION_LABELS:
            errors.append(
                _("“%(action)s” cannot be used on %(scope)s.")
                % {"action": ACTION_LABELS[kind], "scope": SCOPE_PHRASES[scope]}
            )
        else:
            errors.append(_("Choose what the rule does."))
    number_value = _number(value) if value not in (None, "") else None
    if kind in VALUE_REQUIRED and number_value is None:
        errors.append(_("“%(action)s” needs a number.") % {"action": ACTION_LABELS[kind]})
    elif value not in (None, "") and number_value is None:
        errors.append(_("The action's value must be a number."))
    if kind in PERCENT_ACTIONS and number_value is not None and not -99 <= number_value <= 1000:
        errors.append(_("A percentage change must be between -99 and 1000."))
    if kind in ("budget_set", "bid_set", "harvest_exact") and number_value is not None and number_value <= 0:
        errors.append(_("The amount must be more than 0."))
    if kind in ACTION_LABELS and kind not in VALUE_REQUIRED | VALUE_OPTIONAL:
        number_value = None
    ignore = _whole(action.get("ignore_last_days", 0) or 0)
    if ignore is None or not 0 <= ignore <= MAX_IGNORE_DAYS:
        errors.append(_("Days to leave out must be a whole number from 0 to %(max)s.") % {"max": MAX_IGNORE_DAYS})
    channels = list(channels or [])
    unknown = [channel for channel in channels if channel not in Channel.values]
    if unknown:
        errors.append(_("Unknown channel “%(channel)s”.") % {"channel": unknown[0]})
    most = _whole(max_changes)
    if most is None or not 1 <= most <= MAX_CHANGES_LIMIT:
        errors.append(_("Most changes per run must be from 1 to %(max)s.") % {"max": MAX_CHANGES_LIMIT})
    pct = _number(max_spend_increase_pct)
    if pct is None or not 0 <= pct <= MAX_SPEND_INCREASE_PCT:
        errors.append(
            _("The daily spend increase cap must be from 0 %% to %(max)s %%.") % {"max": MAX_SPEND_INCREASE_PCT}
        )
    if errors:
        raise InvalidRule(errors)
    return RuleSpec(
        scope=scope,
        conditions=tuple(parsed),
        action=kind,
        value=number_value,
        ignore_last_days=ignore,
        channels=tuple(channels),
        max_changes=most,
        max_spend_increase_pct=pct,
    )


def _parse_condition(raw, number: int, errors: list[str]) -> Condition | None:
    if not isinstance(raw, Mapping):
        errors.append(_("Condition %(number)s is not readable.") % {"number": number})
        return None
    found = len(errors)
    metric, op = raw.get("metric"), raw.get("op")
    if metric not in METRICS:
        errors.append(_("Condition %(number)s: unknown metric “%(metric)s”.") % {"number": number, "metric": metric})
    window = _whole(raw.get("window_days"))
    if window is None or not MIN_WINDOW <= window <= MAX_WINDOW:
        errors.append(
            _("Condition %(number)s: the window must be from %(min)s to %(max)s days.")
            % {"number": number, "min": MIN_WINDOW, "max": MAX_WINDOW}
        )
    if op not in OPS:
        errors.append(_("Condition %(number)s: unknown comparison “%(op)s”.") % {"number": number, "op": op})
    value = _number(raw.get("value"))
    if value is None:
        errors.append(_("Condition %(number)s: the value must be a number.") % {"number": number})
    elif value < 0:
        errors.append(_("Condition %(number)s: the value cannot be negative.") % {"number": number})
    if len(errors) > found:
        return None
    return Condition(metric=metric, window_days=window, op=op, value=value)


def spec_of(rule: Rule) -> RuleSpec:
    """The checked spec of a saved rule (``InvalidRule`` when its JSON was damaged outside the form)."""
    return parse_rule(
        scope=rule.scope,
        conditions=rule.conditions,
        action=rule.action,
        channels=rule.channels,
        max_changes=rule.max_changes,
        max_spend_increase_pct=rule.max_spend_increase_pct,
    )


# --- evaluation -------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What a run would change. ``changes`` has ``CHANGE_COLUMNS`` (the rows ``proposals_create`` takes), best
    first; ``matched`` counts entities whose conditions all held; ``unchanged`` those already as the action
    would leave them; ``left_out`` the changes each guardrail dropped."""

    changes: pd.DataFrame
    kind: str
    matched: int
    unchanged: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    window: tuple[date, date] | None = None

    @property
    def stopped_by_guardrail(self) -> str:
        return " ".join(f"{name}:{count}" for name, count in self.left_out.items() if count)

    def records(self) -> list[dict]:
        """The changes as JSON-ready dicts (NaN as None, amounts rounded to the cent)."""
        return [_record(row) for row in self.changes.to_dict("records")]


def _record(row: dict) -> dict:
    clean = {}
    for key in CHANGE_COLUMNS:
        value = row.get(key)
        if isinstance(value, float | np.floating):
            value = None if math.isnan(value) else round(float(value), 2)
        elif isinstance(value, np.integer):
            value = int(value)
        clean[key] = value
    return clean


def evaluate(*, frames_by_window: Mapping[int, pd.DataFrame], rule_spec: RuleSpec, as_of: date) -> Evaluation:
    """Apply a rule to one metric frame per window (``KEYS[scope]`` + ``ATTRIBUTES[scope]`` + ``SUMS`` columns,
    one row per entity; an entity missing from a window has zeros there). Pure: no database."""
    spec = rule_spec
    start, _end = window_dates(as_of=as_of, window_days=spec.longest, ignore_last_days=spec.ignore_last_days)
    window = (start, _end)
    frame = _merge(frames_by_window, spec)
    if spec.channels:
        frame = frame[frame["channel"].isin(spec.channels)]
    if spec.action in NEGATIVE_ACTIONS:
        frame = _per_campaign(frame, spec)
    frame = frame[_actionable(frame, spec)].reset_index(drop=True)
    base_daily = _daily_spend_by_currency(frame, spec)
    held = _conditions_hold(frame, spec)
    candidates = frame[held].reset_index(drop=True)
    if candidates.empty:
        return Evaluation(changes=_empty_changes(), kind=spec.kind, matched=0, window=window)
    changed = _apply_action(candidates, spec)
    unchanged = int((~changed["changes"]).sum())
    changed = changed[changed["changes"]]
    changed = changed.sort_values(
        [f"cost_{spec.longest}", *KEYS[spec.scope]], ascending=[False, *[True] * len(KEYS[spec.scope])], kind="stable"
    ).reset_index(drop=True)
    kept, left_out = _guardrails(changed, spec, base_daily)
    return Evaluation(
        changes=_output(kept, spec, window),
        kind=spec.kind,
        matched=len(candidates),
        unchanged=unchanged,
        left_out=left_out,
        window=window,
    )


def _empty_changes() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in CHANGE_COLUMNS})


def _merge(frames_by_window: Mapping[int, pd.DataFrame], spec: RuleSpec) -> pd.DataFrame:
    """One row per entity: its attributes, and ``<sum>_<days>`` for each window (0 where it had no rows)."""
    keys, attributes = KEYS[spec.scope], ATTRIBUTES[spec.scope]
    missing_windows = [days for days in spec.windows if days not in frames_by_window]
    if missing_windows:
        raise ValueError(f"no frame for windows {missing_windows}")
    parts = []
    for days in spec.windows:
        frame = frames_by_window[days]
        missing = [column for column in (*keys, *attributes, *SUMS) if column not in frame.columns]
        if missing:
            raise ValueError(f"the {days}-day frame is missing columns: {', '.join(missing)}")
        parts.append(frame)
    # Attributes from the longest window first (it sees the most entities), the shorter ones fill the rest.
    entities = (
        pd.concat([part[[*keys, *attributes]] for part in reversed(parts)], ignore_index=True)
        .drop_duplicates(subset=keys, keep="first")
        .reset_index(drop=True)
    )
    for days, part in zip(spec.windows, parts, strict=True):
        sums = part[[*keys, *SUMS]].groupby(keys, sort=False, as_index=False)[list(SUMS)].sum()
        sums = sums.rename(columns={column: f"{column}_{days}" for column in SUMS})
        entities = entities.merge(sums, on=keys, how="left")
    for days in spec.windows:
        for column in SUMS:
            name = f"{column}_{days}"
            entities[name] = entities[name].fillna(0).astype(np.float64)
    for column in FLAG_COLUMNS:
        if column in entities.columns:
            entities[column] = entities[column].fillna(False).astype(bool)
    return entities


def _per_campaign(frame: pd.DataFrame, spec: RuleSpec) -> pd.DataFrame:
    """Search terms summed over their campaign's ad groups (negatives act at campaign level)."""
    keys = ["channel", "account_id", "campaign_id", "search_term"]
    aggregations = {f"{column}_{days}": "sum" for days in spec.windows for column in SUMS}
    aggregations.update(dict.fromkeys(("marketplace", "currency", "campaign_name"), "first"))
    aggregations.update(dict.fromkeys(FLAG_COLUMNS, "max"))
    grouped = frame.groupby(keys, sort=False, as_index=False).agg(aggregations)
    grouped["ad_group_id"] = ""
    grouped["ad_group_name"] = ""
    return grouped


def _state(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].fillna("").astype(str).str.strip().str.lower()


def _actionable(frame: pd.DataFrame, spec: RuleSpec) -> pd.Series:
    keep = pd.Series(True, index=frame.index)
    for column in ("state", "campaign_state", "ad_group_state"):
        if column in frame.columns:
            keep &= ~_state(frame, column).isin(ARCHIVED_STATES)
    if spec.scope == SEARCH_TERM:
        keep &= ~frame["search_term"].astype(str).str.strip().str.match(ASIN)
        keep &= frame["search_term"].astype(str).str.strip() != ""
    return keep


def _daily_spend_by_currency(frame: pd.DataFrame, spec: RuleSpec) -> dict[str, float]:
    spend = frame.groupby("currency", sort=False)[f"cost_{spec.longest}"].sum() / spec.longest
    return {str(currency): float(value) for currency, value in spend.items()}


def metric_values(frame: pd.DataFrame, metric: str, days: int) -> np.ndarray:
    """A metric over one window for every row, NaN where it is undefined (a zero denominator)."""
    cost, sales = frame[f"cost_{days}"].to_numpy(float), frame[f"sales_{days}"].to_numpy(float)
    clicks, orders = frame[f"clicks_{days}"].to_numpy(float), frame[f"orders_{days}"].to_numpy(float)
    impressions = frame[f"impressions_{days}"].to_numpy(float)
    sums = {"spend": cost, "sales": sales, "orders": orders, "clicks": clicks, "impressions": impressions}
    if metric in sums:
        return sums[metric]
    numerator, denominator = {
        "acos": (cost, sales),
        "roas": (sales, cost),
        "cpc": (cost, clicks),
        "ctr": (clicks, impressions),
        "cvr": (orders, clicks),
    }[metric]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _conditions_hold(frame: pd.DataFrame, spec: RuleSpec) -> np.ndarray:
    held = np.ones(len(frame), dtype=bool)
    for condition in spec.conditions:
        values = metric_values(frame, condition.metric, condition.window_days)
        defined = ~np.isnan(values)
        safe = np.where(defined, values, 0.0)
        result = {
            "gt": safe > condition.value + EQ_TOLERANCE,
            "gte": safe >= condition.value - EQ_TOLERANCE,
            "lt": safe < condition.value - EQ_TOLERANCE,
            "lte": safe <= condition.value + EQ_TOLERANCE,
            "eq": np.abs(safe - condition.value) <= EQ_TOLERANCE,
        }[condition.op]
        held &= defined & result
    return held


def _cents(values, floor: float) -> np.ndarray:
    """Rounded half up to the cent, never below ``floor``."""
    values = np.asarray(values, dtype=float)
    return np.maximum(np.floor(values * 100 + 0.5 + 1e-9) / 100, floor)


def _apply_action(frame: pd.DataFrame, spec: RuleSpec) -> pd.DataFrame:
    """Adds current_value, proposed_value, proposed_state, text, match_type, target_id, extra_spend (estimated
    extra daily spend) and ``changes`` (False where the action changes nothing)."""
    out = frame.copy()
    action, value, days = spec.action, spec.value, spec.longest
    spend_per_day = out[f"cost_{days}"].to_numpy(float) / days
    n = len(out)
    out["current_value"] = np.nan
    out["proposed_value"] = np.nan
    out["proposed_state"] = ""
    out["extra_spend"] = 0.0
    if spec.scope == CAMPAIGN:
        out["target_id"], out["ad_group_id"], out["ad_group_name"] = "", "", ""
        out["text"], out["match_type"] = "", ""
    if spec.scope == SEARCH_TERM:
        out["target_id"] = ""
        out["text"] = out["search_term"].astype(str).str.strip()

    if action in ("budget_pct", "budget_set", "bid_pct", "bid_set"):
        column, floor = ("budget", MIN_BUDGET) if action.startswith("budget") else ("bid", MIN_BID)
        current = pd.to_numeric(out[column], errors="coerce").to_numpy(float)
        known = ~np.isnan(current) & (current > 0)
        if action.endswith("_pct"):
            proposed = _cents(np.where(known, current, 0.0) * (1 + value / 100), floor)
        else:
            proposed = _cents(np.full(n, value), floor)
        current_cents = np.round(np.where(known, current, 0.0), 2)
        differs = np.abs(proposed - current_cents) >= 0.005
        out["current_value"] = np.where(known, current, np.nan)
        out["proposed_value"] = proposed
        if column == "budget":
            extra = np.where(known, proposed - current, proposed)
            out["changes"] = (~known | differs) if action == "budget_set" else (known & differs)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                extra = np.where(known, spend_per_day * (proposed / np.where(known, current, 1.0) - 1), 0.0)
            out["changes"] = known & differs
        out["extra_spend"] = np.maximum(extra, 0.0)
    elif action in ("pause", "enable"):
        state = _state(out, "state")
        paused = state.isin(PAUSED_STATES).to_numpy()
        out["proposed_state"] = PAUSED if action == "pause" else ENABLED
        out["changes"] = ~paused if action == "pause" else paused
        if action == "enable":
            if spec.scope == CAMPAIGN:
                budget = pd.to_numeric(out["budget"], errors="coerce").to_numpy(float)
                out["extra_spend"] = np.where(np.isnan(budget), spend_per_day, budget)
            else:
                out["extra_spend"] = spend_per_day
    elif action in NEGATIVE_ACTIONS:
        out["match_type"] = NEGATIVE_ACTIONS[action]
        in_place = out["negative_exact_in_place" if action == "negative_exact" else "negative_phrase_in_place"]
        out["changes"] = ~(in_place.to_numpy(bool) | out["exact_in_campaign"].to_numpy(bool))
    else:  # harvest_exact
        out["match_type"] = MatchType.EXACT.value
        cpc = metric_values(out, "cpc", days)
        bid = np.full(n, value) if value is not None else cpc
        has_bid = ~np.isnan(bid)
        out["proposed_value"] = np.where(has_bid, _cents(np.where(has_bid, bid, 0.0), MIN_BID), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(np.nan_to_num(cpc) > 0, out["proposed_value"].to_numpy(float) / cpc, 1.0)
        out["extra_spend"] = np.where(has_bid, spend_per_day * ratio, 0.0)
        out["changes"] = has_bid & ~out["exact_in_ad_group"].to_numpy(bool)
    out["changes"] = out["changes"].astype(bool)
    return out


def raises_spend(action: str, value: float | None) -> bool:
    """Whether an action's changes can add spend (and so count against the spend-increase cap)."""
    if action in ("budget_pct", "bid_pct"):
        return value is not None and value > 0
    return action in ("budget_set", "bid_set", "enable", "harvest_exact")


def _guardrails(changed: pd.DataFrame, spec: RuleSpec, base_daily: Mapping[str, float]) -> tuple[pd.DataFrame, dict]:
    left_out: dict[str, int] = {}
    if raises_spend(spec.action, spec.value) and not changed.empty:
        cap = (
            changed["currency"]
            .astype(str)
            .map(lambda currency: base_daily.get(currency, 0.0) * spec.max_spend_increase_pct / 100)
        )
        extra = changed["extra_spend"].to_numpy(float)
        cumulative = pd.Series(np.where(extra > 0, extra, 0.0)).groupby(changed["currency"].to_numpy()).cumsum()
        within = (extra <= 0) | (cumulative.to_numpy(float) <= cap.to_numpy(float) + 1e-9)
        dropped = int((~within).sum())
        if dropped:
            left_out[SPEND_INCREASE] = dropped
        changed = changed[within]
    if len(changed) > spec.max_changes:
        left_out[MAX_CHANGES] = len(changed) - spec.max_changes
        changed = changed.head(spec.max_changes)
    return changed.reset_index(drop=True), left_out


# --- output: evidence and reasons -------------------------------------------------------------------------------


def format_value(value, kind: str, currency: str = "") -> str:
    """A metric value or threshold as a seller reads it; '-' when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "money":
        return f"{value:,.2f} {currency}".strip()
    if kind == "ratio":
        return f"{value * 100:.1f}%"
    if kind == "multiple":
        return f"{value:.2f}x"
    return f"{value:,.0f}"


def _evidence_columns(spec: RuleSpec) -> list[tuple[str, int]]:
    columns = [(metric, days) for days in spec.windows for metric in ("spend", "sales", "orders", "clicks")]
    for condition in spec.conditions:
        pair = (condition.metric, condition.window_days)
        if pair not in columns:
            columns.append(pair)
    return columns


def _output(kept: pd.DataFrame, spec: RuleSpec, window: tuple[date, date]) -> pd.DataFrame:
    if kept.empty:
        return _empty_changes()
    values = {(metric, days): metric_values(kept, metric, days) for metric, days in _evidence_columns(spec)}
    condition_values = [metric_values(kept, c.metric, c.window_days) for c in spec.conditions]
    evidence, reasons = [], []
    for position, row in enumerate(kept.itertuples(index=False)):
        currency = str(row.currency)
        item = {f"{metric}_{days}d": _rounded(column[position], metric) for (metric, days), column in values.items()}
        item.update({"window_start": window[0].isoformat(), "window_end": window[1].isoformat()})
        if spec.action in ("pause", "enable"):
            item["state"] = str(row.state)
        evidence.append(item)
        clauses = [
            _clause(condition, float(column[position]), currency)
            for condition, column in zip(spec.conditions, condition_values, strict=True)
        ]
        reasons.append(
            _("%(conditions)s: %(action)s")
            % {"conditions": "; ".join(clauses), "action": _action_text(spec, row, currency)}
        )
    out = kept.copy()
    out["evidence"] = evidence
    out["reason"] = reasons
    return out[CHANGE_COLUMNS].astype({"current_value": float, "proposed_value": float})


def _rounded(value: float, metric: str):
    if math.isnan(value):
        return None
    kind = METRICS[metric][1]
    if kind == "count":
        return int(round(value))
    return round(float(value), 4 if kind in ("ratio", "multiple") else 2)


def _clause(condition: Condition, actual: float, currency: str) -> str:
    kind = METRICS[condition.metric][1]
    return ngettext(
        "%(metric)s over the last %(days)s day %(actual)s %(op)s %(value)s",
        "%(metric)s over %(days)s days %(actual)s %(op)s %(value)s",
        condition.window_days,
    ) % {
        "metric": METRICS[condition.metric][0],
        "days": condition.window_days,
        "actual": format_value(actual, kind, currency),
        "op": OPS[condition.op],
        "value": format_value(condition.value, kind, currency),
    }


def _action_text(spec: RuleSpec, row, currency: str) -> str:
    action = spec.action
    money = {
        "current": format_value(float(row.current_value), "money", currency),
        "proposed": format_value(float(row.proposed_value), "money", currency),
    }
    if action == "budget_pct":
        return _("daily budget %(current)s → %(proposed)s (%(pct)s).") % {**money, "pct": f"{spec.value:+g}%"}
    if action == "budget_set":
        return _("daily budget %(current)s → %(proposed)s.") % money
    if action == "bid_pct":
        return _("bid %(current)s → %(proposed)s (%(pct)s).") % {**money, "pct": f"{spec.value:+g}%"}
    if action == "bid_set":
        return _("bid %(current)s → %(proposed)s.") % money
    if action == "pause":
        return _("pause.")
    if action == "enable":
        return _("enable.")
    if action == "negative_exact":
        return _("add “%(text)s” as a negative exact keyword in the campaign.") % {"text": row.text}
    if action == "negative_phrase":
        return _("add “%(text)s” as a negative phrase keyword in the campaign.") % {"text": row.text}
    return _("add “%(text)s” as an exact keyword in the ad group at %(bid)s.") % {
        "text": row.text,
        "bid": money["proposed"],
    }


# --- descriptions for pages -------------------------------------------------------------------------------------


def describe_condition(condition: Mapping) -> str:
    """One stored condition in words, e.g. "ACoS over 30 days > 30.0%"."""
    metric = condition.get("metric")
    label, kind = METRICS.get(metric, (metric, "count"))
    days = condition.get("window_days")
    value = _number(condition.get("value"))
    return ngettext(
        "%(metric)s over the last %(days)s day %(op)s %(value)s",
        "%(metric)s over %(days)s days %(op)s %(value)s",
        days if isinstance(days, int) else 2,
    ) % {
        "metric": label,
        "days": days,
        "op": OPS.get(condition.get("op"), "?"),
        "value": format_value(value, kind) if value is not None else "?",
    }


def describe_action(action: Mapping) -> str:
    """A stored action in words, e.g. "Change the bid by a percentage: -15%"."""
    kind = action.get("type")
    label = ACTION_LABELS.get(kind, kind or "?")
    value = _number(action.get("value"))
    if value is None:
        return str(label)
    shown = f"{value:+g}%" if kind in PERCENT_ACTIONS else f"{value:,.2f}"
    return _("%(action)s: %(value)s") % {"action": label, "value": shown}


def describe_guardrail(stopped: str) -> list[str]:
    """Sentences for a ``stopped_by_guardrail`` value (see the module docstring)."""
    sentences = []
    for part in (stopped or "").split():
        name, _sep, count = part.partition(":")
        number = int(count) if count.isdigit() else 0
        if name == SPEND_INCREASE:
            sentences.append(
                ngettext(
                    "%(count)s change left out: it would raise daily spend past the rule's cap.",
                    "%(count)s changes left out: they would raise daily spend past the rule's cap.",
                    number,
                )
                % {"count": number}
            )
        elif name == MAX_CHANGES:
            sentences.append(
                ngettext(
                    "%(count)s change left out: the rule's most changes per run was reached.",
                    "%(count)s changes left out: the rule's most changes per run was reached.",
                    number,
                )
                % {"count": number}
            )
    return sentences
