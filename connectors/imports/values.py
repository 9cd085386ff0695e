"""Cell values of hand-downloaded reports: numbers in the file's locale, dates, ids, match types.

The hot path (a plain ``123`` or ``12.34``) goes straight to ``int``/``Decimal``; only cells with separators,
currency symbols or placeholders take the slower, stricter path. Every failure raises ``CellError`` with a
message for the person who downloaded the file.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext as _

ZERO = Decimal(0)
EMPTY = frozenset({"", "--", "-", "—", "–", "n/a", "N/A"})
ID_MAX = 128


class CellError(Exception):
    """A cell that cannot be read. ``index`` is the column index, filled in by the row parser."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.message = message
        self.index = index


# --- numbers -------------------------------------------------------------------------------------------
_NUMBER = re.compile(
    r"^(?P<neg1>[-−]?)\s*(?P<pre>[^\d\s.,()+−-]{0,4})\s*(?P<neg2>[-−]?)\s*"
    r"(?P<num>\d[\d.,'\s\u00a0\u202f]*)\s*(?P<post>[^\d\s.,()]{0,4})$"
)
_GROUPED_DOT = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$|^\d+(?:\.\d+)?$")  # 1,234.56 / 1234.56
_GROUPED_COMMA = re.compile(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$|^\d+(?:,\d+)?$")  # 1.234,56 / 1234,56
_SPACES = str.maketrans("", "", " '\u00a0\u202f")
# Symbols and codes a money cell may carry: "$1,234.56", "1.234,56 €", "¥1,200", "US$3", "12.50 USD".
_CURRENCY_MARKS = frozenset({
    "$", "€", "£", "¥", "￥", "₩", "₹", "₺", "₽", "₫", "₱", "฿", "zł", "kr", "R$", "US$", "C$", "A$", "S$", "HK$",
    "NT$", "MX$", "CA$", "AU$", "SG$", "RM", "Rp", "CHF",
})  # fmt: skip


def _plain_currency(mark: str) -> bool:
    return not mark or mark in _CURRENCY_MARKS or (len(mark) == 3 and mark.isalpha() and mark.isupper())


def parse_decimal(raw: str, comma_decimal: bool) -> Decimal:
    """Read a money or count cell: placeholders are zero, separators follow the file's locale."""
    s = raw.strip()
    if s in EMPTY:
        return ZERO
    negative = False
    if s.startswith("(") and s.endswith(")"):  # accounting style (12.34)
        negative, s = True, s[1:-1].strip()
    match = _NUMBER.match(s)
    if match is None or not _plain_currency(match["pre"]) or not _plain_currency(match["post"]):
        raise CellError(_("“%(value)s” is not a number.") % {"value": raw.strip()[:40]})
    if match["neg1"] or match["neg2"]:
        negative = not negative
    number = match["num"].translate(_SPACES)
    if comma_decimal:
        if not _GROUPED_COMMA.match(number):
            raise CellError(_("“%(value)s” is not a number.") % {"value": raw.strip()[:40]})
        number = number.replace(".", "").replace(",", ".")
    else:
        if not _GROUPED_DOT.match(number):
            raise CellError(_("“%(value)s” is not a number.") % {"value": raw.strip()[:40]})
        number = number.replace(",", "")
    value = Decimal(number)
    return -value if negative else value


def to_decimal(raw: str, comma_decimal: bool) -> Decimal:
    """Fast path for plain numbers (``12.34``); anything else goes through :func:`parse_decimal`."""
    if raw and raw[0] in "0123456789" and "," not in raw and not (comma_decimal and "." in raw):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            pass
        else:
            if value.is_finite():
                return value
    return parse_decimal(raw, comma_decimal)


def to_count(raw: str, comma_decimal: bool) -> int:
    """A whole number of zero or more (impressions, clicks, orders, units)."""
    try:
        value = int(raw)
    except ValueError:
        number = parse_decimal(raw, comma_decimal)
        if number != number.to_integral_value():
            raise CellError(_("“%(value)s” is not a whole number.") % {"value": raw.strip()[:40]}) from None
        value = int(number)
    if value < 0:
        raise CellError(_("“%(value)s” is below zero.") % {"value": raw.strip()[:40]})
    return value


def to_rounded_count(raw: str, comma_decimal: bool) -> int:
    """A count a platform reports with decimals (Google's modelled conversions), rounded half up."""
    value = to_decimal(raw, comma_decimal)
    if value < 0:
        raise CellError(_("“%(value)s” is below zero.") % {"value": raw.strip()[:40]})
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def numbers_evidence(raw: str) -> str | None:
    """'comma' or 'dot' when ``raw`` shows which character is the decimal separator, else None."""
    s = raw.strip().strip("$€£¥￥%").strip()
    if not s or not any(c.isdigit() for c in s):
        return None
    has_dot, has_comma = "." in s, "," in s
    if has_dot and has_comma:
        return "comma" if s.rfind(",") > s.rfind(".") else "dot"
    if has_comma:
        if s.count(",") > 1:
            return "dot"  # 1,234,567: commas group thousands
        head, tail = s.rsplit(",", 1)
        if len(tail) != 3 or head.lstrip("-") in ("0", ""):
            return "comma"
    if has_dot:
        if s.count(".") > 1:
            return "comma"
        head, tail = s.rsplit(".", 1)
        if len(tail) != 3 or head.lstrip("-") in ("0", ""):
            return "dot"
    return None


# --- dates ---------------------------------------------------------------------------------------------
_MONTHS = {
    "jan": 1, "ene": 1, "janv": 1, "gen": 1,
    "feb": 2, "fev": 2, "fév": 2, "févr": 2, "fevr": 2,
    "mar": 3, "mär": 3, "mrz": 3, "mars": 3,
    "apr": 4, "abr": 4, "avr": 4,
    "may": 5, "mai": 5, "mag": 5,
    "jun": 6, "juin": 6, "giu": 6,
    "jul": 7, "juil": 7, "lug": 7,
    "aug": 8, "ago": 8, "aoû": 8, "aou": 8,
    "sep": 9, "set": 9, "sept": 9,
    "oct": 10, "okt": 10, "out": 10, "ott": 10,
    "nov": 11,
    "dec": 12, "dez": 12, "dic": 12, "déc": 12,
}  # fmt: skip
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$")
_CJK = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
_NUMERIC = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{2}|\d{4})(?:[ T].*)?$")
_MONTH_FIRST = re.compile(r"^([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")  # Jun 03, 2026
_DAY_FIRST = re.compile(r"^(\d{1,2})\.?\s+([^\W\d_]+)\.?,?\s+(\d{4})$")  # 03 Jun 2026, 3. Juni 2026


