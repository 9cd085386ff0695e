"""Which report is this? Find the header row (after any preamble lines) and match it against each platform's
vocabulary: case-insensitive, whitespace-trimmed, with synonyms and localized names, and with a currency in
the header (``Amount spent (USD)``) split off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

HEADER_SEARCH_ROWS = 30
MIN_RECOGNISED = 3
DISTINCT_WEIGHT = 3

_CURRENCY_SUFFIX = re.compile(r"^(?P<name>.*\S)\s*\((?P<code>[A-Z]{3})\)$")


@cache
def _currency_codes() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def normalize_header(text: str) -> tuple[str, str]:
    """``' Amount spent (USD) '`` -> ``('amount spent', 'USD')``; ``'7 Day Total Sales '`` -> ``('7 day total
    sales', '')``. Keys are lower-case with single spaces; BOMs and quotes Excel leaves behind are dropped."""
    text = text.replace("\ufeff", "").strip().strip('"').strip()
    currency = ""
    match = _CURRENCY_SUFFIX.match(text)
    if match and match["code"] in _currency_codes():
        text, currency = match["name"], match["code"]
    return " ".join(text.lower().split()), currency


@dataclass(frozen=True)
class Family:
    """One platform's column vocabulary. ``columns``: our field -> header names in order of preference
    (lower-case, single-spaced); a ``(name, language)`` pair marks a localized name. ``distinct``: names
    only this platform uses, which weigh more when telling platforms apart."""

    name: str
    columns: dict[str, tuple]
    distinct: frozenset[str]
    lookup: dict[str, tuple[str, str]] = field(init=False, repr=False)  # header -> (field, language)

    def __post_init__(self):
        lookup: dict[str, tuple[str, str]] = {}
        for canonical, names in self.columns.items():
            for entry in names:
                name, language = entry if isinstance(entry, tuple) else (entry, "")
                lookup.setdefault(name, (canonical, language))
        object.__setattr__(self, "lookup", lookup)


@dataclass
class Header:
    """The header row found in a file, with the columns it maps to our fields."""

    family: Family
    row: int  # 1-based record number of the header in the file (or sheet)
    cells: list[str]  # as in the file, trimmed
    columns: dict[str, int]  # our field -> index of the column
    header_currency: str  # a currency written into money column names, e.g. Meta's "(USD)"
    language: str  # "" (English or unknown), "de", "ja", "es", "pt", ...
    preamble: list[list[str]]  # records above the header (Google's title and date range lines)

    def label(self, canonical: str) -> str:
        return self.cells[self.columns[canonical]]


def _score(family: Family, keys: Sequence[str]) -> int:
    score = 0
    for key in keys:
        if key in family.lookup:
            score += DISTINCT_WEIGHT if key in family.distinct else 1
    return score


def match_header(family: Family, row_number: int, cells: Sequence[str], preamble: list[list[str]]) -> Header:
    keys, currencies, languages = [], set(), {}
    for cell in cells:
        key, currency = normalize_header(cell)
        keys.append(key)
        if currency:
            currencies.add(currency)
    columns: dict[str, int] = {}
    for canonical, names in family.columns.items():
        for entry in names:  # the first name in the preference order that the file has wins
            name = entry[0] if isinstance(entry, tuple) else entry
            if name in keys:
                columns[canonical] = keys.index(name)
                break
    for key in keys:
        language = family.lookup.get(key, ("", ""))[1]
        if language:
            languages[language] = languages.get(language, 0) + 1
    language = max(languages, key=languages.get) if languages else ""
    return Header(
        family=family,
        row=row_number,
        cells=[c.replace("\ufeff", "").strip() for c in cells],
        columns=columns,
        header_currency=currencies.pop() if len(currencies) == 1 else "",
        language=language,
        preamble=preamble,
    )


def find_header(records: Sequence[Sequence[str]], families: Sequence[Family]) -> Header | None:
    """The best-scoring (record, family) among the first rows; None if nothing looks like a known report."""
    best: tuple[int, int, Family] | None = None
    for index, cells in enumerate(records[:HEADER_SEARCH_ROWS]):
        keys = [normalize_header(c)[0] for c in cells if c and c.strip()]
        if len(keys) < MIN_RECOGNISED:
            continue
        for family in families:
            recognised = sum(1 for k in keys if k in family.lookup)
            if recognised < MIN_RECOGNISED:
                continue
            score = _score(family, keys)
            if best is None or score > best[0]:
                best = (score, index, family)
    if best is None:
        return None
    _score_value, index, family = best
    preamble = [list(r) for r in records[:index]]
    return match_header(family, index + 1, records[index], preamble)
