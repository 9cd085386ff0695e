"""Meta Ads Manager exports, CSV or XLSX (platform-apis.md section 11.4, public fixtures).

Headers follow the user's column preset: ``"Reporting starts","Reporting ends","Campaign name",...,"Amount
spent (USD)",Impressions,"Link clicks",...,"Attribution setting"``. The account currency is written into the
money column names. The first data row can be the account total, with empty name cells (skipped). Spanish and
Portuguese exports translate the headers (``Inicio del informe``, ``Início dos relatórios``). Excel turns ids
into ``1.20253E+17``: such a cell is refused, since the digits are gone.

Grain: rows of an ad-level export (``Ad name``/``Ad ID``) are stored at the ``target`` grain (the ad, with its
id or ``name:<ad name>``): analytics has no ad grain, and keeping ads apart from ad-set rows keeps every grain
summable. Ad-set exports are ``ad_group``, campaign exports ``campaign``. A per-day export has equal
``Reporting starts`` and ``Reporting ends``. ``Attribution setting`` (``7-day click or 1-day view``) is stored
compactly as ``7dc+1dv`` (c click, v view, ev engaged view) to fit the 16-character column.
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
    name="meta",
    columns={
        "start_date": (
            "reporting starts",
            ("inicio del informe", "es"),
            ("início dos relatórios", "pt"),
            ("berichtsbeginn", "de"),
            ("début des rapports", "fr"),
            ("レポート開始日", "ja"),
        ),
        "end_date": (
            "reporting ends",
            ("fin del informe", "es"),
            ("término dos relatórios", "pt"),
            ("berichtsende", "de"),
            ("fin des rapports", "fr"),
            ("レポート終了日", "ja"),
        ),
        "campaign_id": ("campaign id", ("identificador de la campaña", "es"), ("id da campanha", "pt")),
        "campaign_name": (
            "campaign name",
            ("nombre de la campaña", "es"),
            ("nome da campanha", "pt"),
            ("kampagnenname", "de"),
            ("nom de la campagne", "fr"),
            ("キャンペーン名", "ja"),
        ),
        "ad_group_id": (
            "ad set id",
            ("identificador del conjunto de anuncios", "es"),
            ("id do conjunto de anúncios", "pt"),
        ),
        "ad_group_name": (
            "ad set name",
            ("nombre del conjunto de anuncios", "es"),
            ("nome do conjunto de anúncios", "pt"),
            ("name der anzeigengruppe", "de"),
            ("広告セット名", "ja"),
        ),
        "target_id": ("ad id", ("identificador del anuncio", "es"), ("id do anúncio", "pt")),
        "target_text": (
            "ad name",
            ("nombre del anuncio", "es"),
            ("nome do anúncio", "pt"),
            ("anzeigenname", "de"),
            ("広告名", "ja"),
        ),
        "currency": ("currency", ("divisa", "es"), ("moeda", "pt"), ("währung", "de")),
        "cost": (
            "amount spent",
            ("importe gastado", "es"),
            ("valor usado", "pt"),
            ("ausgegebener betrag", "de"),
            ("montant dépensé", "fr"),
            ("消化金額", "ja"),
        ),
        "impressions": ("impressions", ("impresiones", "es"), ("impressões", "pt"), ("impressionen", "de")),
        "clicks": (
            "link clicks",
            "clicks (all)",
            ("clics en el enlace", "es"),
            ("cliques no link", "pt"),
            ("link-klicks", "de"),
            ("clics (todos)", "es"),
        ),
        "orders": ("purchases", "website purchases", ("compras", "es"), ("käufe", "de")),
        "sales": (
            "purchases conversion value",
            "website purchases conversion value",
            ("valor de conversión de compras", "es"),
            ("valor de conversão das compras", "pt"),
        ),
        "attribution": (
            "attribution setting",
            ("configuración de atribución", "es"),
            ("configuração de atribuição", "pt"),
            ("attributionseinstellung", "de"),
        ),
        "_known": (
            "ad delivery",
            "campaign delivery",
            "ad set delivery",
            "results",
            "result indicator",
            "cost per results",
            "ad set budget",
            "ad set budget type",
            "reach",
            "frequency",
            "cpm (cost per 1,000 impressions)",
            "cpc (cost per link click)",
            "ctr (link click-through rate)",
            "ends",
            "starts",
            "bid",
            "bid type",
            "last significant edit",
            "quality ranking",
            "engagement rate ranking",
            "conversion rate ranking",
            "purchase roas (return on ad spend)",
            "landing page views",
            "account name",
            "account id",
            ("alcance", "es"),
            ("resultados", "es"),
        ),
    },
    distinct=frozenset(
        {
            "reporting starts",
            "reporting ends",
            "amount spent",
            "ad set name",
            "link clicks",
            "attribution setting",
            "result indicator",
            "ad delivery",
            "campaign delivery",
            "inicio del informe",
            "fin del informe",
            "início dos relatórios",
            "término dos relatórios",
            "importe gastado",
            "valor usado",
        }
    ),
)

LABELS = {
    "start_date": "Reporting starts",
    "end_date": "Reporting ends",
    "campaign_name": "Campaign name",
    "cost": "Amount spent",
    "impressions": "Impressions",
}

_WINDOW = re.compile(r"(\d+)[\s-]*days?[\s-]+(engaged[\s-]*view|click|view)", re.IGNORECASE)
_KIND = {"click": "c", "view": "v"}


def attribution_window(text: str) -> str:
    """``7-day click or 1-day view`` -> ``7dc+1dv``; text we cannot read -> ``""``."""
    parts = []
    for days, kind in _WINDOW.findall(text):
        parts.append(f"{days}d{_KIND.get(kind.lower(), 'ev')}")
    return "+".join(parts)[:16]


def _missing(header: Header, canonical: str) -> ImportProblem:
    message = _(
        "This Meta Ads Manager export has no “%(column)s” column. Add it to the export (Columns: Customize "
        "columns) and upload the new export."
    ) % {"column": LABELS[canonical]}
    return ImportProblem(message, errors=[{"row": header.row, "column": LABELS[canonical], "message": message}])


def configure(header: Header, *, marketplace: str, source_ref: int, comma_decimal: bool, day_first: bool):
    columns = {k: v for k, v in header.columns.items() if not k.startswith("_")}
    for canonical in ("start_date", "end_date", "campaign_name", "cost", "impressions"):
        if canonical not in columns and not (canonical == "campaign_name" and "campaign_id" in columns):
            raise _missing(header, canonical)
    if not header.header_currency and "currency" not in columns:
        message = _(
            "This Meta Ads Manager export does not say its currency. Export it again with the currency in the "
            "column names (e.g. “Amount spent (USD)”) and upload the new export."
        )
        raise ImportProblem(message, errors=[{"row": header.row, "column": header.label("cost"), "message": message}])
    return ImportFormat.META_ADS_MANAGER, RowConfig(
        channel=Channel.META.value,
        columns=columns,
        source_ref=source_ref,
        comma_decimal=comma_decimal,
        day_first=day_first,
        currency=header.header_currency,
        marketplace=marketplace,
        attribution_map=attribution_window,
        skip_first_blank_row=True,
    )
