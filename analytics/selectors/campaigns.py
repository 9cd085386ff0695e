"""The campaign table (every channel, from ``AdRollupDaily``) and its drill-down into one campaign's ad groups,
targets and search terms (from ``AdPerformanceDaily``, through the ``analytics_adperf_campaign_idx`` index).

Amounts are summed in the database. In home-currency mode each row is multiplied by the rate of its own day
and currency: the rates come from ``analytics.fx.selectors.rates_frame`` (a few hundred (day, currency)
pairs) and reach the query as three arrays joined with ``unnest``, so one query converts, groups, sorts and
pages. A row with a non-zero amount on a day without a rate flags its group ``no_rate``: the page shows
"no rate" for its money instead of a partial sum. Ratios are not computed in SQL except for sorting; what is
shown comes from ``analytics.metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import Organization
from analytics import metrics
from analytics.fx.selectors import rates_frame
from analytics.models import AdPerformanceDaily, AdRollupDaily, Grain
from analytics.query import DashboardQuery

PAGE_SIZE = 25
# Table columns: metric keys of ``analytics.metrics.METRICS``, in the order shown.
COLUMNS = ("spend", "ad_sales", "roas", "acos", "ad_orders", "clicks", "impressions", "cpc", "ctr", "cvr")
# Metrics that need a converted amount: "no rate" when a day's rate is missing.
MONEY_DERIVED = frozenset({"spend", "ad_sales", "roas", "acos", "cpc"})
# Metrics whose change vs the comparison period is shown under the value (exports carry every change).
CHANGE_SHOWN = frozenset({"spend", "ad_sales", "roas", "acos"})
# SQL to order by, per sort key (whitelisted: the key comes from the URL).
SORT_SQL = {
    "name": "label",
    "spend": "cost",
    "ad_sales": "sales",
    "roas": "sales / NULLIF(cost, 0)",
    "acos": "cost / NULLIF(sales, 0)",
    "ad_orders": "orders",
    "clicks": "clicks",
    "impressions": "impressions",
    "cpc": "cost / NULLIF(clicks, 0)",
    "ctr": "clicks::numeric / NULLIF(impressions, 0)",
    "cvr": "orders::numeric / NULLIF(clicks, 0)",
}
DEFAULT_SORT = "-spend"
AD_COUNTS = ("impressions", "clicks", "orders", "units")
AD_AMOUNTS = ("cost", "sales")


# --- money: home currency with daily rates, or original currencies ---------------------------------------


@dataclass(frozen=True)
class Money:
    """How a view shows amounts. ``home`` set: converted into it with each day's rate (``rates``:
    ``{(day, currency): rate}``, 1 currency = rate home). ``home`` None: in each row's own currency."""

    home: str | None
    rates: dict[tuple[date, str], Decimal] = field(default_factory=dict)

    @property
    def converts(self) -> bool:
        return self.home is not None

    def rate(self, day: date, currency: str) -> Decimal | None:
        return self.rates.get((day, currency))

    def sql(self) -> tuple[str, str, str, dict]:
        """(CTE, join, rate expression, params) for a query over rows aliased ``r``."""
        if not self.converts:
            return "", "", "1", {}
        days, currencies, values = [], [], []
        for (day, currency), rate in self.rates.items():
            days.append(day)
            currencies.append(currency)
            values.append(rate)
        cte = (
            "fx(day, currency, rate) AS (SELECT * FROM unnest("
            "%(fx_days)s::date[], %(fx_currencies)s::text[], %(fx_rates)s::numeric[])), "
        )
        join = "LEFT JOIN fx ON fx.day = r.date AND fx.currency = r.currency"
        params = {"fx_days": days, "fx_currencies": currencies, "fx_rates": values, "home": self.home}
        return cte, join, "fx.rate", params


