"""Amazon Ads console exports: the Sponsored Products search term report and campaign reports.

Layouts (platform-apis.md section 11.1 and 11.2, all from public parser fixtures, none vendor-documented):

- Search term report: ``Start Date, End Date`` (or ``Date`` in daily exports), ``Portfolio name, Currency,
  Campaign Name, Ad Group Name, Targeting, Match Type, Customer Search Term, Impressions, Clicks, ... Spend,
  7 Day Total Sales, ... 7 Day Total Orders (#), 7 Day Total Units (#) ...``. Older files write ``ACoS``;
  some have a trailing space in ``"7 Day Total Sales "``; ``Match Type`` is ``-`` for product and category
  targets; ``Customer Search Term`` can be ``*``.
- Campaign reports: the classic layout (``Start Date, End Date, ..., Campaign Name, ..., Spend, 7 Day Total
  Sales``; SB writes ``14 Day``), and the newer Campaign-manager export (``Date range, Portfolio name,
  Portfolio ID, Campaign ID, Campaign name, Ad group name, Ad group ID, Budget currency, Clicks, ... Total
  cost, Sales, Units sold ...``) with Excel-escaped ids ``="123"`` and ``Date range`` spans or ``Lifetime``.

Japanese names come from public fixtures (``7日間の総売上高``, ``費用``, ``インプレッション``); the other
Japanese and the German names are the consoles' usual wording and are unconfirmed.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from campaigns.models import Channel
from connectors.imports.detect import Family, Header
from connectors.imports.errors import ImportProblem
from connectors.imports.rows import RowConfig
from connectors.models import ImportFormat

FAMILY = Family(
    name="amazon",
    columns={
        "date": ("date", ("日付", "ja"), ("datum", "de")),
        "start_date": ("start date", ("開始日", "ja"), ("startdatum", "de")),
        "end_date": ("end date", ("終了日", "ja"), ("enddatum", "de")),
        "date_range": ("date range", ("期間", "ja"), ("zeitraum", "de")),
        "portfolio": ("portfolio name", "portfolio", ("ポートフォリオ名", "ja"), ("portfolioname", "de")),
        "currency": ("currency", "budget currency", ("通貨", "ja"), ("währung", "de")),
        "campaign_id": ("campaign id", ("キャンペーンid", "ja"), ("kampagnen-id", "de")),
        "campaign_name": (
            "campaign name",
            "campaign name (informational only)",
            ("キャンペーン名", "ja"),
            ("kampagnenname", "de"),
            ("name der kampagne", "de"),
        ),
        "ad_group_id": ("ad group id", ("広告グループid", "ja"), ("anzeigengruppen-id", "de")),
        "ad_group_name": (
            "ad group name",
            "ad group name (informational only)",
            ("広告グループ名", "ja"),
            ("name der anzeigengruppe", "de"),
            ("anzeigengruppenname", "de"),
        ),
        "target_text": ("targeting", ("ターゲティング", "ja"), ("ausrichtung", "de")),
        "match_type": ("match type", ("マッチタイプ", "ja"), ("übereinstimmungstyp", "de")),
        "search_term": (
            "customer search term",
            ("カスタマーの検索キーワード", "ja"),
            ("カスタマー検索キーワード", "ja"),
            ("suchbegriff des kunden", "de"),
            ("kundensuchbegriff", "de"),
        ),
        "product_id": ("advertised asin", "advertised sku"),
        "impressions": (
            "impressions",
            ("インプレッション", "ja"),
            ("インプレッション数", "ja"),
            ("impressionen", "de"),
        ),
        "clicks": ("clicks", ("クリック", "ja"), ("クリック数", "ja"), ("klicks", "de")),
        "cost": ("spend", "total cost", ("費用", "ja"), ("広告費", "ja"), ("ausgaben", "de")),
        "sales": (
            "7 day total sales",
            "14 day total sales",
            "sales",
            ("7日間の総売上高", "ja"),
            ("14日間の総売上高", "ja"),
            ("umsatz (7 tage)", "de"),
            ("umsätze", "de"),
        ),
        "orders": (
            "7 day total orders (#)",
            "14 day total orders (#)",
            "orders",
            ("7日間の総注文数", "ja"),
            ("7日間の総注文数 (#)", "ja"),
            ("bestellungen (7 tage)", "de"),
        ),
        "units": (
            "7 day total units (#)",
            "14 day total units (#)",
            "units sold",
            "units",
            ("7日間の総販売数", "ja"),
            ("7日間の総販売数 (#)", "ja"),
            ("einheiten (7 tage)", "de"),
        ),
        "_known": (
            "retailer",
            "country",
            "click-thru rate (ctr)",
            "cost per click (cpc)",
            "total advertising cost of sales (acos)",
            "total return on advertising spend (roas)",
            "7 day conversion rate",
            "14 day conversion rate",
            "7 day advertised sku units (#)",
            "7 day other sku units (#)",
            "7 day advertised sku sales",
            "7 day other sku sales",
            "14 day new-to-brand orders (#)",
            "search term impression rank",
            "search term impression share",
            "portfolio id",
            "ctr",
            "cpc",
            "acos",
            "roas",
            "roas (reconciled)",
            "main imdb ad clicks",
            "viewable cpm (vcpm)",
            "detail page views",
            ("クリック率 (ctr)", "ja"),
            ("クリック単価 (cpc)", "ja"),
            ("広告費売上高比率 (acos) 合計", "ja"),
        ),
    },
    distinct=frozenset(
        {
            "customer search term",
            "spend",
            "total cost",
            "date range",
            "budget currency",
            "portfolio name",
            "start date",
            "end date",
            "7 day total sales",
            "14 day total sales",
            "7 day total orders (#)",
            "total advertising cost of sales (acos)",
            "click-thru rate (ctr)",
            "advertised asin",
            "カスタマーの検索キーワード",
            "7日間の総売上高",
        }
    ),
)

# Marketplace -> the currency its console reports in, for files without a Currency column.
MARKETPLACE_CURRENCY = {
    "US": "USD", "CA": "CAD", "MX": "MXN", "BR": "BRL", "UK": "GBP", "GB": "GBP", "DE": "EUR", "FR": "EUR",
    "IT": "EUR", "ES": "EUR", "NL": "EUR", "BE": "EUR", "IE": "EUR", "SE": "SEK", "PL": "PLN", "TR": "TRY",
    "AE": "AED", "SA": "SAR", "EG": "EGP", "IN": "INR", "JP": "JPY", "AU": "AUD", "SG": "SGD",
}  # fmt: skip

LABELS = {
    "date": "Date",
    "campaign_name": "Campaign Name",
    "ad_group_name": "Ad Group Name",
    "search_term": "Customer Search Term",
    "impressions": "Impressions",
    "clicks": "Clicks",
    "cost": "Spend",
    "sales": "7 Day Total Sales",
    "currency": "Currency",
}

_WINDOW = re.compile(r"(\d+)\s*(?:days?\b|日間|tage\b)", re.IGNORECASE)  # 7 Day ..., 7日間の..., (7 Tage)


def _missing(header: Header, canonical: str, report: str) -> ImportProblem:
    if canonical == "currency":
        message = _(
            "This %(report)s has no “Currency” column. Choose the marketplace when you upload it, or add the "
            "column to the report and download it again."
        ) % {"report": report}
    else:
        message = _(
            "This %(report)s has no “%(column)s” column. Add it to the report, download it and upload it again."
        ) % {"report": report, "column": LABELS[canonical]}
    return ImportProblem(message, errors=[{"row": header.row, "column": LABELS[canonical], "message": message}])


def configure(header: Header, *, marketplace: str, source_ref: int, comma_decimal: bool, day_first: bool):
    """(format, RowConfig) for an Amazon header, or ImportProblem naming the missing column."""
    columns = {k: v for k, v in header.columns.items() if not k.startswith("_")}
    search_terms = "search_term" in columns
    fmt = ImportFormat.AMAZON_SP_SEARCH_TERM if search_terms else ImportFormat.AMAZON_SP_CAMPAIGN
    report = _("Amazon search term report") if search_terms else _("Amazon campaign report")
    if not ({"date", "date_range"} & columns.keys() or {"start_date", "end_date"} <= columns.keys()):
        raise _missing(header, "date", report)
    if "campaign_name" not in columns and "campaign_id" not in columns:
        raise _missing(header, "campaign_name", report)
    required = ("ad_group_name", "impressions", "clicks", "cost", "sales") if search_terms else ("clicks", "cost")
    for canonical in required:
        if canonical not in columns:
            raise _missing(header, canonical, report)
    currency = "" if "currency" in columns else MARKETPLACE_CURRENCY.get(marketplace, "")
    if not currency and "currency" not in columns:
        raise _missing(header, "currency", report)
    window = ""
    for canonical in ("sales", "orders", "units"):
        if canonical in columns and (match := _WINDOW.search(header.cells[columns[canonical]])):
            window = f"{match[1]}d"
            break
    return fmt, RowConfig(
        channel=Channel.AMAZON_ADS.value,
        columns=columns,
        source_ref=source_ref,
        comma_decimal=comma_decimal,
        day_first=day_first,
        currency=currency,
        marketplace=marketplace,
        attribution=window,
    )
