"""Negative keywords that would block what sells: converting search terms and active keywords.

A negative applies to its campaign (``ad_group_id`` empty) or to one ad group, and blocks a query as the
platforms match negatives (Amazon's rules, which Google and the marketplaces' ad tools follow closely):

- negative exact blocks the identical query. Amazon also blocks close variants, so the comparison is on the
  stems of the normalized words: "red shirt" blocks "Red Shirts" and "red shirt", not "red shirt xl";
- negative phrase blocks any query containing the phrase's words in the same order, with nothing between
  them, compared word by word on stems: "shirts" blocks "t-shirts" (hyphens split words) and "blue shirt";
  "red shirt" blocks "big red shirts", not "red big shirt";
- in Japanese and Chinese (no spaces, no segmenter: see ``campaigns.keywords.text``) exact means the same
  normalized text and phrase means a substring of it, both with spaces removed.

A positive keyword is blocked when its own text, read as a query, is blocked: its exact form can never
serve. The work is done per distinct text: negatives and blocked items meet through integer stem-run ids
(``text.gram_table``), then the campaign and ad-group scope is applied to the few matching pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from campaigns.keywords import text
from campaigns.models import MatchType

NEGATIVE_EXACT = "NEGATIVE_EXACT"
NEGATIVE_PHRASE = "NEGATIVE_PHRASE"
POSITIVE_MATCH_TYPES = ("EXACT", "PHRASE", "BROAD")
INACTIVE_STATES = frozenset({"archived", "paused", "removed", "deleted", "disabled"})
SCOPE_KEYS = ("channel", "account_id")
CONFLICT_COLUMNS = [
    "campaign_id",
    "scope",
    "negative_ad_group_id",
    "negative_text",
    "negative_match_type",
    "blocked_kind",
    "ad_group_id",
    "blocked_text",
    "blocked_match_type",
    "orders",
    "sales",
    "explanation",
]


def active(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose ``state`` (when the frame has one) is not paused, archived or removed."""
    if "state" not in frame.columns or frame.empty:
        return frame
    state = frame["state"].fillna("").astype(str).str.casefold()
    return frame[~state.isin(INACTIVE_STATES)]


def scope_keys(*frames: pd.DataFrame) -> list[str]:
    """Columns a negative and what it blocks must share: the campaign, plus channel and account when every
    frame has them (campaign ids are unique per account, not across platforms)."""
    return ["campaign_id", *(key for key in SCOPE_KEYS if all(key in frame.columns for frame in frames))]


def campaign_languages(
    frames: list[pd.DataFrame], *, language_of: Callable[[str], str] = text.marketplace_language
) -> dict[str, str]:
    """campaign_id -> language, from the first non-empty ``marketplace`` seen for the campaign in the frames."""
    mapping: dict[str, str] = {}
    for frame in frames:
        if "marketplace" in frame.columns and not frame.empty:
            pairs = frame[["campaign_id", "marketplace"]].astype(object)
            pairs = pairs[pairs["marketplace"].fillna("") != ""].drop_duplicates("campaign_id")
            for campaign_id, marketplace in pairs.itertuples(index=False):
                mapping.setdefault(campaign_id, language_of(marketplace))
    return mapping


def with_language(
    frame: pd.DataFrame,
    *,
    campaigns: dict[str, str],
    language_of: Callable[[str], str] = text.marketplace_language,
) -> pd.Series:
    """Language per row: its own ``language``, else its ``marketplace``'s when set, else its campaign's (from
    ``campaigns``), else the default."""
    if "language" in frame.columns:
        return frame["language"].astype(object)
    by_campaign = frame["campaign_id"].map(campaigns).astype(object).fillna(language_of("")).to_numpy(dtype=object)
    if "marketplace" not in frame.columns:
        return pd.Series(by_campaign, index=frame.index, dtype=object)
    marketplace = frame["marketplace"].fillna("").astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(marketplace, use_na_sentinel=False)
    own = np.array([language_of(m) for m in uniques], dtype=object)[codes] if len(codes) else by_campaign
    return pd.Series(np.where(marketplace != "", own, by_campaign), index=frame.index, dtype=object)