def view_money(*, organization: Organization, query: DashboardQuery, currencies: Iterable[str]) -> Money:
    """The money of a view: rates for every day of the range and of its comparison period (one query)."""
    if query.currency == "original":
        return Money(home=None)
    start, end = span(query)
    home = organization.home_currency
    return Money(home=home, rates=rates_frame(set(currencies) | {home}, start, end, home))


def span(query: DashboardQuery) -> tuple[date, date]:
    """First and last day a view reads: the range and its comparison period."""
    comparison = query.comparison
    if comparison is None:
        return query.start, query.end
    return min(query.start, comparison[0]), max(query.end, comparison[1])


def currencies_in(*querysets: QuerySet) -> set[str]:
    """The currencies the given querysets' rows are in: one query (a UNION of DISTINCTs)."""
    first, *rest = [qs.order_by().values_list("currency", flat=True).distinct() for qs in querysets]
    return set(first.union(*rest)) if rest else set(first)


# --- the generic grouped, converted, sorted and paged query ----------------------------------------------


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def aggregate(
    *,
    table: str,
    organization_id: int,
    query: DashboardQuery,
    money: Money,
    group: Sequence[str],
    counts: Sequence[str] = AD_COUNTS,
    amounts: Sequence[str] = AD_AMOUNTS,
    label: str | None = None,
    where: Sequence[str] = (),
    params: dict | None = None,
    having: Sequence[str] = (),
    order: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    compare: bool = True,
    totals: bool = False,
) -> tuple[list[dict], dict | None]:
    """Rows of ``table`` (aliased ``r``) in the query's range grouped by ``group`` columns (and by currency when
    not converting), with sums of ``counts`` and converted sums of ``amounts`` for the range and, when
    ``compare``, for the comparison period (keys prefixed ``prev_``). Each row also carries ``currency``,
    ``label`` (the latest value of the ``label`` column), ``no_rate``, ``source_currencies`` and
    ``total_rows`` (the count before paging). With ``totals`` the sums over every group come back as a dict
    (home currency only). Only groups with rows in the range are returned. One query."""
    cte, join, rate, money_params = money.sql()
    comparison = query.comparison if compare else None
    params = {
        **(params or {}),
        **money_params,
        "org": organization_id,
        "start": query.start,
        "end": query.end,
    }
    current = "r.date BETWEEN %(start)s AND %(end)s"
    periods = [("", current)]
    dates = current
    if comparison:
        params["prev_start"], params["prev_end"] = comparison
        previous = "r.date BETWEEN %(prev_start)s AND %(prev_end)s"
        periods.append(("prev_", previous))
        dates = (
            "r.date BETWEEN %(prev_start)s AND %(end)s"
            if comparison[1] + timedelta(days=1) == query.start
            else f"({current} OR {previous})"
        )
    nonzero = " OR ".join(f"r.{column} <> 0" for column in amounts) or "false"
    missing = f"({rate} IS NULL AND ({nonzero}))" if money.converts else "false"
    columns = []
    for prefix, condition in periods:
        columns += [f"COALESCE(SUM(r.{c}) FILTER (WHERE {condition}), 0) AS {prefix}{c}" for c in counts]
        columns += [
            f"ROUND(COALESCE(SUM(r.{c} * {rate}) FILTER (WHERE {condition}), 0), 4) AS {prefix}{c}" for c in amounts
        ]
        columns.append(f"COALESCE(bool_or({missing}) FILTER (WHERE {condition}), false) AS {prefix}no_rate")
    group_by = [f"r.{column}" for column in group] + ([] if money.converts else ["r.currency"])
    currency = "%(home)s::text" if money.converts else "r.currency"
    label_sql = f"(array_agg(r.{label} ORDER BY r.date DESC))[1]" if label else "''"
    conditions = " AND ".join(["r.organization_id = %(org)s", dates, *where])
    sql = (
        f"WITH {cte}agg AS (SELECT {', '.join(f'r.{column}' for column in group)}, {currency} AS currency, "
        f"{label_sql} AS label, string_agg(DISTINCT r.currency, ', ') AS source_currencies, {', '.join(columns)} "
        f"FROM {table} r {join} WHERE {conditions} GROUP BY {', '.join(group_by)} "
        f"HAVING {' AND '.join([f'COUNT(*) FILTER (WHERE {current}) > 0', *having])}) "
    )
    window = ""
    if totals and money.converts:
        sums = [f"{prefix}{c}" for prefix, _ in periods for c in (*counts, *amounts)]
        window = ", " + ", ".join(f"SUM({column}) OVER () AS total_{column}" for column in sums)
        window += ", " + ", ".join(
            f"bool_or({prefix}no_rate) OVER () AS total_{prefix}no_rate" for prefix, _ in periods
        )
    sql += f"SELECT *, COUNT(*) OVER () AS total_rows{window} FROM agg"
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT %(limit)s OFFSET %(offset)s"
        params |= {"limit": limit, "offset": offset}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    summary = None
    if rows and window:
        summary = {key[len("total_") :]: value for key, value in rows[0].items() if key.startswith("total_")}
    return rows, summary


