"""Google Ads reports downloaded from the Google Ads UI (platform-apis.md section 11.3, public fixtures).

Shape: a title line (``Campaign report``, localized: ``Kampagnenbericht``), a date-range line (``"September 1,
2026 - September 30, 2026"`` or ``All time``), then the header; with the day segment the header starts
``Day,Campaign,...`` (German ``Tag,Kampagne,Währungscode,Kosten,Impr.,Klicks,Conversions``). Numbers are
quoted with the UI locale's separators (``"1,316.14"``, German ``"1.234,56"``), ``--`` marks "no value", and
``Total: ...`` footer rows follow the data. Downloads can be UTF-16LE and tab-separated. Cost is in currency
units, not micros. Keyword and search-term reports have the same preamble.

Grain: ``search_term`` when there is a ``Search term`` column, ``target`` with a ``Keyword`` column,
``ad_group`` with an ``Ad group`` column, else ``campaign``. Conversions can be fractional (modelled); they are
rounded half up into whole orders. The attribution window is the account's conversion setting, which the file
does not say, so it is left empty.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from campaigns.models import Channel
from connectors.imports.detect import Family, Header
from connectors.imports.errors import ImportProblem
from connectors.imports.rows import RowConfig, span_message
from connectors.imports.values import CellError, parse_date, parse_span
from connectors.models import ImportFormat

FAMILY = Family(
    name="google",
    columns={
        "date": ("day", "date", ("tag", "de"), ("日", "ja"), ("día", "es"), ("dia", "pt"), ("jour", "fr")),
        "campaign_id": ("campaign id", ("kampagnen-id", "de"), ("キャンペーン id", "ja")),
        "campaign_name": (
            "campaign",
            ("kampagne", "de"),
            ("キャンペーン", "ja"),
            ("campaña", "es"),
            ("campanha", "pt"),
            ("campagne", "fr"),
        ),
        "ad_group_id": ("ad group id", ("anzeigengruppen-id", "de")),
        "ad_group_name": (
            "ad group",
            ("anzeigengruppe", "de"),
            ("広告グループ", "ja"),
            ("grupo de anuncios", "es"),
            ("grupo de anúncios", "pt"),
            ("groupe d'annonces", "fr"),
        ),
        "target_text": ("keyword", "search keyword", ("キーワード", "ja"), ("palabra clave", "es")),
        "match_type": (
            "match type",
            "search keyword match type",
            "keyword match type",
            ("keyword-option", "de"),
            ("übereinstimmungstyp", "de"),
            ("マッチタイプ", "ja"),
            ("tipo de concordancia", "es"),
        ),
        "search_term": ("search term", ("suchbegriff", "de"), ("検索語句", "ja"), ("término de búsqueda", "es")),
        "currency": (
            "currency code",
            "currency",
            ("währungscode", "de"),
            ("通貨コード", "ja"),
            ("código de moneda", "es"),
            ("código da moeda", "pt"),
            ("code de la devise", "fr"),
        ),
        "cost": (
            "cost",
            ("kosten", "de"),
            ("費用", "ja"),
            ("coste", "es"),
            ("costo", "es"),
            ("custo", "pt"),
            ("coût", "fr"),
        ),
        "impressions": ("impr.", "impressions", ("表示回数", "ja"), ("impresiones", "es"), ("impressões", "pt")),
        "clicks": ("clicks", ("klicks", "de"), ("クリック数", "ja"), ("clics", "es"), ("cliques", "pt")),
        "orders": ("conversions", "conv.", ("konversionen", "de"), ("コンバージョン", "ja"), ("conversiones", "es")),
        "sales": (
            "conv. value",
            "conversion value",
            "total conv. value",
            ("konv.-wert", "de"),
            ("conv.-wert", "de"),
            ("コンバージョン値", "ja"),
            ("valor de conv.", "es"),
        ),
        "_known": (
            "campaign status",
            "ad group status",
            "budget",
            "budget name",
            "budget type",
            "status",
            "status reasons",
            "optimization score",
            "campaign type",
            "avg. cpm",
            "interactions",
            "interaction rate",
            "avg. cost",
            "conv. rate",
            "conv. value / cost",
            "avg. cpc",
            "cost / conv.",
            "ctr",
            "conv. (platform comparable)",
            "added/excluded",
            "account",
            ("kampagnenstatus", "de"),
            ("durchschn. cpc", "de"),
            ("interaktionen", "de"),
            ("conv.-rate", "de"),
            ("kosten/conv.", "de"),
        ),
    },
    distinct=frozenset(
        {
            "impr.",
            "currency code",
            "conv.",
            "conv. value",
            "conv. value / cost",
            "day",
            "campaign",
            "ad group",
            "avg. cpc",
            "interactions",
            "search term",
            "search keyword",
            "tag",
            "kampagne",
            "währungscode",
            "kosten",
            "konv.-wert",
            "conv.-wert",
        }
    ),
)

LABELS = {
    "date": "Day",
    "campaign_name": "Campaign",
    "currency": "Currency code",
    "cost": "Cost",
    "impressions": "Impr.",
    "clicks": "Clicks",
}


def _missing(header: Header, canonical: str) -> ImportProblem:
    message = _(
        "This Google Ads report has no “%(column)s” column. Add it to the report, download it and upload it again."
    ) % {"column": LABELS[canonical]}
    return ImportProblem(message, errors=[{"row": header.row, "column": LABELS[canonical], "message": message}])


def _report_day(header: Header, day_first: bool):
    """The single day of a report without a Day column, from the date-range line above the header."""
    for number, record in enumerate(header.preamble, start=1):
        text = " ".join(c.strip() for c in record if c.strip())
        if not text or not any(ch.isdigit() for ch in text) and text.lower() not in ("all time", "gesamte zeit"):
            continue
        try:
            span = parse_span(text, day_first) or (parse_date(text, day_first),) * 2
        except CellError:
            span = None
        if span is None or span[0] != span[1]:
            message = span_message(text)
            raise ImportProblem(message, errors=[{"row": number, "column": "", "message": message}])
        return span[0]
    raise _missing(header, "date")


def configure(header: Header, *, marketplace: str, source_ref: int, comma_decimal: bool, day_first: bool):
    columns = {k: v for k, v in header.columns.items() if not k.startswith("_")}
    for canonical in ("campaign_name", "cost", "impressions", "clicks", "currency"):
        if canonical not in columns and not (canonical == "campaign_name" and "campaign_id" in columns):
            raise _missing(header, canonical)
    fixed_date = None if "date" in columns else _report_day(header, day_first)
    return ImportFormat.GOOGLE_ADS_UI, RowConfig(
        channel=Channel.GOOGLE_ADS.value,
        columns=columns,
        source_ref=source_ref,
        comma_decimal=comma_decimal,
        day_first=day_first,
        fixed_date=fixed_date,
        marketplace=marketplace,
        skip_total_rows=True,
        fractional_orders=True,
    )