def _key_matches(neg_keys: np.ndarray, neg_types: np.ndarray, item_keys: np.ndarray, language: str) -> pd.DataFrame:
    """(neg, item) index pairs of distinct negative keys and distinct item keys that the negative blocks."""
    if not len(neg_keys) or not len(item_keys):
        return pd.DataFrame({"neg": np.array([], np.int64), "item": np.array([], np.int64)})
    if text.is_cjk(language):
        return _cjk_matches(neg_keys, neg_types, item_keys)
    keys = np.concatenate([neg_keys, item_keys])
    index = text.token_index(keys, language=language)
    length = index.lengths
    neg_length = length[: len(neg_keys)]
    grams = text.gram_table(index, lengths=set(neg_length[neg_length > 0].tolist()))
    is_item = grams["item"].to_numpy() >= len(neg_keys)
    neg_full = grams[~is_item & (grams["start"].to_numpy() == 0)]
    neg_full = neg_full[neg_full["n"].to_numpy() == neg_length[neg_full["item"].to_numpy()]]
    neg_full = neg_full.assign(exact=neg_types[neg_full["item"].to_numpy()] == NEGATIVE_EXACT)
    item_grams = grams[is_item]
    item_grams = item_grams.assign(
        whole=(item_grams["start"].to_numpy() == 0)
        & (item_grams["n"].to_numpy() == length[item_grams["item"].to_numpy()])
    )
    matched = neg_full[["item", "n", "gram", "exact"]].merge(
        item_grams[["item", "n", "gram", "whole"]], on=["n", "gram"], suffixes=("_neg", "_item")
    )
    matched = matched[~matched["exact"] | matched["whole"]]
    pairs = pd.DataFrame(
        {"neg": matched["item_neg"].to_numpy(), "item": matched["item_item"].to_numpy() - len(neg_keys)}
    )
    return pairs.drop_duplicates(ignore_index=True)


def _cjk_matches(neg_keys: np.ndarray, neg_types: np.ndarray, item_keys: np.ndarray) -> pd.DataFrame:
    neg_compact = [key.replace(" ", "") for key in neg_keys]
    item_compact = [key.replace(" ", "") for key in item_keys]
    wanted: dict[tuple[int, str], list[int]] = {}
    for position, key in enumerate(neg_compact):
        if key:
            wanted.setdefault((len(key), key), []).append(position)
    by_length: dict[int, set[str]] = {}
    for length, key in wanted:
        by_length.setdefault(length, set()).add(key)
    negs, items = [], []
    for item, key in enumerate(item_compact):
        for length, candidates in by_length.items():
            if length > len(key):
                continue
            found = {key[i : i + length] for i in range(len(key) - length + 1)} & candidates
            for substring in found:
                for neg in wanted[(length, substring)]:
                    if neg_types[neg] != NEGATIVE_EXACT or substring == key:
                        negs.append(neg)
                        items.append(item)
    return pd.DataFrame({"neg": np.array(negs, dtype=np.int64), "item": np.array(items, dtype=np.int64)})


def match_negatives(
    *,
    negatives: pd.DataFrame,
    items: pd.DataFrame,
    keys: list[str] | None = None,
) -> pd.DataFrame:
    """Which items each negative blocks, within its scope.

    negatives: language, campaign_id, ad_group_id ('' for campaign level), key (normalized text), match_type
    (NEGATIVE_EXACT / NEGATIVE_PHRASE). items: language, campaign_id, ad_group_id, key. ``keys`` are the
    columns both must share (``scope_keys``). Returns ``neg_row`` and ``item_row``: positions in the two frames.
    """
    keys = keys or ["campaign_id"]
    empty = pd.DataFrame({"neg_row": np.array([], np.int64), "item_row": np.array([], np.int64)})
    if negatives.empty or items.empty:
        return empty
    negs = negatives[[*keys, "ad_group_id", "language", "key", "match_type"]].reset_index(drop=True)
    negs["neg_row"] = np.arange(len(negs))
    negs["ad_group_id"] = negs["ad_group_id"].fillna("").astype(object)
    negs = negs[negs["match_type"].isin([NEGATIVE_EXACT, NEGATIVE_PHRASE]) & (negs["key"] != "")]
    its = items[[*keys, "ad_group_id", "language", "key"]].reset_index(drop=True)
    its["item_row"] = np.arange(len(its))
    its = its.merge(negs[keys].drop_duplicates(), on=keys, how="inner")  # only campaigns with negatives
    results = []
    for language, neg_part in negs.groupby("language", sort=True):
        item_part = its[its["language"] == language]
        if item_part.empty:
            continue
        neg_codes, neg_keys = pd.factorize(
            pd.Series(list(zip(neg_part["key"], neg_part["match_type"], strict=True)), dtype=object)
        )
        neg_key_text = np.array([key for key, _type in neg_keys], dtype=object)
        neg_key_type = np.array([match_type for _key, match_type in neg_keys], dtype=object)
        item_codes, item_keys = pd.factorize(item_part["key"].to_numpy(dtype=object))
        pairs = _key_matches(neg_key_text, neg_key_type, np.asarray(item_keys, dtype=object), language)
        if pairs.empty:
            continue
        left = pd.DataFrame({"neg": neg_codes, "neg_row": neg_part["neg_row"].to_numpy()})
        for column in [*keys, "ad_group_id"]:
            left[column] = neg_part[column].to_numpy()
        right = pd.DataFrame({"item": item_codes, "item_row": item_part["item_row"].to_numpy()})
        for column in [*keys, "ad_group_id"]:
            right[column] = item_part[column].to_numpy()
        joined = left.merge(pairs, on="neg").merge(right, on=["item", *keys], suffixes=("_neg", "_item"))
        in_scope = (joined["ad_group_id_neg"] == "") | (joined["ad_group_id_neg"] == joined["ad_group_id_item"])
        results.append(joined.loc[in_scope, ["neg_row", "item_row"]])
    if not results:
        return empty
    return pd.concat(results, ignore_index=True).sort_values(["neg_row", "item_row"], ignore_index=True)