def order_sql(sort: str, keys: Sequence[str]) -> tuple[str, str]:
    """(normalised sort, ORDER BY) for a sort from the URL: ``spend`` ascending, ``-spend`` descending; unknown
    keys fall back to the default. Ties are broken by the group keys so pages never overlap."""
    key = sort.removeprefix("-")
    if key not in SORT_SQL:
        sort, key = DEFAULT_SORT, DEFAULT_SORT.removeprefix("-")
    direction = "DESC" if sort.startswith("-") else "ASC"
    tie = ", ".join(keys)
    return sort, f"{SORT_SQL[key]} {direction} NULLS LAST, {tie}"


# --- rows as the page shows them --------------------------------------------------------------------------


@dataclass
class Cell:
    key: str
    value: object  # number for exports; None when unknown
    text: str
    change: Decimal | None = None
    change_text: str = ""
    change_class: str = ""
    title: str = ""


@dataclass
class MetricRow:
    keys: dict
    label: str
    currency: str
    current: metrics.Totals
    previous: metrics.Totals | None
    no_rate: bool
    previous_no_rate: bool = False
    source_currencies: str = ""
    original_spend: Decimal | None = None
    spark: str = ""
    link: str = ""
    channel_label: str = ""
    cells: list[Cell] = field(default_factory=list)

    def value(self, key: str):
        if self.no_rate and key in MONEY_DERIVED:
            return None
        return metrics.METRICS[key].of(self.current)

    def export(self) -> dict:
        out = {**self.keys, "label": self.label, "currency": self.currency}
        for key in COLUMNS:
            out[key] = self.value(key)
            out[f"{key}_change"] = _change(self, key)
        return out


def _change(row: MetricRow, key: str) -> Decimal | None:
    if row.previous is None or row.no_rate and key in MONEY_DERIVED:
        return None
    if row.previous_no_rate and key in MONEY_DERIVED:
        return None
    return metrics.change(metrics.METRICS[key].of(row.current), metrics.METRICS[key].of(row.previous))


def _totals(values: dict, prefix: str = "") -> metrics.Totals:
    return metrics.Totals(
        impressions=int(values[f"{prefix}impressions"]),
        clicks=int(values[f"{prefix}clicks"]),
        spend=values[f"{prefix}cost"],
        ad_orders=int(values[f"{prefix}orders"]),
        ad_units=int(values[f"{prefix}units"]),
        ad_sales=values[f"{prefix}sales"],
    )


def format_change(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value * 100:+.1f}%"


def build_row(values: dict, *, keys: Sequence[str], money: Money, compare: bool) -> MetricRow:
    row = MetricRow(
        keys={key: values[key] for key in keys},
        label=values["label"] or "",
        currency=values["currency"],
        current=_totals(values),
        previous=_totals(values, "prev_") if compare and "prev_cost" in values else None,
        no_rate=values["no_rate"],
        previous_no_rate=values.get("prev_no_rate", False),
        source_currencies=values.get("source_currencies") or "",
    )
    row.cells = cells_for(row, money=money)
    return row


