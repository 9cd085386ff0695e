"""N-gram analysis of search terms: which words and word runs spend without selling, across many terms.

A seller's search-term report has hundreds of thousands of distinct terms, most with a click or two; a word
such as "free" or "used" rarely has enough clicks in any one term to judge, but across all the terms that
contain it the waste is plain. ``ngram_table`` sums the terms' performance per 1, 2 and 3 word run.

Grams are counted over **stems** (``campaigns.keywords.text``): "shirt" and "shirts" are one gram; the text
shown (``ngram``) is the surface form of the occurrence in the term with the most clicks, ``stem_key`` the
stems it is grouped by. In Japanese and Chinese a token is a run of CJK characters (no dictionary segmenter),
so grams there are coarser. A term counts a gram once even when the gram occurs twice in it.

Sums are kept per language and currency (UK and US terms are both English but spend pounds and dollars), and
per any extra ``by`` columns (e.g. the campaign, for negatives). The work is done per distinct term: terms
are tokenised once, their grams get integer ids, and the per-term sums are joined to them with integer
arithmetic, so a million-row frame costs what its distinct terms cost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from campaigns.keywords import text

METRICS = ["impressions", "clicks", "cost", "orders", "sales"]
NGRAM_COLUMNS = [
    "language",
    "currency",
    "n",
    "ngram",
    "stem_key",
    "terms",
    "impressions",
    "clicks",
    "cost",
    "orders",
    "sales",
    "acos",
    "cvr",
    "generic",
]


@dataclass(frozen=True)
class Units:
    """A search-term frame summed per (group, distinct term): ``groups`` has one row per group code (sorted by
    its columns); per unit, ``group``, ``term`` (term_code) and the METRICS sums; ``keys`` maps a term_code to
    its normalized text; ``row_unit`` maps each frame row to its unit."""

    groups: pd.DataFrame
    group: np.ndarray
    term: np.ndarray
    sums: dict[str, np.ndarray]
    keys: np.ndarray
    row_unit: np.ndarray


def group_codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """An integer per distinct combination of ``columns`` (in sorted order of the values), and the values per
    code. Columns that are constant per campaign are grouped per campaign first (a few rows, not a million)."""
    columns = list(columns)
    per_campaign = {*text.CAMPAIGN_SCOPE, "language"}
    if "campaign_code" in frame.columns and set(columns) <= per_campaign:
        campaign_code = frame["campaign_code"].to_numpy()
        first = np.full(int(campaign_code.max()) + 1 if len(campaign_code) else 0, -1, dtype=np.int64)
        first[campaign_code[::-1]] = np.arange(len(campaign_code))[::-1]
        present = np.flatnonzero(first >= 0)
        campaigns = frame.iloc[first[present]][columns].reset_index(drop=True)
        per = campaigns.groupby(columns, sort=True, observed=True, dropna=False)
        campaign_group = np.full(len(first), -1, dtype=np.int64)
        campaign_group[present] = per.ngroup().to_numpy()
        codes = campaign_group[campaign_code]
        values = campaigns.iloc[_first_index(campaign_group[present])].reset_index(drop=True)
        return codes, values
    grouped = frame.groupby(columns, sort=True, observed=True, dropna=False)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    return codes, frame.iloc[_first_index(codes)][columns].reset_index(drop=True)


def _first_index(codes: np.ndarray) -> np.ndarray:
    """For codes 0..k-1, the position of the first occurrence of each."""
    first = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return first


def term_units(frame: pd.DataFrame, columns: Sequence[str]) -> Units:
    """Sum an annotated frame per (columns, term)."""
    codes, groups = group_codes(frame, columns)
    term = frame["term_code"].to_numpy()
    width = int(term.max()) + 1 if len(term) else 1
    row_unit, uniques = pd.factorize(codes * width + term)
    sums = {metric: np.bincount(row_unit, weights=frame[metric].to_numpy(dtype=float)) for metric in METRICS}
    keys = np.empty(width, dtype=object)
    keys[term] = frame["term_key"].to_numpy(dtype=object)
    return Units(
        groups=groups,
        group=(uniques // width).astype(np.int64),
        term=(uniques % width).astype(np.int64),
        sums=sums,
        keys=keys,
        row_unit=row_unit.astype(np.int64),
    )


@dataclass(frozen=True)
class LanguageGrams:
    """The grams of the units of one language: ``index`` over their distinct terms (sorted, so ids do not
    depend on row order), ``unit_item`` (per unit of the language, its key in the index, -1 for other
    languages) and ``pairs`` (item, start, n, gram: one row per distinct gram of each key)."""

    index: text.TokenIndex
    unit_item: np.ndarray
    pairs: pd.DataFrame


def language_grams(units: Units, *, language: str, unit_mask: np.ndarray, n: Sequence[int]) -> LanguageGrams:
    """Tokenise the distinct terms of the units in ``unit_mask`` (all of one language) and list their grams."""
    present = np.zeros(len(units.keys), dtype=bool)
    present[units.term[unit_mask]] = True
    terms = np.flatnonzero(present)
    order, index, pairs = _indexed(units.keys[terms], language, n)
    item_of_term = np.full(len(units.keys), -1, dtype=np.int64)
    item_of_term[terms[order]] = np.arange(len(terms))
    unit_item = np.where(unit_mask, item_of_term[units.term], -1)
    return LanguageGrams(index=index, unit_item=unit_item, pairs=pairs)


# The tools of one page (negatives, n-grams) read the same terms: the last tokenised term sets (one per
# language) are kept, so a seller's terms are tokenised once per run rather than once per tool. Only an
# identical list of keys (compared in full) is served from here. At most _RECENT_KEYS keys are held (about
# 100 MB with their grams); a bigger set is simply not kept.
_RECENT: OrderedDict[tuple, tuple[np.ndarray, text.TokenIndex, pd.DataFrame]] = OrderedDict()
_RECENT_KEYS = 250_000
_RECENT_LOCK = threading.Lock()


def _indexed(keys: np.ndarray, language: str, n: Sequence[int]) -> tuple[np.ndarray, text.TokenIndex, pd.DataFrame]:
    """The alphabetical order of ``keys`` (so gram ids do not depend on row order), the token index of the
    sorted keys and their distinct grams (item, start, n, gram)."""
    fingerprint = (language, tuple(sorted(n)), len(keys), hash(tuple(keys.tolist())))
    with _RECENT_LOCK:
        found = _RECENT.get(fingerprint)
        if found is not None and np.array_equal(found[1].keys, keys[found[0]]):
            _RECENT.move_to_end(fingerprint)
            return found
    order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
    index = text.token_index(keys[order], language=language)
    grams = text.gram_table(index, lengths=n)
    pairs = grams.drop_duplicates(["item", "n", "gram"], keep="first", ignore_index=True)
    with _RECENT_LOCK:
        _RECENT[fingerprint] = (order, index, pairs)
        while sum(len(held.keys) for _order, held, _pairs in _RECENT.values()) > _RECENT_KEYS:
            _RECENT.popitem(last=False)
    return order, index, pairs


def gram_sums(units: Units, grams: LanguageGrams, *, pair_mask: np.ndarray | None = None) -> pd.DataFrame:
    """Per (group, n, gram): terms (distinct terms containing it) and the METRICS sums, plus the occurrence
    that labels it (``label_item``, ``label_start``: in the term with the most clicks in the language)."""
    pairs = grams.pairs if pair_mask is None else grams.pairs[pair_mask]
    unit_item = grams.unit_item
    units_here = np.flatnonzero(unit_item >= 0)
    items = unit_item[units_here]
    count = len(grams.index.keys)
    # many-to-many join of pairs and units on the item, with integer arithmetic
    order = units_here[np.argsort(items, kind="stable")]
    per_item = np.bincount(items, minlength=count)
    item_start = np.cumsum(per_item) - per_item
    pair_item = pairs["item"].to_numpy()
    repeats = per_item[pair_item]
    pair_of_row = np.repeat(np.arange(len(pairs)), repeats)
    within = np.arange(len(pair_of_row)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    unit_of_row = order[item_start[pair_item][pair_of_row] + within]
    pair_n = pairs["n"].to_numpy()
    pair_gram = pairs["gram"].to_numpy()
    gram_width = int(pair_gram.max()) + 1 if len(pair_gram) else 1
    n_width = int(pair_n.max()) + 1 if len(pair_n) else 1
    key = (units.group[unit_of_row] * n_width + pair_n[pair_of_row]) * gram_width + pair_gram[pair_of_row]
    row_group, uniques = pd.factorize(key)
    table = pd.DataFrame(
        {
            "group": uniques // (n_width * gram_width),
            "n": (uniques // gram_width) % n_width,
            "gram": uniques % gram_width,
            "terms": np.bincount(row_group, minlength=len(uniques)),
        }
    )
    for metric in METRICS:
        table[metric] = np.bincount(row_group, weights=units.sums[metric][unit_of_row], minlength=len(uniques))
    # the label of each (n, gram): its occurrence in the most-clicked term of the language
    clicks = np.bincount(items, weights=units.sums["clicks"][units_here], minlength=count)
    label_order = np.lexsort((pair_item, -clicks[pair_item], pair_gram, pair_n))
    label_key = pair_n[label_order] * gram_width + pair_gram[label_order]
    firsts = label_order[np.r_[True, label_key[1:] != label_key[:-1]]] if len(label_key) else label_order
    label_keys = pair_n[firsts] * gram_width + pair_gram[firsts]
    position = np.searchsorted(label_keys, table["n"].to_numpy() * gram_width + table["gram"].to_numpy())
    table["label_item"] = pair_item[firsts][position] if len(firsts) else np.array([], dtype=np.int64)
    table["label_start"] = pairs["start"].to_numpy()[firsts][position] if len(firsts) else np.array([], np.int64)
    return table


def add_labels(table: pd.DataFrame, index: text.TokenIndex) -> pd.DataFrame:
    """ngram (surface text), stem_key and generic for the rows of a ``gram_sums`` table."""
    items = table["label_item"].to_numpy()
    starts = table["label_start"].to_numpy()
    n = table["n"].to_numpy()
    return table.assign(
        ngram=index.words(items, starts, n),
        stem_key=index.words(items, starts, n, stemmed=True),
        generic=index.generic(items, starts, n),
    )


def add_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    cost = frame["cost"].to_numpy(dtype=float)
    sales = frame["sales"].to_numpy(dtype=float)
    clicks = frame["clicks"].to_numpy(dtype=float)
    orders = frame["orders"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["acos"] = np.where(sales > 0, cost / np.where(sales > 0, sales, 1), np.nan)
        frame["cvr"] = np.where(clicks > 0, orders / np.where(clicks > 0, clicks, 1), np.nan)
    return frame


def _columns(by: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*by, *NGRAM_COLUMNS]))


def _empty(by: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in _columns(by)})


def ngram_table(
    *,
    terms: pd.DataFrame,
    n: Sequence[int] = (1, 2, 3),
    language: str | None = None,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Sums per gram: one row per (*by, language, currency, n, gram).

    Columns: the ``by`` columns, language, currency, n, ngram (surface text), stem_key (the stems the gram is
    grouped by), terms (distinct terms containing it), impressions, clicks, cost, orders, sales, acos (NaN
    without sales), cvr (NaN without clicks), generic (only stop words or single characters: not a root to
    act on). ``language`` forces one language for every row instead of each marketplace's. Sorted by the
    group columns, n, cost descending, stem_key.
    """
    by = list(by)
    if terms.empty:
        return _empty(by)
    frame = text.annotate(terms, language=language)
    units = term_units(frame, list(dict.fromkeys([*by, "language", "currency"])))
    languages = units.groups["language"].to_numpy(dtype=object)
    pieces, indexes = [], []
    for lang in sorted(set(languages)):
        unit_mask = (languages == lang)[units.group]
        grams = language_grams(units, language=lang, unit_mask=unit_mask, n=n)
        if grams.pairs.empty:
            continue
        pieces.append(gram_sums(units, grams).assign(index=len(indexes)))
        indexes.append(grams.index)
    if not pieces:
        return _empty(by)
    table = pd.concat(pieces, ignore_index=True)
    # order on numbers first (group, n, cost descending, then stems: gram ids follow their alphabetical order),
    # then write the text columns in that order
    order = np.lexsort(
        (table["gram"].to_numpy(), -table["cost"].to_numpy(), table["n"].to_numpy(), table["group"].to_numpy())
    )
    table = table.iloc[order].reset_index(drop=True)
    ngram = np.empty(len(table), dtype=object)
    stem_key = np.empty(len(table), dtype=object)
    generic = np.zeros(len(table), dtype=bool)
    which = table["index"].to_numpy()
    for position, index in enumerate(indexes):
        rows = np.flatnonzero(which == position)
        labelled = add_labels(table.iloc[rows], index)
        ngram[rows] = labelled["ngram"].to_numpy()
        stem_key[rows] = labelled["stem_key"].to_numpy()
        generic[rows] = labelled["generic"].to_numpy()
    for column in units.groups.columns:
        table[column] = units.groups[column].to_numpy(dtype=object)[table["group"].to_numpy()]
    for column in ("impressions", "clicks", "orders"):
        table[column] = np.round(table[column].to_numpy()).astype(np.int64)
    table = add_ratios(table.assign(ngram=ngram, stem_key=stem_key, generic=generic))
    return table[_columns(by)]


