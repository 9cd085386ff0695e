"""Search-term harvesting: converting search terms become exact keywords, and stop competing where they came from.

A term that sells through an automatic target, a broad or phrase keyword or a product target is worth its own
exact keyword: its bid can then be set for what the term earns. The source keeps matching the term unless it
is told not to, so the harvest also proposes a negative exact in the source campaign.

Rules:

- A term is judged per source campaign: its rows are summed over the window across the campaign's ad groups
  and targets (one campaign usually shows one term through several targets; judging each fragment would miss
  terms whose orders are split). Terms are compared by normalized text (``campaigns.keywords.text``).
- It converts when orders >= min_orders, clicks >= min_clicks and, when ``max_acos`` is set, ACoS <= max_acos
  (a term without sales has no ACoS and fails that test).
- Destination: the ``destinations`` row of its source campaign (e.g. auto campaign -> its exact campaign), else
  the source ad group where the term brought the most orders (then sales, clicks, lowest id).
- It is skipped when its normalized text is already an EXACT keyword of the destination ad group, in
  ``keywords`` (active ones) or as an EXACT target seen in the facts. The keyword proposed reads as shoppers
  typed the term (its most-clicked spelling, ties by text).
- Bid: target_acos x revenue per click (sales / clicks), clamped to [min_bid, max_bid], rounded to cents;
  default_bid when the term has no clicks.
- Negative: when any of the term's source rows came through a target that is not EXACT. A destination in
  another campaign gets a campaign-level NEGATIVE_EXACT in the source campaign. A destination in the source
  campaign itself cannot be protected at campaign level (the negative would block the new keyword too), so
  the negative goes to each other source ad group that showed the term, at ad-group level. A negative already
  covered by an existing negative (exact or phrase, ``negatives``) is not proposed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.keywords import text
from campaigns.keywords.conflicts import NEGATIVE_EXACT, active, match_negatives, scope_keys, with_language
from campaigns.keywords.ngrams import term_units, unit_examples

SOURCE = text.CAMPAIGN_SCOPE
METRICS = ["impressions", "clicks", "cost", "orders", "sales"]
HARVEST_COLUMNS = [
    "kind",
    "channel",
    "account_id",
    "marketplace",
    "currency",
    "campaign_id",
    "ad_group_id",
    "text",
    "match_type",
    "bid",
    "source_campaign_id",
    "source_campaign_name",
    "source_ad_group_id",
    "term_key",
    "impressions",
    "clicks",
    "orders",
    "cost",
    "sales",
    "acos",
    "cvr",
    "cpc",
    "reason",
]


@dataclass(frozen=True)
class HarvestThresholds:
    """When a term has proven itself, and how to bid on it (amounts in the terms' currency)."""

    min_orders: int = 2
    min_clicks: int = 5
    max_acos: float | None = None
    target_acos: float = 0.30
    min_bid: float = 0.10
    max_bid: float = 5.00
    default_bid: float = 0.50


def _threshold_columns(
    currencies: pd.Series, thresholds: HarvestThresholds | Mapping[str, HarvestThresholds]
) -> dict[str, np.ndarray]:
    """Each threshold as an array aligned with ``currencies`` (one set for all, or one set per currency)."""
    names = [field.name for field in fields(HarvestThresholds)]
    if isinstance(thresholds, HarvestThresholds):
        return {name: np.full(len(currencies), getattr(thresholds, name), dtype=object) for name in names}
    codes, uniques = pd.factorize(currencies.to_numpy(dtype=object))
    missing = sorted(set(uniques) - set(thresholds))
    if missing:
        raise ValueError(f"no harvest thresholds for currencies {missing}")
    return {
        name: np.array([getattr(thresholds[currency], name) for currency in uniques], dtype=object)[codes]
        for name in names
    }


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in HARVEST_COLUMNS})