def cells_for(row: MetricRow, *, money: Money) -> list[Cell]:
    cells = []
    converted_from = ""
    if money.converts and row.source_currencies and row.source_currencies != money.home:
        converted_from = _("Converted from %(source)s to %(home)s with the ECB reference rate of each day.") % {
            "source": row.source_currencies,
            "home": money.home,
        }
    for key in COLUMNS:
        metric = metrics.METRICS[key]
        value = row.value(key)
        change = _change(row, key)
        if row.no_rate and key in MONEY_DERIVED:
            text = _("no rate")
            title = _("No FX rate for one of these days: the amount cannot be converted.")
        else:
            text = metrics.format_metric(value, metric.kind, row.currency)
            title = converted_from if metric.kind == "money" else ""
        good = change is not None and change != 0 and ((change > 0) == (metric.better == "up"))
        cells.append(
            Cell(
                key=key,
                value=value,
                text=text,
                change=change,
                change_text=format_change(change) if key in CHANGE_SHOWN else "",
                change_class="" if change is None or change == 0 else ("good" if good else "bad"),
                title=title,
            )
        )
    return cells


@dataclass
class Table:
    rows: list[MetricRow]
    total_rows: int
    page: int
    pages: int
    sort: str
    money: Money
    totals: MetricRow | None = None


def _page(page: int) -> int:
    return max(1, page)


def _table(
    rows: list[dict], summary: dict | None, *, keys, money: Money, compare: bool, page, page_size, sort
) -> Table:
    total_rows = rows[0]["total_rows"] if rows else 0
    table = Table(
        rows=[build_row(values, keys=keys, money=money, compare=compare) for values in rows],
        total_rows=total_rows,
        page=page,
        pages=max(1, math.ceil(total_rows / page_size)) if page_size else 1,
        sort=sort,
        money=money,
    )
    if summary is not None:
        summary |= {"label": "", "currency": money.home, "source_currencies": ""}
        table.totals = build_row(summary, keys=(), money=money, compare=compare)
    return table


# --- the campaign table -------------------------------------------------------------------------------------

CAMPAIGN_KEYS = ("channel", "account_id", "campaign_id", "marketplace")


def _campaign_filters(query: DashboardQuery, search: str) -> tuple[list[str], list[str], dict]:
    where, having, params = [], [], {}
    if query.channels:
        where.append("r.channel = ANY(%(channels)s)")
        params["channels"] = list(query.channels)
    if query.marketplaces:
        where.append("r.marketplace = ANY(%(marketplaces)s)")
        params["marketplaces"] = list(query.marketplaces)
    if query.campaigns:
        where.append("r.campaign_id = ANY(%(campaigns)s)")
        params["campaigns"] = list(query.campaigns)
    if search.strip():
        having.append("bool_or(r.campaign_name ILIKE %(search)s OR r.campaign_id ILIKE %(search)s)")
        params["search"] = like_pattern(search.strip())
    return where, having, params


def campaign_money(*, organization: Organization, query: DashboardQuery) -> Money:
    start, end = span(query)
    rollups = AdRollupDaily.objects.filter(organization=organization, date__range=(start, end))
    return view_money(organization=organization, query=query, currencies=currencies_in(rollups))


