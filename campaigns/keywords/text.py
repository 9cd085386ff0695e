"""How search terms and keywords are compared: normalisation, tokens, light stemming and n-gram ids.

Every keyword tool compares text through this module so that "Men's T-Shirts", "mens t shirts" and
"ＭＥＮＳ　Ｔ－ＳＨＩＲＴＳ" are one term, and a negative phrase "shirts" is seen to block "t-shirts".

Rules (one place, so the tools agree with each other):

- ``normalize``: Unicode NFKC (full-width letters and digits become ASCII, half-width katakana become
  full-width), casefold, apostrophes dropped ("men's" -> "mens", as shoppers type it), hyphens, slashes and
  every other punctuation mark become a space, except ``.`` and ``,`` between digits ("2.5", "2,5") and ``&``
  or ``+`` attached to a word ("m&m", "c++", "50+"), then spaces collapsed.
- Languages with spaces (en, de, fr, es, it and the default): tokens are the space-separated words and stems
  come from the Snowball stemmers of ``snowballstemmer`` (light, rule-based: "shirts" -> "shirt",
  "schuhe" -> "schuh"), memoised per unique token.
- Japanese and Chinese have no spaces between words and no dictionary segmenter is installed, so a token is a
  run of CJK characters or a run of other word characters ("iphoneケース 手帳型" -> "iphone", "ケース",
  "手帳型"); a token is its own stem. Matching in these languages is by substring of the normalized text
  with spaces removed (``match_text``): spaces in Japanese and Chinese queries are optional separators, so
  "iphone ケース" and "iphoneケース" are the same query.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_LANGUAGE = "en"
MARKETPLACE_LANGUAGES = {
    "US": "en",
    "UK": "en",
    "GB": "en",
    "CA": "en",
    "AU": "en",
    "SG": "en",
    "IN": "en",
    "DE": "de",
    "AT": "de",
    "FR": "fr",
    "ES": "es",
    "MX": "es",
    "IT": "it",
    "JP": "ja",
    "CN": "zh",
    "TW": "zh",
}
CJK_LANGUAGES = frozenset({"ja", "zh"})
SNOWBALL_ALGORITHMS = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian"}

# Words that never make a negative phrase on their own (a root made only of these is too generic to block).
# fmt: off
STOP_WORDS = {
    "en": frozenset(["a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with",
                     "without"]),
    "de": frozenset(["der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "und", "oder", "für", "mit",
                     "ohne", "von", "zu", "im", "in", "am"]),
    "fr": frozenset(["le", "la", "les", "l", "un", "une", "des", "de", "du", "d", "et", "ou", "pour", "avec", "sans",
                     "en", "à", "au", "aux"]),
    "es": frozenset(["el", "la", "los", "las", "un", "una", "unos", "unas", "de", "del", "y", "o", "para", "con",
                     "sin", "en", "al"]),
    "it": frozenset(["il", "lo", "la", "i", "gli", "le", "un", "una", "uno", "di", "del", "della", "e", "o", "per",
                     "con", "senza", "in", "al"]),
}
# fmt: on

_APOSTROPHES = re.compile(r"['’‘`´]")
_PUNCTUATION = re.compile(r"[^\w ]|_")  # anything the separator rules could touch
# Dots and commas survive only between two digits; & and + only when attached to a word character.
_SEPARATORS = re.compile(r"[^\w&+.,]|_|(?<!\d)[.,]|[.,](?!\d)|(?<![\w&+])[&+]+(?![\w&+])")
# Kanji, hiragana, katakana (with the prolonged sound mark, not the middle dot) and iteration marks.
_CJK = (
    "\u3005\u3006\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
)
_CJK_TOKENS = re.compile(rf"[{_CJK}]+|[^\s{_CJK}]+")


def marketplace_language(marketplace: str) -> str:
    """The language shoppers search in on a marketplace ("DE" -> "de"); English when unknown."""
    return MARKETPLACE_LANGUAGES.get((marketplace or "").strip().upper(), DEFAULT_LANGUAGE)


def is_cjk(language: str) -> bool:
    return language in CJK_LANGUAGES


def normalize(text: str, *, language: str) -> str:
    """The comparable form of a search term or keyword (see the module docstring for the rules)."""
    del language  # the rules are the same for every language today; kept so callers state it
    if not isinstance(text, str):
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if _PUNCTUATION.search(text):  # most search terms are plain words: skip the slower rules
        text = _SEPARATORS.sub(" ", _APOSTROPHES.sub("", text))
    return " ".join(text.split())


def _tokens_of_normalized(normalized: str, language: str) -> list[str]:
    if is_cjk(language):
        return _CJK_TOKENS.findall(normalized)
    return normalized.split()


def tokens(text: str, *, language: str) -> list[str]:
    """Words of the normalized text ("t-shirts" -> ["t", "shirts"]); CJK runs and other words for ja/zh."""
    return _tokens_of_normalized(normalize(text, language=language), language)


@functools.cache
def _stemmer(language: str):
    import snowballstemmer

    algorithm = SNOWBALL_ALGORITHMS.get(language)
    return (snowballstemmer.stemmer(algorithm), threading.Lock()) if algorithm else (None, None)


@functools.lru_cache(maxsize=1 << 18)
def stem_word(token: str, language: str) -> str:
    """The Snowball stem of one normalized token (memoised); CJK and unsupported languages keep the token."""
    stemmer, lock = _stemmer(language)
    if stemmer is None:
        return token
    with lock:  # a Snowball stemmer object keeps state while it stems
        return stemmer.stemWord(token)


def stems(text: str, *, language: str) -> list[str]:
    """Stems of the tokens of ``text`` ("T-Shirts" -> ["t", "shirt"] in English)."""
    return [stem_word(token, language) for token in tokens(text, language=language)]


def match_text(normalized: str, *, language: str) -> str:
    """What substring matching compares in CJK languages: the normalized text without spaces."""
    return normalized.replace(" ", "") if is_cjk(language) else normalized


# --- vectorised forms: work per unique value, never per row -------------------------------------------


def normalize_many(values: pd.Series | Sequence[str], *, language: str) -> np.ndarray:
    """``normalize`` of each value, computed once per distinct value (object array, aligned with values)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    normalized = np.array([normalize(value, language=language) for value in uniques], dtype=object)
    return normalized[codes]