def _month(name: str) -> int | None:
    name = name.lower()
    for length in (4, 3):
        if name[:length] in _MONTHS:
            return _MONTHS[name[:length]]
    return None


def parse_date(raw: str, day_first: bool) -> date:
    s = raw.strip()
    try:
        if m := _ISO.match(s):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _CJK.match(s):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _NUMERIC.match(s):
            a, b, year = int(m[1]), int(m[3]), int(m[4])
            year += 2000 if year < 100 else 0
            if m[2] == "." or a > 12:  # 03.06.2026 is always day first; 13/06 can only be
                day_first_here = True
            elif b > 12:
                day_first_here = False
            else:
                day_first_here = day_first
            return date(year, b, a) if day_first_here else date(year, a, b)
        if (m := _MONTH_FIRST.match(s)) and (month := _month(m[1])):
            return date(int(m[3]), month, int(m[2]))
        if (m := _DAY_FIRST.match(s)) and (month := _month(m[2])):
            return date(int(m[3]), month, int(m[1]))
    except ValueError:
        pass
    raise CellError(_("“%(value)s” is not a date we can read (e.g. 2026-06-03 or Jun 03, 2026).") % {"value": s[:40]})


def dates_evidence(raw: str) -> bool | None:
    """True when ``raw`` can only be day first (13/06/2026), False when only month first (06/13/2026)."""
    m = _NUMERIC.match(raw.strip())
    if not m:
        return None
    a, b = int(m[1]), int(m[3])
    if m[2] == "." or a > 12 >= b:
        return True
    if b > 12 >= a:
        return False
    return None


_SPAN_SEPARATORS = (" - ", " – ", " — ", " ~ ", " to ", "～")


def parse_span(raw: str, day_first: bool) -> tuple[date, date] | None:
    """``"Jul 13, 2026 - Aug 01, 2026"`` -> the two dates; a single date -> (d, d); None if not a span."""
    s = raw.strip().strip('"')
    for separator in _SPAN_SEPARATORS:
        if separator in s:
            start, _sep, end = s.partition(separator)
            return parse_date(start, day_first), parse_date(end, day_first)
    return None


# --- ids, names, match types -------------------------------------------------------------------------
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")


def parse_id(raw: str) -> str:
    """A platform id: Excel escapes (``="123"``) are removed; ids Excel rounded (``1.20253E+17``) are refused."""
    s = raw.strip()
    if s.startswith('="') and s.endswith('"'):
        s = s[2:-1].strip()
    elif s.startswith("'"):
        s = s[1:]
    if s in EMPTY:
        return ""
    if _SCIENTIFIC.match(s):
        raise CellError(
            _(
                "“%(value)s” is an id that Excel turned into a rounded number, so its digits are lost. "
                "Download the report again and upload it without opening and saving it in Excel."
            )
            % {"value": s}
        )
    if s.endswith(".0") and s[:-2].isdigit():  # a spreadsheet stored the id as a number
        s = s[:-2]
    if len(s) > ID_MAX:
        raise CellError(_("This id is longer than %(max)s characters.") % {"max": ID_MAX})
    return s


def synthetic_id(*parts: str) -> str:
    """``name:<parts joined by '/'>``, the id of an entity a file names but does not number.

    Stable across imports of the same names; names too long for the id column end in a short hash.
    """
    text = "name:" + "/".join(parts)
    if len(text) <= ID_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return text[: ID_MAX - 17] + "~" + digest


_MATCH_TYPES = {
    "exact": "EXACT",
    "phrase": "PHRASE",
    "broad": "BROAD",
    "-": "TARGETING_EXPRESSION",
    "–": "TARGETING_EXPRESSION",
    "targeting_expression": "TARGETING_EXPRESSION",
    "targeting_expression_predefined": "TARGETING_EXPRESSION_PREDEFINED",
    "exact match": "EXACT",
    "phrase match": "PHRASE",
    "broad match": "BROAD",
    "exact match (close variant)": "EXACT",
    "phrase match (close variant)": "PHRASE",
    "完全一致": "EXACT",
    "フレーズ一致": "PHRASE",
    "部分一致": "BROAD",
    "genau": "EXACT",
    "genau passend": "EXACT",
    "wortgruppe": "PHRASE",
    "passende wortgruppe": "PHRASE",
    "weitgehend": "BROAD",
    "weitgehend passend": "BROAD",
}


def match_type(raw: str) -> str:
    """The unified match type; ``-`` (Amazon's marker for product and category targets) is a targeting
    expression. Values we do not know are kept, upper-cased."""
    s = raw.strip()
    if not s:
        return ""
    return _MATCH_TYPES.get(s.lower()) or s.upper().replace(" ", "_")[:40]


def cell_text(value) -> str:
    """An XLSX cell as the text a CSV export would carry (numbers without float noise, dates in ISO)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