def wasted_roots(
    table: pd.DataFrame, *, min_terms: int = 3, min_spend: float = 0.0, min_clicks: int = 0
) -> pd.DataFrame:
    """Grams of an ``ngram_table`` that spent without a single order across several terms: orders == 0,
    terms >= min_terms, cost >= min_spend (and > 0), clicks >= min_clicks, and not generic. Sorted by cost
    descending, then the table's own order."""
    mask = (
        (table["orders"] == 0)
        & (table["terms"] >= min_terms)
        & (table["cost"] >= min_spend)
        & (table["cost"] > 0)
        & (table["clicks"] >= min_clicks)
        & ~table["generic"].astype(bool)
    )
    return table[mask].sort_values("cost", ascending=False, kind="stable").reset_index(drop=True)


def unit_examples(frame: pd.DataFrame, units: Units, unit_ids: np.ndarray) -> pd.DataFrame:
    """For the given units: the search term as shoppers typed it (the form with the most clicks, ties by
    text) and the campaign name, from the frame's rows of those units. Work on those rows only."""
    wanted = np.zeros(len(units.term), dtype=bool)
    wanted[unit_ids] = True
    rows = frame.loc[wanted[units.row_unit], ["search_term", "campaign_name", "clicks"]]
    rows = rows.assign(unit=units.row_unit[wanted[units.row_unit]], search_term=rows["search_term"].astype(object))
    rows = rows.sort_values(["unit", "clicks", "search_term"], ascending=[True, False, True], kind="stable")
    first = rows.drop_duplicates("unit", keep="first").set_index("unit")
    return pd.DataFrame(
        {
            "text": first["search_term"].reindex(unit_ids).to_numpy(dtype=object),
            "campaign_name": first["campaign_name"].astype(object).reindex(unit_ids).to_numpy(dtype=object),
        }
    )