@dataclass(frozen=True)
class TokenIndex:
    """The tokens of distinct normalized keys of one language, flattened: token ``t`` belongs to key
    ``item[t]`` at position ``pos[t]``; the tokens of a key are contiguous and in order. ``token_code`` and
    ``stem_code`` number the distinct tokens and stems (``tokens``/``stems`` give their text back)."""

    language: str
    keys: np.ndarray
    item: np.ndarray
    pos: np.ndarray
    token_code: np.ndarray
    stem_code: np.ndarray
    tokens: np.ndarray
    stems: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray

    def words(self, items: np.ndarray, starts: np.ndarray, n: np.ndarray, *, stemmed: bool = False) -> np.ndarray:
        """The text of each run of ``n`` tokens starting at token ``starts`` of key ``items`` (object array)."""
        rows = self.offsets[items] + starts
        codes, vocabulary = (self.stem_code, self.stems) if stemmed else (self.token_code, self.tokens)
        out = np.empty(len(rows), dtype=object)
        for length in np.unique(n):
            where = np.flatnonzero(n == length)
            text = vocabulary[codes[rows[where]]]
            for offset in range(1, int(length)):
                text = text + " " + vocabulary[codes[rows[where] + offset]]
            out[where] = text
        return out

    @functools.cached_property
    def stop(self) -> np.ndarray:
        """Per distinct token: a stop word or a single character."""
        return np.array([is_stop_gram([token], language=self.language) for token in self.tokens], dtype=bool)

    def generic(self, items: np.ndarray, starts: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Whether each run is made only of stop words and single characters (see ``is_stop_gram``)."""
        stop = self.stop
        rows = self.offsets[items] + starts
        out = np.ones(len(rows), dtype=bool)
        for offset in range(int(n.max()) if len(n) else 0):
            inside = offset < n
            out[inside] &= stop[self.token_code[rows[inside] + offset]]
        return out


def token_index(keys: Sequence[str] | np.ndarray, *, language: str) -> TokenIndex:
    """Tokenise each distinct normalized key once and stem each distinct token once."""
    keys = np.asarray(keys, dtype=object)
    lists = list(map(_CJK_TOKENS.findall if is_cjk(language) else str.split, keys.tolist()))
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=object, count=total)
    token_code, tokens = pd.factorize(flat)
    token_code = token_code.astype(np.int64)
    tokens = np.asarray(tokens, dtype=object)
    stem_of_token = np.array([stem_word(token, language) for token in tokens], dtype=object)
    stem_of_token_code, stems = pd.factorize(stem_of_token, sort=True)  # codes in alphabetical order of stems
    return TokenIndex(
        language=language,
        keys=keys,
        item=np.repeat(np.arange(len(keys), dtype=np.int64), lengths),
        pos=np.arange(total, dtype=np.int64) - np.repeat(offsets, lengths),
        token_code=token_code,
        stem_code=stem_of_token_code.astype(np.int64)[token_code] if total else np.array([], dtype=np.int64),
        tokens=tokens,
        stems=np.asarray(stems, dtype=object),
        lengths=lengths,
        offsets=offsets.astype(np.int64),
    )


def gram_table(index: TokenIndex, *, lengths: Iterable[int]) -> pd.DataFrame:
    """Every contiguous run of ``n`` stems (for each n in ``lengths``) of the keys of a ``TokenIndex``: item,
    start, n, gram. ``gram`` is an integer id equal for equal runs of stems of the same length (ids of
    different lengths overlap: ``n`` tells them apart), so runs of different keys compare as integers; within a
    length, ids are in the alphabetical order of the stems."""
    wanted = sorted({int(n) for n in lengths if int(n) > 0})
    columns = {"item": np.int64, "start": np.int64, "n": np.int64, "gram": np.int64}
    if not wanted or not len(index.item):
        return pd.DataFrame({name: np.array([], dtype=dtype) for name, dtype in columns.items()})
    item, codes = index.item, index.stem_code
    base = int(codes.max()) + 1
    size = len(item)
    # current[i]: id of the run of length k starting at token i (meaningful where ``valid``)
    current = codes.astype(np.int64)
    valid = np.ones(size, dtype=bool)
    pieces = []
    for k in range(1, wanted[-1] + 1):
        if k > 1:
            inside = np.zeros(size, dtype=bool)
            inside[: size - k + 1] = item[k - 1 :] == item[: size - k + 1]
            valid &= inside
            rows = np.flatnonzero(valid)
            # extend each run by the next stem, then renumber so ids stay small (no int64 overflow); sorted, so
            # ids of one length follow the alphabetical order of their stems
            renumbered, _uniques = pd.factorize(current[rows] * base + codes[rows + k - 1], sort=True)
            current = np.zeros(size, dtype=np.int64)
            current[rows] = renumbered
        if k in wanted:
            rows = np.flatnonzero(valid)
            pieces.append(
                pd.DataFrame(
                    {"item": item[rows], "start": index.pos[rows], "n": np.full(rows.size, k), "gram": current[rows]}
                )
            )
        if not valid.any():
            break
    return pd.concat(pieces, ignore_index=True).astype(columns)


def is_stop_gram(words: Sequence[str], *, language: str) -> bool:
    """True when a run of normalized words is only stop words or single characters ("for the", "t"): too
    generic to stand as a root on its own."""
    stop = STOP_WORDS.get(language, frozenset())
    return all(len(word) <= 1 or word in stop for word in words)


CAMPAIGN_SCOPE = ["channel", "account_id", "marketplace", "currency", "campaign_id"]


def annotate(terms: pd.DataFrame, *, language: str | None = None) -> pd.DataFrame:
    """The search-term frame with ``language`` (of its marketplace, unless forced), ``term_key`` (the
    normalized search term), ``term_code`` (an integer per distinct ``term_key``) and ``campaign_code`` (an
    integer per campaign: channel, account, marketplace, currency, campaign id). Columns already present are
    kept, so a frame annotated once goes through every tool without normalising its terms again."""
    frame = terms
    if language is not None:
        if "language" not in frame.columns or (frame["language"] != language).any():
            frame = frame.assign(language=language)
    elif "language" not in frame.columns:
        codes, uniques = pd.factorize(frame["marketplace"].astype(object), use_na_sentinel=False)
        frame = frame.assign(language=np.array([marketplace_language(m) for m in uniques], dtype=object)[codes])
    if "term_key" not in frame.columns or "term_code" not in frame.columns:
        codes, uniques = pd.factorize(frame["search_term"].to_numpy(dtype=object), use_na_sentinel=False)
        normalized = np.array([normalize(value, language=DEFAULT_LANGUAGE) for value in uniques], dtype=object)
        key_codes, _uniques = pd.factorize(normalized)
        frame = frame.assign(term_key=normalized[codes], term_code=key_codes[codes].astype(np.int64))
    if "campaign_code" not in frame.columns:
        scope = [column for column in CAMPAIGN_SCOPE if column in frame.columns]
        grouped = frame.groupby(scope, sort=True, observed=True, dropna=False)
        frame = frame.assign(campaign_code=grouped.ngroup().to_numpy(dtype=np.int64))
    return frame


ASIN_PATTERN = r"b0[0-9a-z]{8}"


def keyword_terms(keys) -> np.ndarray:
    """Which normalized search terms can become keywords or negative keywords: not empty (Amazon's "*"), and not
    an ASIN (a product page the shopper came from: a product target, not a keyword)."""
    series = pd.Series(keys, dtype=object).fillna("")
    return ((series != "") & ~series.str.fullmatch(ASIN_PATTERN)).to_numpy(dtype=bool)