def campaign_table(
    *,
    organization: Organization,
    query: DashboardQuery,
    search: str = "",
    sort: str = DEFAULT_SORT,
    page: int = 1,
    page_size: int | None = PAGE_SIZE,
    money: Money | None = None,
) -> Table:
    """One row per channel x account x campaign x marketplace (publishers summed) with the range's metrics and
    their change vs the comparison period; filtered, searched, sorted and paged in one query (plus one for
    the currencies and one for their rates). ``page_size`` None: every row (exports)."""
    money = money or campaign_money(organization=organization, query=query)
    where, having, params = _campaign_filters(query, search)
    sort, order = order_sql(sort, CAMPAIGN_KEYS)
    page = _page(page)
    compare = query.comparison is not None
    rows, summary = aggregate(
        table=AdRollupDaily._meta.db_table,
        organization_id=organization.pk,
        query=query,
        money=money,
        group=CAMPAIGN_KEYS,
        label="campaign_name",
        where=where,
        params=params,
        having=having,
        order=order,
        limit=page_size,
        offset=(page - 1) * (page_size or 0),
        totals=True,
    )
    return _table(
        rows, summary, keys=CAMPAIGN_KEYS, money=money, compare=compare, page=page, page_size=page_size, sort=sort
    )


def spend_sparklines(*, organization: Organization, query: DashboardQuery, rows: Sequence[MetricRow]) -> None:
    """Set ``row.spark`` (SVG polyline points of daily spend over the range) for every row: one query for all
    of them. The line is drawn from spend in the campaign's own currency: its shape needs no conversion, so a
    day without an FX rate does not break it."""
    if not rows:
        return
    columns = {key: [row.keys[key] for row in rows] for key in CAMPAIGN_KEYS}
    sql = (
        f"SELECT r.channel, r.account_id, r.campaign_id, r.marketplace, r.date, SUM(r.cost) "
        f"FROM {AdRollupDaily._meta.db_table} r JOIN unnest(%(channel)s::text[], %(account_id)s::text[], "
        f"%(campaign_id)s::text[], %(marketplace)s::text[]) AS k(channel, account_id, campaign_id, marketplace) "
        f"ON r.channel = k.channel AND r.account_id = k.account_id AND r.campaign_id = k.campaign_id "
        f"AND r.marketplace = k.marketplace "
        f"WHERE r.organization_id = %(org)s AND r.date BETWEEN %(start)s AND %(end)s GROUP BY 1, 2, 3, 4, 5"
    )
    params = {**columns, "org": organization.pk, "start": query.start, "end": query.end}
    daily: dict[tuple, dict[date, Decimal]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for channel, account_id, campaign_id, marketplace, day, cost in cursor.fetchall():
            daily.setdefault((channel, account_id, campaign_id, marketplace), {})[day] = cost
    days = [query.start + timedelta(days=i) for i in range(query.days)]
    for row in rows:
        series = daily.get(tuple(row.keys[key] for key in CAMPAIGN_KEYS), {})
        row.spark = sparkline_points([series.get(day, Decimal(0)) for day in days])


SPARK_WIDTH, SPARK_HEIGHT = 96, 24


def sparkline_points(values: Sequence[Decimal], *, width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """SVG ``points`` for a polyline of ``values`` scaled to the box (0 at the bottom, the maximum at the top)."""
    if not values:
        return ""
    top = max(values)

    def y(value):
        return (height - 1) - (float(value) / float(top) * (height - 2) if top > 0 else 0)

    if len(values) == 1:
        return f"0.0,{y(values[0]):.1f} {width:.1f},{y(values[0]):.1f}"
    step = width / (len(values) - 1)
    points = [f"{i * step:.1f},{y(value):.1f}" for i, value in enumerate(values)]
    return " ".join(points)


# --- drill-down into one campaign ------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    key: str
    grain: str
    group: tuple[str, ...]
    label: str


LEVELS = {
    "ad_group": Level("ad_group", Grain.AD_GROUP, ("ad_group_id",), "ad_group_name"),
    "target": Level("target", Grain.TARGET, ("ad_group_id", "target_id", "match_type"), "target_text"),
    "search_term": Level("search_term", Grain.SEARCH_TERM, ("search_term",), "search_term"),
}


@dataclass(frozen=True)
class CampaignRef:
    channel: str
    campaign_id: str
    name: str
    account_id: str
    marketplace: str


def campaign_ref(
    *, organization: Organization, channel: str, campaign_id: str, account_id: str = ""
) -> CampaignRef | None:
    """The campaign as its latest fact names it, or None when the organization has no such campaign."""
    facts = AdPerformanceDaily.objects.filter(organization=organization, campaign_id=campaign_id, channel=channel)
    if account_id:
        facts = facts.filter(account_id=account_id)
    latest = facts.order_by("-date").values("campaign_name", "account_id", "marketplace").first()
    if latest is None:
        return None
    return CampaignRef(
        channel=channel,
        campaign_id=campaign_id,
        name=latest["campaign_name"] or campaign_id,
        account_id=account_id or latest["account_id"],
        marketplace=latest["marketplace"],
    )


def names_of(*, organization: Organization, campaign: CampaignRef, ad_group: str = "", target: str = "") -> dict:
    """Names of the ad group and target a drill-down is inside (for its breadcrumbs): at most one query."""
    if not ad_group and not target:
        return {}
    facts = AdPerformanceDaily.objects.filter(
        organization=organization, campaign_id=campaign.campaign_id, channel=campaign.channel
    )
    names = {}
    if ad_group:
        facts = facts.filter(ad_group_id=ad_group)
    if target:
        facts = facts.filter(target_id=target)
    latest = facts.order_by("-date").values("ad_group_name", "target_text").first() or {}
    if ad_group:
        names["ad_group"] = latest.get("ad_group_name") or ad_group
    if target:
        names["target"] = latest.get("target_text") or target
    return names


def campaign_breakdown(
    *,
    organization: Organization,
    query: DashboardQuery,
    campaign: CampaignRef,
    level: str,
    ad_group: str = "",
    target: str = "",
    search: str = "",
    sort: str = DEFAULT_SORT,
    page: int = 1,
    page_size: int | None = PAGE_SIZE,
) -> Table:
    """One campaign's facts at one grain (ad groups, targets or search terms), optionally inside one ad group
    or target, with the same metrics as the campaign table. Reads ``AdPerformanceDaily`` by organization,
    campaign, grain and date: the ``analytics_adperf_campaign_idx`` index."""
    spec = LEVELS[level]
    start, end = span(query)
    facts = AdPerformanceDaily.objects.filter(
        organization=organization,
        campaign_id=campaign.campaign_id,
        grain=spec.grain,
        date__range=(start, end),
        channel=campaign.channel,
    )
    money = view_money(organization=organization, query=query, currencies=currencies_in(facts))
    where = ["r.campaign_id = %(campaign)s", "r.grain = %(grain)s", "r.channel = %(channel)s"]
    params = {"campaign": campaign.campaign_id, "grain": spec.grain, "channel": campaign.channel}
    for column, value in (("account_id", campaign.account_id), ("ad_group_id", ad_group), ("target_id", target)):
        if value:
            where.append(f"r.{column} = %({column})s")
            params[column] = value
    if query.marketplaces:
        where.append("r.marketplace = ANY(%(marketplaces)s)")
        params["marketplaces"] = list(query.marketplaces)
    having = []
    if search.strip():
        having.append(f"bool_or(r.{spec.label} ILIKE %(search)s)")
        params["search"] = like_pattern(search.strip())
    sort, order = order_sql(sort, list(spec.group))
    page = _page(page)
    rows, summary = aggregate(
        table=AdPerformanceDaily._meta.db_table,
        organization_id=organization.pk,
        query=query,
        money=money,
        group=spec.group,
        label=spec.label,
        where=where,
        params=params,
        having=having,
        order=order,
        limit=page_size,
        offset=(page - 1) * (page_size or 0),
        totals=True,
    )
    return _table(
        rows,
        summary,
        keys=spec.group,
        money=money,
        compare=query.comparison is not None,
        page=page,
        page_size=page_size,
        sort=sort,
    )
