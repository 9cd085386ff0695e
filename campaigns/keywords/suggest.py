"""Keyword ideas a seller has not tried yet: phrases from their own product titles, and search terms that
convert for sibling products (other sizes, colours or bundles of the same item) but not for this one.

Text is compared through ``campaigns.keywords.text`` like every other keyword tool, so "Men's T-Shirts" and
"mens t shirts" are one keyword. Two keywords whose stems are the same words in another order ("earbuds
wireless" / "wireless earbuds") are one idea; the form seen most often is offered.

Title phrases (``suggest_from_titles``):

- Titles are cut into segments at punctuation (commas, pipes, brackets, " - "), so no phrase crosses from
  one part of a title into another. Phrases are 1 to 3 consecutive words of a segment that neither start nor
  end with a stop word (small built-in lists for en, de, fr, es, it); a single word needs three letters and
  numbers alone are dropped.
- Chinese and Japanese: words are runs of CJK characters split at common particles (の, と, 的, 和 ...),
  as there is no dictionary segmenter. A run of up to 12 characters is a word; from a longer run, pieces of
  2 to 12 characters are offered only when they recur in two titles or more, and a piece inside a longer
  phrase that recurs at least as often gives way to it.
- Ranked by how many titles hold the phrase, then by length (two words first, the usual balance of volume
  and intent, then three, then one; for CJK one run first), then by first appearance. Suggested as PHRASE.

Sibling terms (``suggest_from_siblings``): search terms with orders for the siblings, summed over them, that
this product has no traffic on and that are not among its keywords; ranked by orders, then sales, and
suggested as EXACT (they have already converted as typed). Pass one marketplace and currency at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.keywords import text as kwtext

CJK_RUN_WORD_LIMIT = 12
MAX_WORDS = 3

# Stop words a phrase may hold inside ("case for iphone") but may not start or end with.
STOP_WORDS = {
    "en": frozenset(
        {
            "a",
            "an",
            "and",
            "are",
            "as",
            "at",
            "be",
            "by",
            "for",
            "from",
            "in",
            "into",
            "is",
            "it",
            "its",
            "of",
            "on",
            "or",
            "our",
            "over",
            "the",
            "this",
            "to",
            "up",
            "with",
            "without",
            "you",
            "your",
        }
    ),
    "de": frozenset(
        {
            "am",
            "an",
            "auf",
            "aus",
            "bei",
            "das",
            "dem",
            "den",
            "der",
            "des",
            "die",
            "ein",
            "eine",
            "einem",
            "einen",
            "einer",
            "für",
            "im",
            "in",
            "ist",
            "mit",
            "oder",
            "ohne",
            "und",
            "von",
            "vom",
            "zu",
            "zum",
            "zur",
        }
    ),
    "fr": frozenset(
        {
            "à",
            "au",
            "aux",
            "avec",
            "ce",
            "d",
            "dans",
            "de",
            "des",
            "du",
            "en",
            "et",
            "l",
            "la",
            "le",
            "les",
            "ou",
            "par",
            "pour",
            "sans",
            "sur",
            "un",
            "une",
        }
    ),
    "es": frozenset(
        {
            "a",
            "al",
            "con",
            "de",
            "del",
            "el",
            "en",
            "es",
            "la",
            "las",
            "lo",
            "los",
            "o",
            "para",
            "por",
            "sin",
            "su",
            "sus",
            "un",
            "una",
            "unas",
            "unos",
            "y",
        }
    ),
    "it": frozenset(
        {
            "a",
            "ai",
            "al",
            "alla",
            "con",
            "da",
            "dal",
            "de",
            "degli",
            "dei",
            "del",
            "della",
            "di",
            "e",
            "gli",
            "i",
            "il",
            "in",
            "la",
            "le",
            "lo",
            "o",
            "per",
            "senza",
            "su",
            "un",
            "una",
            "uno",
        }
    ),
}
_SEGMENT_BREAKS = re.compile(
    r"[,;|/()\[\]{}!?:·•、，。！？：；（）【】「」『』〔〕《》〈〉]+|\s[-–—]+\s|\s+[-–—]+$|^[-–—]+\s+"
)
_CJK_CHAR = (
    "\u3005\u3006\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
)
_CJK_RUN = re.compile(rf"[{_CJK_CHAR}]+")
_PARTICLES = {
    "ja": re.compile(r"(?<=[^\u3041-\u309f])[のとやにでをはがもへ](?=[^\u3041-\u309f])"),
    "zh": re.compile(r"[的和与及或]"),
}


@dataclass(frozen=True)
class Suggestion:
    """One keyword idea with the evidence behind it; ``reason`` is translated text a seller reads."""

    keyword: str
    source: str  # "title" or "sibling"
    match_type: str  # "PHRASE" (title ideas, untested) or "EXACT" (already converting as typed)
    score: float
    reason: str
    title_count: int = 0
    orders: int = 0
    sales: float = 0.0
    clicks: int = 0
    products: tuple[str, ...] = ()


def suggest_from_titles(
    *,
    titles: Iterable[str],
    language: str,
    existing: Iterable[str] | pd.DataFrame = (),
    limit: int = 50,
) -> list[Suggestion]:
    """Up to ``limit`` phrases from ``titles`` in ``language``, best first, none equal to an ``existing`` keyword.

    ``existing``: keyword texts, or the existing-keywords frame (its ``text`` column). ``score`` is the share
    of titles holding the phrase.
    """
    language = _text_language(language)
    titles = [t for t in titles if isinstance(t, str) and t.strip()]
    if not titles:
        return []
    taken = _existing_keys(existing, language=language)
    cjk = kwtext.is_cjk(language)

    counts: Counter = Counter()
    surfaces: dict[tuple, Counter] = {}
    first_seen: dict[tuple, int] = {}
    words_of: dict[tuple, int] = {}
    from_long_run: set[tuple] = set()
    position = 0
    for title in titles:
        keys_here: set[tuple] = set()
        for phrase, words, long_piece in _title_phrases(title, language=language):
            key = _key(phrase, language=language)
            if not key or key in taken:
                continue
            keys_here.add(key)
            surfaces.setdefault(key, Counter())[phrase] += 1
            if key not in first_seen:
                first_seen[key] = position
                words_of[key] = words
            if long_piece:
                from_long_run.add(key)
            position += 1
        counts.update(keys_here)

    if cjk:
        _prune_cjk_pieces(counts, from_long_run)

    def length_rank(words: int) -> int:
        order = (1, 2, 3) if cjk else (2, 3, 1)
        return order.index(words) if words in order else len(order)

    ranked = sorted(counts, key=lambda k: (-counts[k], length_rank(words_of[k]), first_seen[k]))
    total = len(titles)
    out = []
    for key in ranked[:limit]:
        surface = max(surfaces[key].items(), key=lambda item: item[1])[0]  # ties: the form seen first
        count = counts[key]
        if total == 1:
            reason = _("Found in the product title.")
        else:
            reason = _("Found in %(count)s of %(total)s product titles.") % {"count": count, "total": total}
        out.append(
            Suggestion(
                keyword=surface,
                source="title",
                match_type="PHRASE",
                score=round(count / total, 4),
                reason=reason,
                title_count=count,
            )
        )
    return out


def suggest_from_siblings(
    *,
    product_terms: pd.DataFrame,
    product_id: str,
    siblings: Iterable[str],
    existing: Iterable[str] | pd.DataFrame = (),
    language: str = kwtext.DEFAULT_LANGUAGE,
    min_orders: int = 1,
    limit: int = 50,
) -> list[Suggestion]:
    """Search terms that bring orders to ``siblings`` and that ``product_id`` does not use yet, best first.

    ``product_terms``: product_id, search_term, orders, sales, clicks (one marketplace; a ``currency`` column,
    if present, must hold one currency). A term counts as used when the product has any row for it or it is
    among ``existing`` keywords. ``score`` is the siblings' orders.
    """
    required = {"product_id", "search_term", "orders", "sales", "clicks"}
    missing = required - set(product_terms.columns)
    if missing:
        raise ValueError(f"product_terms needs the columns {', '.join(sorted(missing))}")
    if "currency" in product_terms.columns and product_terms["currency"].dropna().nunique() > 1:
        raise ValueError("product_terms mixes currencies; suggest for one marketplace at a time")
    language = _text_language(language)
    product_id = str(product_id)
    sibling_ids = {str(s) for s in siblings} - {product_id}
    if product_terms.empty or not sibling_ids:
        return []

    frame = product_terms[["product_id", "search_term", "orders", "sales", "clicks"]].copy()
    frame = frame[frame["search_term"].notna()]
    frame["product_id"] = frame["product_id"].astype(str)
    frame["keyword"] = kwtext.normalize_many(frame["search_term"], language=language)
    frame = frame[frame["keyword"] != ""]
    unique_keywords = frame["keyword"].unique()
    key_of = {k: _key(k, language=language) for k in unique_keywords}
    frame["key"] = frame["keyword"].map(key_of)

    used = set(frame.loc[frame["product_id"] == product_id, "key"]) | _existing_keys(existing, language=language)
    sib = frame[frame["product_id"].isin(sibling_ids) & ~frame["key"].isin(used)]
    if sib.empty:
        return []
    sib = sib.assign(
        orders=sib["orders"].fillna(0).astype("int64"),
        sales=sib["sales"].fillna(0).astype("float64"),
        clicks=sib["clicks"].fillna(0).astype("int64"),
    )
    # The form offered for each idea: the one with the most orders (then the shortest, then A-Z).
    forms = (
        sib.groupby(["key", "keyword"], sort=False)["orders"]
        .sum()
        .reset_index()
        .assign(length=lambda f: f["keyword"].str.len())
        .sort_values(["key", "orders", "length", "keyword"], ascending=[True, False, True, True])
        .drop_duplicates("key")
        .set_index("key")["keyword"]
    )
    grouped = sib.groupby("key", sort=False)
    ideas = pd.DataFrame(
        {
            "orders": grouped["orders"].sum(),
            "sales": grouped["sales"].sum(),
            "clicks": grouped["clicks"].sum(),
            "products": grouped["product_id"].agg(lambda ids: tuple(sorted(set(ids)))),
        }
    )
    ideas["keyword"] = forms.reindex(ideas.index)
    ideas = ideas[ideas["orders"] >= min_orders]
    ideas = ideas.sort_values(["orders", "sales", "keyword"], ascending=[False, False, True], kind="mergesort")

    out = []
    for row in ideas.head(limit).itertuples(index=False):
        orders, sales = int(row.orders), round(float(row.sales), 2)
        reason = ngettext(
            "%(orders)s order and %(sales)s in sales for sibling products (%(products)s); "
            "this product does not use this search term yet.",
            "%(orders)s orders and %(sales)s in sales for sibling products (%(products)s); "
            "this product does not use this search term yet.",
            orders,
        ) % {"orders": orders, "sales": number_format(sales, decimal_pos=2), "products": _short_list(row.products)}
        out.append(
            Suggestion(
                keyword=row.keyword,
                source="sibling",
                match_type="EXACT",
                score=float(orders),
                reason=reason,
                orders=orders,
                sales=sales,
                clicks=int(row.clicks),
                products=row.products,
            )
        )
    return out


# --- helpers ---------------------------------------------------------------------------------------------------


def _text_language(language: str) -> str:
    """The language code ``campaigns.keywords.text`` uses ("zh-Hans", "zh-CN" -> "zh"; "pt-BR" -> "pt")."""
    base = (language or kwtext.DEFAULT_LANGUAGE).strip().replace("_", "-").split("-")[0].lower()
    return base or kwtext.DEFAULT_LANGUAGE


def _key(phrase: str, *, language: str) -> tuple:
    """What two keywords share when they are the same idea: sorted stems; CJK: the text without spaces."""
    if kwtext.is_cjk(language):
        joined = kwtext.match_text(kwtext.normalize(phrase, language=language), language=language)
        return (joined,) if joined else ()
    return tuple(sorted(kwtext.stems(phrase, language=language)))


def _existing_keys(existing, *, language: str) -> set[tuple]:
    if isinstance(existing, pd.DataFrame):
        values = existing["text"].dropna().tolist() if "text" in existing.columns else []
    else:
        values = [v for v in existing if isinstance(v, str)]
    return {key for key in (_key(v, language=language) for v in values) if key}


def _title_phrases(title: str, *, language: str):
    """(phrase, word count, from a long CJK run) for every candidate phrase of one title."""
    stop = STOP_WORDS.get(language, frozenset())
    cjk = kwtext.is_cjk(language)
    for segment in _SEGMENT_BREAKS.split(title):
        words: list[str] = []
        for token in kwtext.tokens(segment, language=language):
            if cjk and _CJK_RUN.fullmatch(token):
                particles = _PARTICLES.get(language)
                pieces = particles.split(token) if particles else [token]
                for piece in pieces:
                    if len(piece) > CJK_RUN_WORD_LIMIT:
                        yield from ((gram, 1, True) for gram in _cjk_pieces(piece))
                        words.append("")  # a long run breaks the phrase
                    elif piece:
                        words.append(piece)
            else:
                words.append(token)
        yield from _word_phrases(words, stop=stop, cjk=cjk)


def _word_phrases(words: list[str], *, stop: frozenset, cjk: bool):
    for size in range(1, MAX_WORDS + 1):
        for start in range(len(words) - size + 1):
            gram = words[start : start + size]
            if "" in gram or gram[0] in stop or gram[-1] in stop:
                continue
            if all(w.isdigit() for w in gram):
                continue
            if size == 1 and not cjk and sum(ch.isalpha() for ch in gram[0]) < 3:
                continue
            if size == 1 and cjk and not _CJK_RUN.search(gram[0]) and sum(ch.isalpha() for ch in gram[0]) < 3:
                continue
            if size == 1 and cjk and _CJK_RUN.fullmatch(gram[0]) and len(gram[0]) < 2:
                continue
            yield " ".join(gram), size, False


def _cjk_pieces(run: str) -> list[str]:
    """Pieces of 2 to 12 characters in reading order (a list, so first appearances do not depend on hashing)."""
    longest = min(CJK_RUN_WORD_LIMIT, len(run) - 1)
    pieces = (run[i : i + n] for i in range(len(run) - 1) for n in range(2, longest + 1) if i + n <= len(run))
    return list(dict.fromkeys(pieces))


def _prune_cjk_pieces(counts: Counter, from_long_run: set[tuple]) -> None:
    """Keep pieces of long runs that recur in two titles or more and are not inside a longer phrase that
    recurs at least as often ("牙耳机" gives way to "蓝牙耳机")."""
    for key in from_long_run:
        if counts.get(key, 0) < 2:
            counts.pop(key, None)
    snapshot = {key[0]: count for key, count in counts.items()}
    for key in [k for k in counts if k in from_long_run]:
        inner, count = key[0], counts[key]
        if any(len(outer) > len(inner) and inner in outer and n >= count for outer, n in snapshot.items()):
            del counts[key]


def _short_list(ids: tuple[str, ...], shown: int = 3) -> str:
    listed = ", ".join(ids[:shown])
    return f"{listed} +{len(ids) - shown}" if len(ids) > shown else listed
