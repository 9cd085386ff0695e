"""Negative keyword mining: search terms that spend without selling, and the word runs behind many of them.

Rules:

- A term is judged per campaign (negatives proposed here are campaign level): its rows are summed over the
  window across the campaign's ad groups. Terms compare by normalized text.
- Wasted: no orders, clicks >= min_clicks, spend > 0 and, when set, spend >= min_spend. Rows of a wasted term
  that an existing negative already blocks (in the campaign, or in the row's own ad group) leave its evidence
  first (that waste has been dealt with), and the term is judged again on what is left. A term that sold is
  never proposed, even where the ad group it sold in now excludes it.
- NEGATIVE_PHRASE instead of exact: when the n-gram analysis of the campaign (``ngram_table`` by campaign,
  over stems) finds a root of the wasted term (a 1-3 word run) that no term containing it ever converted on,
  across at least ``phrase_min_terms`` distinct terms, with clicks >= min_clicks and spend >= min_spend in
  total, and not made only of stop words or single letters (``wasted_roots``). Such a root blocks the whole
  family at once, including terms too small to judge one by one, and no term of the campaign that sold in the
  window.
  A wasted term with several such roots goes to the one covering the most terms (then the most spend, then
  the shortest); each root used becomes one NEGATIVE_PHRASE row carrying the root's totals, and the terms it
  covers get no exact row of their own.
- Otherwise NEGATIVE_EXACT on the term.

Proposals may still block a keyword or a converting term elsewhere in the campaign: run ``find_conflicts`` on
them before they are shown.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from campaigns.keywords import text
from campaigns.keywords.conflicts import (
    NEGATIVE_EXACT,
    NEGATIVE_PHRASE,
    active,
    campaign_languages,
    match_negatives,
    scope_keys,
    with_language,
)
from campaigns.keywords.ngrams import (
    Units,
    add_labels,
    gram_sums,
    language_grams,
    term_units,
    unit_examples,
    wasted_roots,
)

CAMPAIGN = text.CAMPAIGN_SCOPE
METRICS = ["impressions", "clicks", "cost", "orders", "sales"]
NEGATIVE_COLUMNS = [
    "channel",
    "account_id",
    "marketplace",
    "currency",
    "campaign_id",
    "campaign_name",
    "ad_group_id",
    "text",
    "term_key",
    "match_type",
    "terms",
    "impressions",
    "clicks",
    "cost",
    "orders",
    "sales",
    "cpc",
    "examples",
    "reason",
]
EXAMPLES = 3


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in NEGATIVE_COLUMNS})


def mine_negatives(
    *,
    terms: pd.DataFrame,
    min_clicks: int = 10,
    min_spend: float | None = None,
    negatives: pd.DataFrame | None = None,
    phrase_min_terms: int = 3,
    language: str | None = None,
) -> pd.DataFrame:
    """Campaign-level negatives for search terms that spent with no orders (see the module docstring).

    terms: a search-term frame. negatives: existing negatives (campaign_id, ad_group_id, text, match_type,
    optional state); what they block is left out. ``language`` forces one language instead of each
    marketplace's.

    One row per proposal with NEGATIVE_COLUMNS: match_type NEGATIVE_EXACT (text: the term as shoppers typed
    it) or NEGATIVE_PHRASE (text: the root), ad_group_id '' (campaign level), terms (distinct terms the
    evidence covers), the summed evidence, up to three example terms and a translated ``reason``. Sorted by
    campaign, spend descending, match type, text.
    """
    if terms.empty:
        return _empty()
    frame = text.annotate(terms, language=language)
    units = term_units(frame, [*CAMPAIGN, "language"])
    floor = min_spend or 0.0
    wasted = _wasted(units.sums, min_clicks, floor) & text.keyword_terms(units.keys[units.term])
    if negatives is not None and not negatives.empty and wasted.any():
        wasted, units = _drop_negated(frame, units, wasted, negatives, min_clicks, floor)
    chosen = np.flatnonzero(wasted)
    if not len(chosen):
        return _empty()
    waste = units.groups.iloc[units.group[chosen]].reset_index(drop=True)
    waste["unit"] = chosen
    waste["term_key"] = units.keys[units.term[chosen]]
    for metric in METRICS:
        waste[metric] = units.sums[metric][chosen]
    examples = unit_examples(frame, units, chosen)
    waste["text"] = examples["text"].to_numpy()
    waste["campaign_name"] = examples["campaign_name"].to_numpy()

    phrase_rows, covered = _phrases(units, waste, min_clicks=min_clicks, min_spend=floor, min_terms=phrase_min_terms)
    exact = waste[~covered].assign(match_type=NEGATIVE_EXACT, terms=1, examples="")
    out = pd.concat([phrase_rows, exact], ignore_index=True)
    out["ad_group_id"] = ""
    return _finish(out)


def _wasted(sums: dict[str, np.ndarray], min_clicks: int, min_spend: float) -> np.ndarray:
    return (sums["orders"] == 0) & (sums["clicks"] >= min_clicks) & (sums["cost"] > 0) & (sums["cost"] >= min_spend)


def _drop_negated(frame, units: Units, wasted, negatives, min_clicks: int, min_spend: float) -> tuple:
    """The wasted units (and their sums) left once the rows an existing negative blocks (in the campaign, or
    in the row's own ad group) are taken out of their evidence. Only the wasted units' rows are matched."""
    rows = np.flatnonzero(wasted[units.row_unit])
    items = frame.iloc[rows]
    existing = active(negatives).reset_index(drop=True)
    existing = existing.assign(
        ad_group_id=existing["ad_group_id"].fillna("").astype(object),
        language=with_language(existing, campaigns=campaign_languages([items])),
        key=text.normalize_many(existing["text"], language=text.DEFAULT_LANGUAGE),
    )
    keys = scope_keys(existing, items)
    probe = pd.DataFrame({column: items[column].to_numpy(dtype=object) for column in [*keys, "ad_group_id"]})
    probe["language"] = items["language"].to_numpy(dtype=object)
    probe["key"] = items["term_key"].to_numpy(dtype=object)
    blocked = match_negatives(negatives=existing, items=probe, keys=keys)
    if blocked.empty:
        return wasted, units
    blocked_rows = rows[np.unique(blocked["item_row"].to_numpy())]
    affected = np.unique(units.row_unit[blocked_rows])
    keep_row = np.ones(len(frame), dtype=bool)
    keep_row[blocked_rows] = False
    sums = {}
    for metric in METRICS:
        sums[metric] = np.bincount(
            units.row_unit[rows], weights=(frame[metric].to_numpy(dtype=float) * keep_row)[rows], minlength=len(wasted)
        )
    wasted = wasted.copy()
    wasted[affected] = _wasted({metric: values[affected] for metric, values in sums.items()}, min_clicks, min_spend)
    adjusted = {metric: values.copy() for metric, values in units.sums.items()}
    for metric in METRICS:
        adjusted[metric][affected] = sums[metric][affected]
    return wasted, replace(units, sums=adjusted)


def _phrases(
    units, waste: pd.DataFrame, *, min_clicks: int, min_spend: float, min_terms: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """NEGATIVE_PHRASE rows for the wasted roots of the campaigns with waste, and which wasted terms (rows of
    ``waste``) they cover."""
    covered = np.zeros(len(waste), dtype=bool)
    pieces = []
    wasted_groups = np.unique(units.group[waste["unit"].to_numpy()])
    languages = units.groups["language"].to_numpy(dtype=object)
    for language in sorted(set(languages[wasted_groups])):
        groups = wasted_groups[languages[wasted_groups] == language]
        in_groups = np.zeros(len(languages), dtype=bool)
        in_groups[groups] = True
        unit_mask = in_groups[units.group]
        grams = language_grams(units, language=language, unit_mask=unit_mask, n=(1, 2, 3))
        if grams.pairs.empty:
            continue
        positions = np.flatnonzero(waste["language"].to_numpy(dtype=object) == language)
        wasted_units = waste["unit"].to_numpy()[positions]
        # the grams of each wasted term, in its campaign
        term_grams = _unit_grams(grams, wasted_units)
        term_grams["position"] = positions[term_grams["which"].to_numpy()]
        term_grams["group"] = units.group[wasted_units][term_grams["which"].to_numpy()]
        # sums over every term of the campaign for just those grams
        width = int(grams.pairs["gram"].max()) + 1
        wanted = np.zeros(4 * width, dtype=bool)  # n <= 3
        wanted[term_grams["n"].to_numpy() * width + term_grams["gram"].to_numpy()] = True
        pair_mask = wanted[grams.pairs["n"].to_numpy() * width + grams.pairs["gram"].to_numpy()]
        table = gram_sums(units, grams, pair_mask=pair_mask)
        table = table[(table["orders"] == 0) & (table["terms"] >= min_terms)]
        # keep a gram only in the campaigns where a wasted term has it
        own = (term_grams["group"].to_numpy() * 4 + term_grams["n"].to_numpy()) * width + term_grams["gram"].to_numpy()
        mine = (table["group"].to_numpy() * 4 + table["n"].to_numpy()) * width + table["gram"].to_numpy()
        table = table[np.isin(mine, own)]
        if table.empty:
            continue
        table = add_labels(table.reset_index(drop=True), grams.index)
        for column in units.groups.columns:
            table[column] = units.groups[column].to_numpy(dtype=object)[table["group"].to_numpy()]
        roots = wasted_roots(table, min_terms=min_terms, min_spend=min_spend, min_clicks=min_clicks)
        if roots.empty:
            continue
        # each wasted term goes to its root covering the most terms, then the most spend, then the shortest
        roots = roots.sort_values(["terms", "cost", "n", "stem_key"], ascending=[False, False, True, True])
        roots = roots.assign(rank=np.arange(len(roots)))
        matched = term_grams.merge(roots[["group", "n", "gram", "rank"]], on=["group", "n", "gram"])
        best = matched.sort_values(["position", "rank"]).drop_duplicates("position", keep="first")
        covered[best["position"].to_numpy()] = True
        used = roots[roots["rank"].isin(best["rank"])]
        pieces.append(_phrase_rows(used, best, waste))
    if not pieces:
        return pd.DataFrame(columns=[*CAMPAIGN, "match_type"]), covered
    return pd.concat(pieces, ignore_index=True), covered


def _unit_grams(grams, units_: np.ndarray) -> pd.DataFrame:
    """(which, n, gram): the distinct grams of each given unit (``which`` indexes ``units_``)."""
    items = grams.unit_item[units_]
    pairs = grams.pairs
    pair_item = pairs["item"].to_numpy()
    order = np.argsort(pair_item, kind="stable")
    per_item = np.bincount(pair_item, minlength=len(grams.index.keys))
    start = np.cumsum(per_item) - per_item
    repeats = per_item[items]
    which = np.repeat(np.arange(len(units_)), repeats)
    within = np.arange(len(which)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    rows = order[start[items][which] + within]
    return pd.DataFrame({"which": which, "n": pairs["n"].to_numpy()[rows], "gram": pairs["gram"].to_numpy()[rows]})


def _phrase_rows(used: pd.DataFrame, best: pd.DataFrame, waste: pd.DataFrame) -> pd.DataFrame:
    position = best["position"].to_numpy()
    covered_terms = pd.DataFrame(
        {
            "rank": best["rank"].to_numpy(),
            "text": waste["text"].to_numpy(dtype=object)[position],
            "cost": waste["cost"].to_numpy()[position],
            "campaign_name": waste["campaign_name"].to_numpy(dtype=object)[position],
        }
    ).sort_values(["rank", "cost", "text"], ascending=[True, False, True], kind="stable")
    shown = covered_terms[covered_terms.groupby("rank", sort=False).cumcount().to_numpy() < EXAMPLES]
    examples: dict[int, list[str]] = {}
    for rank, term in zip(shown["rank"].tolist(), shown["text"].tolist(), strict=True):
        examples.setdefault(rank, []).append(term)
    names = covered_terms.drop_duplicates("rank").set_index("rank")["campaign_name"]
    ranks = used["rank"].to_numpy()
    return pd.DataFrame(
        {
            **{column: used[column].to_numpy(dtype=object) for column in CAMPAIGN},
            "language": used["language"].to_numpy(dtype=object),
            "campaign_name": names.reindex(ranks).to_numpy(dtype=object),
            "text": used["ngram"].to_numpy(dtype=object),
            "term_key": used["ngram"].to_numpy(dtype=object),
            "match_type": NEGATIVE_PHRASE,
            "terms": used["terms"].to_numpy(),
            **{metric: used[metric].to_numpy() for metric in METRICS},
            "examples": [", ".join(examples.get(rank, [])) for rank in ranks.tolist()],
        }
    )


def _finish(out: pd.DataFrame) -> pd.DataFrame:
    clicks = out["clicks"].to_numpy(dtype=float)
    cost = out["cost"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cpc"] = np.round(np.where(clicks > 0, cost / np.where(clicks > 0, clicks, 1), np.nan), 2)
    for column in ("impressions", "clicks", "orders", "terms"):
        out[column] = out[column].round().astype(np.int64)
    out["cost"] = np.round(cost, 2)
    out["sales"] = np.round(out["sales"].to_numpy(dtype=float), 2)
    exact = _("%(clicks)s clicks and %(cost)s spent with no orders")
    phrase = _("%(terms)s search terms containing “%(root)s” took %(clicks)s clicks and %(cost)s with no orders")
    out["reason"] = [
        (exact if match_type == NEGATIVE_EXACT else phrase)
        % {"clicks": clicks_, "cost": f"{cost_:,.2f} {currency}", "terms": terms_, "root": text_}
        for match_type, clicks_, cost_, currency, terms_, text_ in zip(
            out["match_type"], out["clicks"], out["cost"], out["currency"], out["terms"], out["text"], strict=True
        )
    ]
    out = out.sort_values(
        [*CAMPAIGN, "cost", "match_type", "term_key"],
        ascending=[True, True, True, True, True, False, True, True],
        kind="stable",
    )
    return out[NEGATIVE_COLUMNS].reset_index(drop=True)