def harvest_search_terms(
    *,
    terms: pd.DataFrame,
    keywords: pd.DataFrame,
    thresholds: HarvestThresholds | Mapping[str, HarvestThresholds],
    destinations: pd.DataFrame | None = None,
    negatives: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Exact keywords to add for converting search terms, each followed by the negatives that stop its source
    competing with it (see the module docstring for the rules).

    terms: a search-term frame. keywords: existing keywords (campaign_id, ad_group_id, text, match_type,
    optional state). thresholds: one ``HarvestThresholds`` or one per currency code. destinations:
    campaign_id (source) -> dest_campaign_id, dest_ad_group_id. negatives: existing negatives (campaign_id,
    ad_group_id, text, match_type).

    One row per proposal with HARVEST_COLUMNS: kind "keyword" (match_type EXACT, bid, destination campaign and
    ad group) or "negative" (NEGATIVE_EXACT, no bid, ad_group_id '' at campaign level), with the term's
    evidence over the window in its source campaign and a translated ``reason``. Sorted by source campaign,
    orders and sales descending, term; each keyword before its negatives.
    """
    if terms.empty:
        return _empty()
    frame = text.annotate(terms)
    units = term_units(frame, [*SOURCE, "language"])

    # 1. totals per (source campaign, term) against the thresholds of their currency
    currency = units.groups["currency"].to_numpy(dtype=object)[units.group]
    limits = _threshold_columns(pd.Series(currency), thresholds)
    sums = units.sums
    with np.errstate(divide="ignore", invalid="ignore"):
        acos = np.where(sums["sales"] > 0, sums["cost"] / np.where(sums["sales"] > 0, sums["sales"], 1), np.nan)
    max_acos = pd.to_numeric(pd.Series(limits["max_acos"]), errors="coerce").to_numpy(dtype=float)
    keep = (
        (sums["orders"] >= limits["min_orders"].astype(float))
        & (sums["clicks"] >= limits["min_clicks"].astype(float))
        & (np.isnan(max_acos) | (acos <= np.where(np.isnan(max_acos), np.inf, max_acos)))
        & text.keyword_terms(units.keys[units.term])
    )
    chosen = np.flatnonzero(keep)
    if not len(chosen):
        return _empty()
    candidates = units.groups.iloc[units.group[chosen]].reset_index(drop=True)
    candidates["unit"] = chosen
    candidates["term_key"] = units.keys[units.term[chosen]]
    for metric in METRICS:
        candidates[metric] = sums[metric][chosen]
    examples = unit_examples(frame, units, chosen)
    candidates["text"] = examples["text"].to_numpy()
    candidates["source_campaign_name"] = examples["campaign_name"].to_numpy()
    candidate_limits = {name: values[chosen] for name, values in limits.items()}

    # 2. per source ad group: where the term sold most, and whether it came through a non-exact target
    by_group = _by_ad_group(frame, units, chosen)
    best = by_group.drop_duplicates("unit", keep="first").set_index("unit")
    candidates["source_ad_group_id"] = best["ad_group_id"].reindex(chosen).to_numpy(dtype=object)
    candidates["non_exact"] = by_group.groupby("unit")["non_exact"].max().reindex(chosen).to_numpy() > 0

    # 3. destination, and terms that are already an exact keyword there
    candidates = _destinations(candidates, destinations)
    existing = _existing_exact(frame, keywords, candidates)
    probe = candidates[["dest_campaign_id", "dest_ad_group_id", "term_key"]].astype(object)
    probe.columns = ["campaign_id", "ad_group_id", "key"]
    new = probe.merge(existing.assign(exists=True), on=["campaign_id", "ad_group_id", "key"], how="left")
    new = new["exists"].isna().to_numpy()
    candidates = candidates[new].reset_index(drop=True)
    candidate_limits = {name: values[new] for name, values in candidate_limits.items()}
    if candidates.empty:
        return _empty()

    # 4. evidence, bid and the keyword rows
    candidates = _evidence(candidates)
    rpc = candidates["sales"].to_numpy() / np.where(candidates["clicks"] > 0, candidates["clicks"], np.nan)
    bid = candidate_limits["target_acos"].astype(float) * rpc
    bid = np.clip(bid, candidate_limits["min_bid"].astype(float), candidate_limits["max_bid"].astype(float))
    bid = np.where(np.isnan(bid), candidate_limits["default_bid"].astype(float), bid)
    candidates["bid"] = np.round(bid, 2)
    keyword_rows = candidates.assign(
        kind="keyword",
        campaign_id=candidates["dest_campaign_id"],
        ad_group_id=candidates["dest_ad_group_id"],
        match_type="EXACT",
        order=0,
    )
    keyword_rows["reason"] = _keyword_reasons(keyword_rows)

    # 5. the negatives that stop the source competing
    negative_rows = _negative_rows(candidates, by_group, negatives)
    out = pd.concat([keyword_rows, negative_rows], ignore_index=True)
    out = out.sort_values(
        ["channel", "account_id", "marketplace", "source_campaign_id", "orders", "sales", "term_key", "order"]
        + ["campaign_id", "ad_group_id"],
        ascending=[True, True, True, True, False, False, True, True, True, True],
        kind="stable",
    )
    return out[HARVEST_COLUMNS].reset_index(drop=True)


def _by_ad_group(frame: pd.DataFrame, units, chosen: np.ndarray) -> pd.DataFrame:
    """Per (candidate unit, source ad group): orders, sales, clicks and non_exact (came through a target that
    is not EXACT), best ad group first within each unit."""
    wanted = np.zeros(len(units.term), dtype=bool)
    wanted[chosen] = True
    mask = wanted[units.row_unit]
    rows = pd.DataFrame(
        {
            "unit": units.row_unit[mask],
            "ad_group_id": frame["ad_group_id"].to_numpy(dtype=object)[mask],
            "orders": frame["orders"].to_numpy()[mask],
            "sales": frame["sales"].to_numpy()[mask],
            "clicks": frame["clicks"].to_numpy()[mask],
            "non_exact": (frame["match_type"].to_numpy(dtype=object)[mask] != "EXACT").astype(np.int64),
        }
    )
    grouped = rows.groupby(["unit", "ad_group_id"], sort=False).sum().reset_index()
    return grouped.sort_values(
        ["unit", "orders", "sales", "clicks", "ad_group_id"],
        ascending=[True, False, False, False, True],
        kind="stable",
        ignore_index=True,
    )


def _destinations(candidates: pd.DataFrame, destinations: pd.DataFrame | None) -> pd.DataFrame:
    candidates = candidates.rename(columns={"campaign_id": "source_campaign_id"})
    if destinations is not None and not destinations.empty:
        mapping = destinations[["campaign_id", "dest_campaign_id", "dest_ad_group_id"]].drop_duplicates("campaign_id")
        mapping = mapping.rename(columns={"campaign_id": "source_campaign_id"})
        candidates = candidates.merge(mapping, on="source_campaign_id", how="left")
    else:
        candidates = candidates.assign(dest_campaign_id=np.nan, dest_ad_group_id=np.nan)
    routed = candidates["dest_campaign_id"].notna().to_numpy()
    candidates["dest_campaign_id"] = np.where(
        routed, candidates["dest_campaign_id"].astype(object), candidates["source_campaign_id"].astype(object)
    )
    candidates["dest_ad_group_id"] = np.where(
        routed, candidates["dest_ad_group_id"].astype(object), candidates["source_ad_group_id"].astype(object)
    )
    return candidates


def _existing_exact(frame: pd.DataFrame, keywords: pd.DataFrame | None, candidates: pd.DataFrame) -> pd.DataFrame:
    """(campaign_id, ad_group_id, key) of the EXACT keywords of the candidates' destination ad groups: from
    ``keywords`` (active ones) and from the EXACT targets the facts show there."""
    parts = []
    destinations = pd.MultiIndex.from_arrays(
        [candidates["dest_campaign_id"].astype(object), candidates["dest_ad_group_id"].astype(object)]
    ).unique()
    if keywords is not None and not keywords.empty:
        exact = active(keywords)
        exact = exact[exact["match_type"] == "EXACT"]
        parts.append(
            pd.DataFrame(
                {
                    "campaign_id": exact["campaign_id"].to_numpy(dtype=object),
                    "ad_group_id": exact["ad_group_id"].fillna("").to_numpy(dtype=object),
                    "key": text.normalize_many(exact["text"], language=text.DEFAULT_LANGUAGE),
                }
            )
        )
    exact_rows = (frame["match_type"] == "EXACT").to_numpy()
    pairs = pd.MultiIndex.from_arrays(
        [
            frame["campaign_id"].to_numpy(dtype=object)[exact_rows],
            frame["ad_group_id"].to_numpy(dtype=object)[exact_rows],
        ]
    )
    there = pairs.isin(destinations)
    targets = frame.loc[exact_rows].loc[there, ["campaign_id", "ad_group_id", "target_text"]].astype(object)
    targets = targets.drop_duplicates()
    parts.append(
        pd.DataFrame(
            {
                "campaign_id": targets["campaign_id"].to_numpy(dtype=object),
                "ad_group_id": targets["ad_group_id"].to_numpy(dtype=object),
                "key": text.normalize_many(targets["target_text"], language=text.DEFAULT_LANGUAGE),
            }
        )
    )
    existing = pd.concat(parts, ignore_index=True).astype(object)
    return existing.drop_duplicates(ignore_index=True)


def _evidence(rows: pd.DataFrame) -> pd.DataFrame:
    clicks = rows["clicks"].to_numpy(dtype=float)
    sales = rows["sales"].to_numpy(dtype=float)
    cost = rows["cost"].to_numpy(dtype=float)
    orders = rows["orders"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["acos"] = np.round(np.where(sales > 0, cost / np.where(sales > 0, sales, 1), np.nan), 4)
        rows["cvr"] = np.round(np.where(clicks > 0, orders / np.where(clicks > 0, clicks, 1), np.nan), 4)
        rows["cpc"] = np.round(np.where(clicks > 0, cost / np.where(clicks > 0, clicks, 1), np.nan), 2)
    for column in ("impressions", "clicks", "orders"):
        rows[column] = rows[column].round().astype(np.int64)
    rows["cost"] = np.round(cost, 2)
    rows["sales"] = np.round(sales, 2)
    return rows


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _percent(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{value:.1%}"


def _keyword_reasons(rows: pd.DataFrame) -> list[str]:
    def message(orders):
        return ngettext(
            "%(orders)s order from %(clicks)s clicks (CVR %(cvr)s, ACoS %(acos)s, %(sales)s sales on %(cost)s): "
            "add as an exact keyword at %(bid)s",
            "%(orders)s orders from %(clicks)s clicks (CVR %(cvr)s, ACoS %(acos)s, %(sales)s sales on %(cost)s): "
            "add as an exact keyword at %(bid)s",
            int(orders),
        )

    return [
        message(orders)
        % {
            "orders": orders,
            "clicks": clicks,
            "cvr": _percent(cvr),
            "acos": _percent(acos),
            "sales": _money(sales, currency),
            "cost": _money(cost, currency),
            "bid": _money(bid, currency),
        }
        for orders, clicks, cvr, acos, sales, cost, bid, currency in zip(
            rows["orders"],
            rows["clicks"],
            rows["cvr"],
            rows["acos"],
            rows["sales"],
            rows["cost"],
            rows["bid"],
            rows["currency"],
            strict=True,
        )
    ]


def _negative_rows(candidates: pd.DataFrame, by_group: pd.DataFrame, negatives: pd.DataFrame | None) -> pd.DataFrame:
    sourced = candidates[candidates["non_exact"]]
    elsewhere = sourced[sourced["dest_campaign_id"] != sourced["source_campaign_id"]].assign(ad_group_id="")
    same = sourced[sourced["dest_campaign_id"] == sourced["source_campaign_id"]]
    groups = by_group.loc[by_group["non_exact"] > 0, ["unit", "ad_group_id"]]
    same = same.merge(groups, on="unit", how="inner")
    same = same[same["ad_group_id"] != same["dest_ad_group_id"]]
    rows = pd.concat([elsewhere, same], ignore_index=True)
    if rows.empty:
        return rows.assign(kind=[], campaign_id=[], match_type=[], bid=[], order=[], reason=[])
    rows = rows.assign(
        kind="negative",
        campaign_id=rows["source_campaign_id"],
        match_type=NEGATIVE_EXACT,
        bid=np.nan,
        order=1,
        key=rows["term_key"],
    )
    if negatives is not None and not negatives.empty:
        existing = active(negatives).reset_index(drop=True)
        existing = existing.assign(
            ad_group_id=existing["ad_group_id"].fillna("").astype(object),
            language=with_language(existing, campaigns=dict(zip(rows["campaign_id"], rows["language"], strict=True))),
            key=text.normalize_many(existing["text"], language=text.DEFAULT_LANGUAGE),
        )
        keys = scope_keys(existing, rows)
        blocked = match_negatives(negatives=existing, items=rows, keys=keys)
        rows = rows.drop(index=rows.index[blocked["item_row"].unique()]).reset_index(drop=True)
    to_campaign = _(
        "“%(term)s” becomes an exact keyword in campaign %(target)s: a negative exact here stops the two competing"
    )
    to_ad_group = _(
        "“%(term)s” becomes an exact keyword in ad group %(target)s: a negative exact here stops the two competing"
    )
    rows["reason"] = [
        (to_campaign if ad_group == "" else to_ad_group)
        % {"term": term, "target": dest_ad_group if ad_group else campaign}
        for term, campaign, dest_ad_group, ad_group in zip(
            rows["text"], rows["dest_campaign_id"], rows["dest_ad_group_id"], rows["ad_group_id"], strict=True
        )
    ]
    return rows
