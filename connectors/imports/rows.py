"""One report row -> the values of one ``AdFact``. Each format module describes its layout as a ``RowConfig``;
this module turns it into a row parser tuned for speed: column indexes resolved once, caches keyed on the raw
cell text for everything that repeats (dates, currencies, campaigns, ad groups, targets, match types), fast
paths for plain numbers (``123``, ``12.34``, ``$12.34``) and the strict locale-aware parser for the rest.

The parser returns a plain tuple in ``AdFact`` field order (``AdFact(*values)`` makes the fact): the checking
pass needs no objects, and building a frozen dataclass costs more than parsing the row.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from connectors.imports.values import (
    CellError,
    match_type,
    parse_date,
    parse_decimal,
    parse_id,
    parse_span,
    synthetic_id,
    to_count,
    to_rounded_count,
)

TEXT_MAX = 255
LONG_TEXT_MAX = 500
CACHE_MAX = 200_000
DIGITS = frozenset("0123456789")
LEADING_SYMBOLS = frozenset("$€£¥￥")

TOTAL_PREFIXES = ("total:", "total :", "gesamt:", "insgesamt:", "合計:", "合計：", "totale:", "totaal:")

# Positions in the values tuple (AdFact field order) that the checking pass reads.
ACCOUNT, DATE, CAMPAIGN_ID, CAMPAIGN_NAME, AD_GROUP_ID, AD_GROUP_NAME, CURRENCY = 1, 3, 5, 6, 7, 8, 20


def span_message(text: str) -> str:
    return _(
        "This row covers %(span)s. We store daily figures: download the report with one row per day "
        "(time unit “Daily”, or the “Day” segment or breakdown) and upload it again."
    ) % {"span": text}


@dataclass
class RowConfig:
    """How to read one layout. ``columns`` maps our field names to column indexes (see the format modules)."""

    channel: str
    columns: dict[str, int]
    source_ref: int
    comma_decimal: bool = False
    day_first: bool = False
    fixed_date: date | None = None  # a one-day report whose day is not in the rows (Google's preamble)
    currency: str = ""  # when the rows have no currency column (header or marketplace currency)
    marketplace: str = ""  # what the seller told us; also the account key when set
    attribution: str = ""  # fixed attribution window (Amazon "7 Day" columns)
    attribution_map: Callable[[str], str] | None = None  # Meta's "Attribution setting" cell -> our window
    skip_total_rows: bool = False  # Google's "Total: ..." footer rows
    skip_first_blank_row: bool = False  # Meta's account-total first row (no names)
    fractional_orders: bool = False  # Google's conversions can be fractional; rounded half up to whole orders
    portfolios: dict[str, str] = field(default_factory=dict)  # campaign id -> portfolio, filled while parsing


def _cell_error(exc: CellError, index: int | None) -> CellError:
    exc.index = index
    return exc


def build_row_parser(config: RowConfig) -> Callable[[list[str]], tuple | None]:  # noqa: C901 - one hot path
    """A function ``cells -> values`` (None for rows to skip) raising ``CellError`` with the column index."""
    col = config.columns.get
    i_date, i_start, i_end, i_range = col("date"), col("start_date"), col("end_date"), col("date_range")
    i_campaign, i_campaign_id = col("campaign_name"), col("campaign_id")
    i_group, i_group_id = col("ad_group_name"), col("ad_group_id")
    i_target, i_target_id, i_match = col("target_text"), col("target_id"), col("match_type")
    i_term, i_product, i_portfolio = col("search_term"), col("product_id"), col("portfolio")
    i_currency, i_attribution = col("currency"), col("attribution")
    i_impressions, i_clicks, i_cost = col("impressions"), col("clicks"), col("cost")
    i_sales, i_orders, i_units = col("sales"), col("orders"), col("units")
    name_indexes = [i for i in (i_campaign, i_campaign_id, i_group, i_group_id, i_target, i_target_id) if i is not None]
    width = 1 + max(config.columns.values())
    has_group = i_group is not None or i_group_id is not None
    has_target = i_target is not None or i_target_id is not None or i_match is not None

    if i_term is not None:
        fixed_grain = "search_term"
    elif i_product is not None:
        fixed_grain = "product"
    elif i_target is not None or i_target_id is not None:
        fixed_grain = "target"
    else:
        fixed_grain = None  # ad_group when the row names one, else campaign

    channel, source_ref, comma, day_first = config.channel, config.source_ref, config.comma_decimal, config.day_first
    marketplace, fixed_currency, fixed_date = config.marketplace, config.currency, config.fixed_date
    attribution, attribution_map = config.attribution, config.attribution_map
    skip_totals, portfolios = config.skip_total_rows, config.portfolios
    order_count = to_rounded_count if config.fractional_orders else to_count
    skip_first = config.skip_first_blank_row

    dates: dict = {}
    terms: dict[str, str] = {}

    def text(raw: str, index, limit=TEXT_MAX) -> str:
        value = raw.strip()
        if len(value) > limit:
            raise CellError(_("This text is longer than %(max)s characters.") % {"max": limit}, index)
        return "" if value == "--" else value

    def ident(raw: str, index) -> str:
        try:
            return parse_id(raw)
        except CellError as exc:
            raise _cell_error(exc, index) from None

    def day_of(raw: str, index) -> date:
        try:
            return parse_date(raw, day_first)
        except CellError as exc:
            raise _cell_error(exc, index) from None

    def row_day(cells) -> date:
        if i_date is not None:
            key = cells[i_date]
        elif i_start is not None:
            key = (cells[i_start], cells[i_end])
        elif i_range is not None:
            key = cells[i_range]
        else:
            return fixed_date
        value = dates.get(key)
        if value is None:
            if i_date is not None:
                value = day_of(key, i_date)
            elif i_start is not None:
                start, end = day_of(key[0], i_start), day_of(key[1], i_end)
                if start != end:
                    raise CellError(span_message(f"{key[0].strip()} – {key[1].strip()}"), i_start)
                value = start
            else:
                try:
                    span = parse_span(key, day_first)
                except CellError as exc:
                    raise _cell_error(exc, i_range) from None
                if span is None:  # "Lifetime", "All time", or a single date
                    try:
                        span = (parse_date(key, day_first),) * 2
                    except CellError:
                        raise CellError(span_message(key.strip()), i_range) from None
                if span[0] != span[1]:
                    raise CellError(span_message(key.strip()), i_range)
                value = span[0]
            if len(dates) < CACHE_MAX:
                dates[key] = value
        return value

    def campaign_of(name_raw: str, id_raw: str) -> tuple[str, str]:
        name = text(name_raw, i_campaign)
        campaign_id = ident(id_raw, i_campaign_id) if i_campaign_id is not None else ""
        if not campaign_id:
            if not name:
                raise CellError(_("The campaign is empty."), i_campaign if i_campaign is not None else i_campaign_id)
            campaign_id = synthetic_id(name)
        return name, campaign_id

    def group_of(parent: str, name_raw: str, id_raw: str) -> tuple[str, str]:
        name = text(name_raw, i_group)
        group_id = ident(id_raw, i_group_id) if i_group_id is not None else ""
        if not group_id and name:
            group_id = synthetic_id(parent, name)
        if not group_id and fixed_grain is not None:
            raise CellError(_("The ad group is empty."), i_group if i_group is not None else i_group_id)
        return name, group_id

    def target_of(match_raw: str, text_raw: str, id_raw: str) -> tuple[str, str, str]:
        match = match_type(match_raw)
        target_text = text(text_raw, i_target, LONG_TEXT_MAX)
        target_id = ident(id_raw, i_target_id) if i_target_id is not None else ""
        if not target_id and target_text:
            target_id = synthetic_id(match, target_text) if match else synthetic_id(target_text)
        return match, target_text, target_id

    def currency_of(raw: str) -> tuple[str, str]:
        if raw.strip():
            currency = raw.strip().upper()
            if len(currency) != 3 or not currency.isalpha():
                raise CellError(_("“%(value)s” is not a currency code.") % {"value": raw.strip()[:20]}, i_currency)
        elif fixed_currency:
            currency = fixed_currency
        else:
            raise CellError(_("The currency is empty."), i_currency)
        return currency, "import:" + (marketplace or currency)

    if i_currency is None and not fixed_currency:
        raise ValueError("a layout without a currency column needs config.currency")

    def dimensions_of(key: tuple) -> tuple:
        """Everything a row says about where it belongs (account, campaign, ad group, target, ...): computed
        once per distinct combination of those cells."""
        c_raw, cid_raw, g_raw, gid_raw, m_raw, t_raw, tid_raw, p_raw, cur_raw, port_raw, attr_raw = key
        campaign_name, campaign_id = campaign_of(c_raw, cid_raw)
        group_name, group_id = group_of(campaign_name or campaign_id, g_raw, gid_raw) if has_group else ("", "")
        grain = fixed_grain or ("ad_group" if group_id else "campaign")
        match, target_text, target_id = target_of(m_raw, t_raw, tid_raw) if has_target else ("", "", "")
        product_id = text(p_raw, i_product, 128) if i_product is not None else ""
        currency, account_id = currency_of(cur_raw) if i_currency is not None else (fixed_currency, fixed_account)
        window = attribution
        if i_attribution is not None:
            window = attribution_map(attr_raw) if attribution_map else attr_raw.strip()[:16]
        if i_portfolio is not None and (portfolio := text(port_raw, i_portfolio)):
            portfolios[campaign_id] = portfolio
        return (
            account_id,
            grain,
            campaign_id,
            campaign_name,
            group_id,
            group_name,
            target_id,
            target_text,
            match,
            product_id,
            currency,
            window,
        )

    fixed_account = "import:" + (marketplace or fixed_currency)
    missing = -1  # after ``cells.append("")``, cells[-1] is the empty cell of every column the layout lacks
    dimension_key = operator.itemgetter(
        *(
            missing if i is None else i
            for i in (
                i_campaign,
                i_campaign_id,
                i_group,
                i_group_id,
                i_match,
                i_target,
                i_target_id,
                i_product,
                i_currency,
                i_portfolio,
                i_attribution,
            )
        )
    )
    dimensions: dict[tuple, tuple] = {}

    def money_slow(raw: str, index) -> Decimal:
        try:
            return parse_decimal(raw, comma)
        except CellError as exc:
            raise _cell_error(exc, index) from None

    def count(raw: str, index, parse=to_count) -> int:
        try:
            return parse(raw, comma)
        except CellError as exc:
            raise _cell_error(exc, index) from None

    i_cost_ = missing if i_cost is None else i_cost
    i_sales_ = missing if i_sales is None else i_sales
    zero = Decimal(0)

    def parse_row(cells: list[str]) -> tuple | None:
        nonlocal skip_first
        if len(cells) < width:
            if not any(c.strip() for c in cells):
                return None
            cells = cells + [""] * (width - len(cells))
        if skip_totals:
            first = cells[0].lstrip().lower()
            second = cells[1].lstrip().lower() if len(cells) > 1 else ""
            if first.startswith(TOTAL_PREFIXES) or second.startswith(TOTAL_PREFIXES):
                return None
        if skip_first:
            skip_first = False
            if not any(cells[i].strip() not in ("", "--") for i in name_indexes):
                return None  # Meta's account total
        day = (dates.get(cells[i_date]) if i_date is not None else None) or row_day(cells)

        cells.append("")
        key = dimension_key(cells)
        dims = dimensions.get(key)
        if dims is None:
            dims = dimensions_of(key)
            if len(dimensions) < CACHE_MAX:
                dimensions[key] = dims
        (
            account_id,
            grain,
            campaign_id,
            campaign_name,
            group_id,
            group_name,
            target_id,
            target_text,
            match,
            product_id,
            currency,
            window,
        ) = dims

        if i_term is not None:
            raw = cells[i_term]
            search_term = terms.get(raw)
            if search_term is None:
                search_term = text(raw, i_term, LONG_TEXT_MAX)  # "*" stays "*"
                if not search_term:
                    raise CellError(_("The search term is empty."), i_term)
                if len(terms) < CACHE_MAX:
                    terms[raw] = search_term
        else:
            search_term = ""

        # Metrics: plain values inline (123, 12.34, $12.34); anything else through the strict parser.
        if i_impressions is None:
            impressions = 0
        else:
            raw = cells[i_impressions]
            impressions = int(raw) if raw.isdecimal() else count(raw, i_impressions)
        if i_clicks is None:
            clicks = 0
        else:
            raw = cells[i_clicks]
            clicks = int(raw) if raw.isdecimal() else count(raw, i_clicks)
        raw = cells[i_cost_]
        body = raw[1:] if raw[:1] in LEADING_SYMBOLS else raw
        if body and body[0] in DIGITS and "," not in body and not (comma and "." in body):
            try:
                cost = Decimal(body)
            except InvalidOperation:
                cost = money_slow(raw, i_cost)
        else:
            cost = money_slow(raw, i_cost) if raw else zero
        raw = cells[i_sales_]
        body = raw[1:] if raw[:1] in LEADING_SYMBOLS else raw
        if body and body[0] in DIGITS and "," not in body and not (comma and "." in body):
            try:
                sales = Decimal(body)
            except InvalidOperation:
                sales = money_slow(raw, i_sales)
        else:
            sales = money_slow(raw, i_sales) if raw else zero
        if i_orders is None:
            orders = 0
        else:
            raw = cells[i_orders]
            orders = int(raw) if raw.isdecimal() else count(raw, i_orders, order_count)
        if i_units is None:
            units = 0
        else:
            raw = cells[i_units]
            units = int(raw) if raw.isdecimal() else count(raw, i_units)

        return (
            channel,
            account_id,
            marketplace,
            day,
            grain,
            campaign_id,
            campaign_name,
            group_id,
            group_name,
            target_id,
            target_text,
            match,
            search_term,
            product_id,
            impressions,
            clicks,
            cost,
            orders,
            units,
            sales,
            currency,
            window,
            "import",
            source_ref,
        )

    parse_row.dates = dates
    return parse_row