def _prepare_negatives(negatives: pd.DataFrame, campaigns: dict[str, str], language_of) -> pd.DataFrame:
    frame = active(negatives).reset_index(drop=True)
    frame = frame.assign(
        ad_group_id=frame["ad_group_id"].fillna("").astype(object) if "ad_group_id" in frame else "",
        language=with_language(frame, campaigns=campaigns, language_of=language_of),
    )
    return frame.assign(key=text.normalize_many(frame["text"], language=text.DEFAULT_LANGUAGE))


def find_conflicts(
    *,
    negatives: pd.DataFrame,
    terms: pd.DataFrame,
    keywords: pd.DataFrame | None = None,
    language_of: Callable[[str], str] = text.marketplace_language,
) -> pd.DataFrame:
    """Converting search terms (orders > 0 in ``terms``) and active positive keywords that each negative
    would block, within its campaign or ad group.

    negatives: campaign_id, ad_group_id ('' = campaign level), text, match_type; proposed negatives from
    ``mine_negatives`` or existing ones from ``negatives_frame``. keywords: campaign_id, ad_group_id, text,
    match_type (EXACT/PHRASE/BROAD), optional state. The language of a row comes from its ``marketplace``
    column or else from its campaign's marketplace in ``terms``.

    One row per (negative, blocked item) with CONFLICT_COLUMNS (plus channel and account_id when every frame
    has them): scope is "campaign" or "ad_group"; blocked_kind "search_term" (its orders and sales summed over
    the window in that ad group) or "keyword" (orders and sales of the search terms it matched). Sorted by
    campaign, negative, blocked kind, sales descending, blocked text.
    """
    keywords = keywords if keywords is not None else pd.DataFrame(columns=["campaign_id", "ad_group_id", "text"])
    frames = [negatives, terms, *([keywords] if not keywords.empty else [])]
    keys = scope_keys(*frames)
    if negatives.empty:
        return _empty_conflicts(keys)
    campaigns = campaign_languages([terms, keywords, negatives], language_of=language_of)
    negs = _prepare_negatives(negatives, campaigns, language_of)

    frame = terms
    items = []
    if not frame.empty:
        if "language" not in frame.columns and "marketplace" not in frame.columns:
            frame = frame.assign(language=with_language(frame, campaigns=campaigns, language_of=language_of))
        frame = text.annotate(frame)
        converting = frame[frame["orders"].to_numpy() > 0]
        sold = converting.groupby([*keys, "ad_group_id", "language", "term_key"], sort=False, observed=True).agg(
            orders=("orders", "sum"), sales=("sales", "sum"), blocked_text=("search_term", "first")
        )
        sold = sold.reset_index().rename(columns={"term_key": "key"})
        items.append(sold.assign(blocked_kind="search_term", blocked_match_type=""))
    if not keywords.empty:
        items.append(_keyword_items(keywords, frame, keys, campaigns, language_of))
    if not items:
        return _empty_conflicts(keys)
    blocked = pd.concat(items, ignore_index=True)
    pairs = match_negatives(negatives=negs, items=blocked, keys=keys)
    if pairs.empty:
        return _empty_conflicts(keys)
    neg_rows = negs.iloc[pairs["neg_row"].to_numpy()].reset_index(drop=True)
    item_rows = blocked.iloc[pairs["item_row"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame({key: neg_rows[key].to_numpy() for key in keys})
    out["scope"] = np.where(neg_rows["ad_group_id"].to_numpy() == "", "campaign", "ad_group")
    out["negative_ad_group_id"] = neg_rows["ad_group_id"].to_numpy()
    out["negative_text"] = neg_rows["text"].to_numpy()
    out["negative_match_type"] = neg_rows["match_type"].to_numpy()
    for column in ("blocked_kind", "ad_group_id", "blocked_text", "blocked_match_type"):
        out[column] = item_rows[column].to_numpy()
    out["orders"] = item_rows["orders"].to_numpy(dtype=np.int64)
    out["sales"] = np.round(item_rows["sales"].to_numpy(dtype=float), 2)
    out["explanation"] = _explanations(out)
    out = out.sort_values(
        [
            *keys,
            "negative_text",
            "negative_match_type",
            "negative_ad_group_id",
            "blocked_kind",
            "sales",
            "blocked_text",
        ],
        ascending=[*([True] * len(keys)), True, True, True, True, False, True],
        kind="stable",
    )
    return out[[*keys, *CONFLICT_COLUMNS[1:]]].reset_index(drop=True)


def _keyword_items(keywords, frame, keys, campaigns, language_of) -> pd.DataFrame:
    positive = active(keywords)
    positive = positive[positive["match_type"].isin(POSITIVE_MATCH_TYPES)].reset_index(drop=True)
    positive = positive.assign(
        language=with_language(positive, campaigns=campaigns, language_of=language_of),
        key=text.normalize_many(positive["text"], language=text.DEFAULT_LANGUAGE),
        ad_group_id=positive["ad_group_id"].fillna("").astype(object),
    )
    positive = positive.drop_duplicates([*keys, "ad_group_id", "key", "match_type"])
    if not frame.empty and "target_text" in frame.columns:
        served = frame[frame["orders"].to_numpy() > 0]
        served = served.assign(key=text.normalize_many(served["target_text"], language=text.DEFAULT_LANGUAGE))
        served = served.groupby([*keys, "ad_group_id", "key", "match_type"], sort=False, observed=True)[
            ["orders", "sales"]
        ].sum()
        positive = positive.merge(served.reset_index(), on=[*keys, "ad_group_id", "key", "match_type"], how="left")
    else:
        positive = positive.assign(orders=0, sales=0.0)
    positive["orders"] = positive["orders"].fillna(0).astype(np.int64)
    positive["sales"] = positive["sales"].fillna(0.0).astype(float)
    return pd.DataFrame(
        {
            **{key: positive[key].to_numpy() for key in keys},
            "ad_group_id": positive["ad_group_id"].to_numpy(),
            "language": positive["language"].to_numpy(),
            "key": positive["key"].to_numpy(),
            "orders": positive["orders"].to_numpy(),
            "sales": positive["sales"].to_numpy(),
            "blocked_text": positive["text"].to_numpy(),
            "blocked_kind": "keyword",
            "blocked_match_type": positive["match_type"].to_numpy(),
        }
    )


def _explanations(out: pd.DataFrame) -> list[str]:
    term_message = _(
        "%(negative_type)s “%(negative)s” would block the search term “%(blocked)s”, which brought %(orders)s orders"
    )
    keyword_message = _("%(negative_type)s “%(negative)s” would block the keyword “%(blocked)s” (%(match_type)s)")
    labels = dict(MatchType.choices)
    explanations = []
    for negative, negative_type, kind, blocked, match_type, orders in zip(
        out["negative_text"],
        out["negative_match_type"],
        out["blocked_kind"],
        out["blocked_text"],
        out["blocked_match_type"],
        out["orders"],
        strict=True,
    ):
        values = {
            "negative_type": labels.get(negative_type, negative_type),
            "negative": negative,
            "blocked": blocked,
            "orders": orders,
            "match_type": labels.get(match_type, match_type),
        }
        explanations.append((term_message if kind == "search_term" else keyword_message) % values)
    return explanations


def _empty_conflicts(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in [*keys, *CONFLICT_COLUMNS[1:]]})
