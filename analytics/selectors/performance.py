"""Reads for the overview, channels and marketplaces pages.

Only rollups are read (``AdRollupDaily``, ``SalesRollupDaily``), never facts. The database does the work: it
sums the rows per day and currency (plus whatever a panel splits by), converts each day's amounts at that day's
FX rate (``analytics.fx.selectors.rates_frame``, passed in as arrays: one rates query for the whole view) and
sums per period; Python folds the few result rows into ``Slice``s. A panel costs a fixed number of queries:
the currencies in view, their rates, the ad rollup, the sales rollup, the provisional days.

- Home-currency mode: a group without a rate is neither dropped nor guessed. It is kept, in its own currency,
  under ``Slice.unconverted``, and its (currency, day) is listed in ``Slice.missing``; pages show it next to
  the converted figure ("no rate for JPY on 3 Nov").
- Original-currency mode: nothing is converted and nothing is added across currencies; a slice holds one
  ``Totals`` per currency and pages show one line per currency.

Filters: channel and campaign filters apply to ad figures. Store sales are not split by channel or campaign,
so total sales (the TACoS denominator) follow the marketplace filter only. The product filter does not apply
here: these rollups are per campaign, not per product (the Products page honours it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Organization
from analytics import metrics
from analytics.fx.selectors import rates_frame
from analytics.labels import CHANNELS, channel_label, platform_label
from analytics.metrics import METRICS, ZERO, Totals
from analytics.models import AdRollupDaily, SalesRollupDaily
from analytics.query import DashboardQuery, today_in
from analytics.selectors.freshness import provisional_since
from analytics.selectors.products import profit_and_loss

# Totals field -> rollup column
AD_FIELDS = {
    "impressions": "impressions",
    "clicks": "clicks",
    "spend": "cost",
    "ad_orders": "orders",
    "ad_units": "units",
    "ad_sales": "sales",
}
SALES_FIELDS = {"total_sales": "total_sales", "total_orders": "orders", "total_units": "units", "refunds": "refunds"}
MONEY_FIELDS = frozenset({"spend", "ad_sales", "total_sales", "refunds"})
SUM_FIELDS = (*AD_FIELDS, *SALES_FIELDS)
# What the overview's KPI cards show, in order (every one a key of metrics.METRICS).
KPI_METRICS = ("spend", "ad_sales", "total_sales", "roas", "acos", "tacos", "cpc", "ctr", "cvr", "orders", "profit")
# The ad metrics shown per channel and per marketplace.
AD_TABLE_METRICS = ("spend", "impressions", "clicks", "ctr", "cpc", "ad_orders", "cvr", "ad_sales", "roas", "acos")
MARKETPLACE_METRICS = ("spend", "ad_sales", "roas", "acos", "total_sales", "orders", "tacos")
MOVERS = 10


# --- slices: sums of one part of a view, per currency -----------------------------------------------------


class Slice:
    """Sums over the rows of one part of a view (a day, a channel, a marketplace, a campaign)."""

    __slots__ = ("_sums", "_unconverted", "missing", "rated", "sources", "name")

    def __init__(self):
        self._sums: dict[str, dict] = {}
        self._unconverted: dict[str, dict] = {}
        self.missing: set[tuple[str, date]] = set()  # (currency, day) that had no rate
        self.rated: set[tuple[date, str]] = set()  # (day, currency) converted at a rate (not 1:1)
        self.sources: set[str] = set()  # ad channels and sales platforms the rows came from
        self.name = ""

    @staticmethod
    def _bucket(store: dict, currency: str) -> dict:
        bucket = store.get(currency)
        if bucket is None:
            bucket = store[currency] = {name: (ZERO if name in MONEY_FIELDS else 0) for name in SUM_FIELDS}
        return bucket

    def add(self, currency: str, values: dict, *, unconverted=False):
        """Add sums in ``currency`` (converted ones, or, with ``unconverted``, ones that had no FX rate)."""
        bucket = self._bucket(self._unconverted if unconverted else self._sums, currency)
        for name, value in values.items():
            if value is not None:
                bucket[name] += value

    def merge(self, other: Slice):
        for mine, theirs in ((self._sums, other._sums), (self._unconverted, other._unconverted)):
            for currency, values in theirs.items():
                bucket = self._bucket(mine, currency)
                for name, value in values.items():
                    bucket[name] += value
        self.missing |= other.missing
        self.rated |= other.rated
        self.sources |= other.sources
        self.name = self.name or other.name

    @property
    def currencies(self) -> list[str]:
        return sorted(self._sums)

    def total(self, currency: str) -> Totals:
        """The sums in ``currency`` (zeros when the slice has none)."""
        values = self._sums.get(currency)
        return Totals(**values) if values else Totals()

    @property
    def unconverted(self) -> dict[str, Totals]:
        return {currency: Totals(**values) for currency, values in sorted(self._unconverted.items())}

    def value(self, metric: str, currency: str):
        return METRICS[metric].of(self.total(currency))


@dataclass
class Row:
    """One line of a table: a key, a label, the slice now and in the comparison period."""

    key: tuple
    label: str
    current: Slice
    previous: Slice | None = None
    provisional_from: date | None = None  # the first provisional day inside the view's range, if any
    children: list[Row] = field(default_factory=list)

    def change(self, metric: str, currency: str):
        if self.previous is None:
            return None
        return metrics.change(self.current.value(metric, currency), self.previous.value(metric, currency))


@dataclass
class View:
    """What every reader here returns besides its rows: how to read the money in it."""

    query: DashboardQuery
    home: str
    currencies: list[str]  # the currencies amounts are shown in: [home], or each original currency
    rates: dict[tuple[date, str], Decimal]  # (day, currency) -> 1 currency = rate home
    provisional: dict[str, date]  # source key -> first provisional day, limited to the view's sources

    @property
    def converted(self) -> bool:
        return self.query.currency == "home"

    @property
    def provisional_from(self) -> date | None:
        days = [day for day in self.provisional.values() if day <= self.query.end]
        return max(min(days), self.query.start) if days else None


# --- reading and folding --------------------------------------------------------------------------------


def _periods(query: DashboardQuery) -> list[tuple[date, date]]:
    return [(query.start, query.end), *([query.comparison] if query.comparison else [])]


def _where(query: DashboardQuery, *, ads: bool) -> tuple[list[str], dict]:
    """The view's rows: its periods and filters (channel and campaign filters apply to ads only)."""
    periods = _periods(query)
    dated = " OR ".join(f"r.date BETWEEN %(start{i})s AND %(end{i})s" for i in range(len(periods)))
    where, params = [f"({dated})"], {}
    for i, (start, end) in enumerate(periods):
        params[f"start{i}"], params[f"end{i}"] = start, end
    filters = [("marketplace", query.marketplaces)]
    if ads:
        filters += [("channel", query.channels), ("campaign_id", query.campaigns)]
    for column, values in filters:
        if values:
            where.append(f"r.{column} = ANY(%({column}s)s)")
            params[f"{column}s"] = list(values)
    return where, params


def _currencies(organization: Organization, query: DashboardQuery, *, sales: bool) -> set[str]:
    """The currencies of the view's rows (one query), to know which FX rates to load."""
    ad_where, params = _where(query, ads=True)
    sql = f"SELECT DISTINCT r.currency FROM {AdRollupDaily._meta.db_table} r "
    sql += f"WHERE r.organization_id = %(org)s AND {' AND '.join(ad_where)}"
    if sales:
        sales_where, sales_params = _where(query, ads=False)
        params.update(sales_params)
        sql += f" UNION SELECT DISTINCT r.currency FROM {SalesRollupDaily._meta.db_table} r "
        sql += f"WHERE r.organization_id = %(org)s AND {' AND '.join(sales_where)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "org": organization.pk})
        return {currency for (currency,) in cursor.fetchall()}


def _aggregate(
    table: str,
    fields: dict[str, str],
    *,
    organization: Organization,
    query: DashboardQuery,
    dims: tuple[str, ...],
    rates: dict[tuple[date, str], Decimal] | None,
    ads: bool,
) -> list[dict]:
    """Sum ``table`` per ``dims``, currency and period (0: the view's range, 1: the comparison period) in the
    database. With ``rates`` (home-currency mode) money is converted row by row at its own day's rate, joined
    from arrays of (day, currency, rate); rows without a rate keep their currency and are summed apart
    (``no_rate``). The first and last day converted at a rate, and without one, bound the days a hover names
    (min/max keep this a hash aggregate; a DISTINCT list of days would sort every row)."""
    home = organization.home_currency
    where, params = _where(query, ads=ads)
    params.update(org=organization.pk, home=home)
    period_rows = ", ".join(f"({i}, %(start{i})s::date, %(end{i})s::date)" for i in range(len(_periods(query))))
    if rates is None:
        rate, fx_join = "1", ""
    else:
        rate = "(CASE WHEN r.currency = %(home)s THEN 1 ELSE fx.rate END)"
        fx_join = (
            "LEFT JOIN unnest(%(fx_day)s::date[], %(fx_currency)s::text[], %(fx_rate)s::numeric[]) "
            "AS fx(day, currency, rate) ON fx.day = r.date AND fx.currency = r.currency"
        )
        foreign = [(day, currency, value) for (day, currency), value in rates.items() if currency != home]
        params.update(
            fx_day=[day for day, _currency, _value in foreign],
            fx_currency=[currency for _day, currency, _value in foreign],
            fx_rate=[value for _day, _currency, value in foreign],
        )
    sums = ", ".join(
        f"ROUND(SUM(r.{column} * COALESCE({rate}, 1)), 4) AS s_{name}"
        if name in MONEY_FIELDS and rates is not None
        else f"SUM(r.{column}) AS s_{name}"
        for name, column in fields.items()
    )
    dim_columns = "".join(f"r.{dim}, " for dim in dims)
    rows = f"{table} r"
    condition = f"WHERE r.organization_id = %(org)s AND {' AND '.join(where)}"
    if "campaign_id" not in dims:
        # Coarser than the rollup's own grain: sum per day and currency first (a plain hash aggregate), then
        # convert the much smaller result at each day's rate. At campaign grain that first step would not
        # shrink anything.
        inner_dims = "".join(f"r.{dim}, " for dim in dims if dim != "date")
        inner_sums = ", ".join(f"SUM(r.{column}) AS {column}" for column in fields.values())
        rows = f"(SELECT {inner_dims}r.date, r.currency, {inner_sums} FROM {rows} {condition} "
        rows += f"GROUP BY {inner_dims}r.date, r.currency) r"
        condition = ""
    sql = f"""
        SELECT {dim_columns}r.currency, p.period, ({rate} IS NULL) AS no_rate, {sums},
               min(r.date) FILTER (WHERE r.currency <> %(home)s AND {rate} IS NOT NULL) AS rated_first,
               max(r.date) FILTER (WHERE r.currency <> %(home)s AND {rate} IS NOT NULL) AS rated_last,
               min(r.date) FILTER (WHERE {rate} IS NULL) AS missing_first,
               max(r.date) FILTER (WHERE {rate} IS NULL) AS missing_last
        FROM {rows}
        JOIN (VALUES {period_rows}) AS p(period, first_day, last_day) ON r.date BETWEEN p.first_day AND p.last_day
        {fx_join}
        {condition}
        GROUP BY {dim_columns}r.currency, p.period, no_rate
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def provisional_days(*, organization: Organization, today: date) -> dict[str, date]:
    """The first provisional day per ad channel and sales platform (from each source's restatement window);
    no entry means nothing of that source is provisional."""
    return dict(provisional_since(organization=organization, today=today))


def _collect(
    organization: Organization,
    query: DashboardQuery,
    *,
    ad_dims: tuple[str, ...] = (),
    sales_dims: tuple[str, ...] | None = (),
    ad_key: Callable[[dict], tuple] = lambda row: (),
    sales_key: Callable[[dict], tuple] = lambda row: (),
    today: date | None = None,
) -> tuple[View, dict[tuple, Slice], dict[tuple, Slice]]:
    """Read ad (and, unless ``sales_dims`` is None, sales) rollups for the view's periods, summed and converted
    by the database (``_aggregate``), and fold them into slices keyed by ``ad_key(row)`` / ``sales_key(row)``.
    Queries: the currencies in view and their rates (home-currency mode only), ads, sales, provisional days.
    Returns the view, the current period's slices and the comparison period's slices."""
    home = organization.home_currency
    # rows always say their source (channel / platform): provisional days are the sources' own
    ad_dims = tuple(dict.fromkeys(("channel", *ad_dims)))
    if sales_dims is not None:
        sales_dims = tuple(dict.fromkeys(("platform", *sales_dims)))
    rates = None
    if query.currency == "home":
        seen = _currencies(organization, query, sales=sales_dims is not None)
        rates = {}
        if seen - {home}:
            rates = rates_frame(seen - {home}, min(start for start, _end in _periods(query)), query.end, home)
    common = {"organization": organization, "query": query, "rates": rates}
    ad_rows = _aggregate(AdRollupDaily._meta.db_table, AD_FIELDS, dims=ad_dims, ads=True, **common)
    sales_rows = []
    if sales_dims is not None:
        sales_rows = _aggregate(SalesRollupDaily._meta.db_table, SALES_FIELDS, dims=sales_dims, ads=False, **common)
    current: dict[tuple, Slice] = {}
    previous: dict[tuple, Slice] = {}
    sources: set[str] = set()
    for rows, key, fields in ((ad_rows, ad_key, AD_FIELDS), (sales_rows, sales_key, SALES_FIELDS)):
        for row in rows:
            currency = row["currency"]
            values = {name: row[f"s_{name}"] for name in fields}
            source = row.get("channel") or row.get("platform")
            sources.add(source)
            target = current if row["period"] == 0 else previous
            k = key(row)
            part = target.get(k)
            if part is None:
                part = target[k] = Slice()
            part.sources.add(source)
            if row.get("campaign_name"):
                part.name = row["campaign_name"]
            if rates is None or currency == home:
                part.add(currency, values)
            elif row["no_rate"]:
                part.add(currency, values, unconverted=True)
                days = _days(row["missing_first"], row["missing_last"])
                part.missing.update((currency, day) for day in days if (day, currency) not in rates)
            else:
                part.add(home, values)
                days = _days(row["rated_first"], row["rated_last"])
                part.rated.update((day, currency) for day in days if (day, currency) in rates)
    if query.currency == "home":
        currencies = [home]
    else:
        currencies = sorted({c for parts in (current, previous) for s in parts.values() for c in s.currencies})
    today = today or today_in(organization.time_zone)
    # provisional days of the sources this view's rows came from (every reader groups by channel / platform)
    provisional = provisional_days(organization=organization, today=today)
    provisional = {key: day for key, day in provisional.items() if key in sources}
    view = View(query=query, home=home, currencies=currencies or [home], rates=rates or {}, provisional=provisional)
    return view, current, previous


def _first_provisional(view: View, sources: Iterable[str]) -> date | None:
    days = [view.provisional[s] for s in sources if s in view.provisional and view.provisional[s] <= view.query.end]
    return max(min(days), view.query.start) if days else None


# --- the readers ------------------------------------------------------------------------------------------


@dataclass
class Kpis:
    view: View
    current: Slice
    previous: Slice | None
    changes: dict[str, dict[str, Decimal | None]]  # currency -> metric -> relative change (None: no base)
    profit: dict[str, Decimal | None] = field(default_factory=dict)  # currency -> estimated profit
    previous_profit: dict[str, Decimal | None] = field(default_factory=dict)

    def value(self, metric: str, currency: str, *, previous=False):
        """A KPI's value; profit comes from the Profit page's P&L (costs, fees and taxes are its inputs)."""
        if metric == "profit":
            return (self.previous_profit if previous else self.profit).get(currency)
        part = self.previous if previous else self.current
        return None if part is None else part.value(metric, currency)


def estimated_profit(*, organization: Organization, query: DashboardQuery) -> dict[str, Decimal | None]:
    """Estimated profit per currency of the view, from the P&L the Profit page shows (``products``): None
    while cost of goods, fees or an FX rate it needs are missing, so a profit is never flattered."""
    pnls, _rates = profit_and_loss(organization=organization, query=query)
    return {pnl.currency: (None if pnl.no_rate else METRICS["profit"].of(pnl.totals)) for pnl in pnls}


def overview_kpis(*, organization: Organization, query: DashboardQuery, today: date | None = None) -> Kpis:
    """Every KPI of the overview, now and in the comparison period, and the change of each."""
    view, current, previous = _collect(organization, query, today=today)
    kpis = Kpis(
        view=view,
        current=current.get((), Slice()),
        previous=previous.get((), Slice()) if query.comparison else None,
        changes={},
        profit=estimated_profit(organization=organization, query=query),
    )
    if query.comparison and any(value is not None for value in kpis.profit.values()):
        start, end = query.comparison
        kpis.previous_profit = estimated_profit(organization=organization, query=replace(query, start=start, end=end))
    for currency in view.currencies:
        kpis.changes[currency] = {
            key: metrics.change(kpis.value(key, currency), kpis.value(key, currency, previous=True))
            if query.comparison
            else None
            for key in KPI_METRICS
        }
    return kpis


@dataclass
class TrendDay:
    day: date
    current: Slice
    previous_day: date | None
    previous: Slice | None
    provisional: bool


@dataclass
class Trend:
    view: View
    days: list[TrendDay]


def trend(*, organization: Organization, query: DashboardQuery, today: date | None = None) -> Trend:
    """Daily spend, ad sales and total sales, aligned with the same day of the comparison period."""
    view, current, previous = _collect(
        organization,
        query,
        ad_dims=("date",),
        sales_dims=("date",),
        ad_key=lambda row: row["date"],
        sales_key=lambda row: row["date"],
        today=today,
    )
    provisional_from = view.provisional_from
    comparison = query.comparison
    days = []
    for offset in range(query.days):
        day = query.start + timedelta(days=offset)
        before_day = comparison[0] + timedelta(days=offset) if comparison else None
        before = previous.get(before_day, Slice()) if comparison else None
        days.append(
            TrendDay(
                day=day,
                current=current.get(day, Slice()),
                previous_day=before_day,
                previous=before,
                provisional=provisional_from is not None and day >= provisional_from,
            )
        )
    return Trend(view=view, days=days)


@dataclass
class Table:
    view: View
    rows: list[Row]
    total: Row | None = None


def _rows(view: View, current: dict, previous: dict, label: Callable[[tuple], str]) -> list[Row]:
    rows = []
    for key in sorted(set(current) | set(previous), key=lambda k: tuple(str(part) for part in k)):
        now = current.get(key, Slice())
        rows.append(
            Row(
                key=key,
                label=label(key),
                current=now,
                previous=previous.get(key, Slice()) if view.query.comparison else None,
                provisional_from=_first_provisional(view, now.sources | {k for k in key if isinstance(k, str)}),
            )
        )
    return rows


def _by_first_amount(view: View, metric: str):
    currency = view.currencies[0]
    return lambda row: (-row.current.value(metric, currency), row.label)


def _sum_rows(view: View, rows: list[Row], label: str) -> Row:
    now, before = Slice(), Slice() if view.query.comparison else None
    for row in rows:
        now.merge(row.current)
        if before is not None and row.previous is not None:
            before.merge(row.previous)
    return Row(key=("total",), label=label, current=now, previous=before, provisional_from=view.provisional_from)


def channel_mix(*, organization: Organization, query: DashboardQuery, today: date | None = None) -> Table:
    """Ad figures per channel and publisher (Meta split into Facebook, Instagram, ...), biggest spend first."""
    view, current, previous = _collect(
        organization,
        query,
        ad_dims=("channel", "publisher"),
        sales_dims=None,
        ad_key=lambda row: (row["channel"], row["publisher"]),
        today=today,
    )
    rows = _rows(view, current, previous, lambda key: channel_label(*key))
    rows.sort(key=_by_first_amount(view, "spend"))
    return Table(view=view, rows=rows, total=_sum_rows(view, rows, _("All channels")))


def channels(*, organization: Organization, query: DashboardQuery, today: date | None = None) -> Table:
    """Ad figures per channel, with one child row per publisher where a channel has publishers (Meta)."""
    mix = channel_mix(organization=organization, query=query, today=today)
    view, parents = mix.view, {}
    for row in mix.rows:
        channel, publisher = row.key
        parent = parents.get(channel)
        if parent is None:
            parent = parents[channel] = Row(
                key=(channel,),
                label=channel_label(channel),
                current=Slice(),
                previous=Slice() if view.query.comparison else None,
                provisional_from=row.provisional_from,
            )
        parent.current.merge(row.current)
        if parent.previous is not None and row.previous is not None:
            parent.previous.merge(row.previous)
        if publisher:
            parent.children.append(row)
    rows = sorted(parents.values(), key=_by_first_amount(view, "spend"))
    return Table(view=view, rows=rows, total=mix.total)


def marketplaces(*, organization: Organization, query: DashboardQuery, today: date | None = None) -> Table:
    """Ads and store sales per marketplace (TACoS per marketplace), biggest total sales first."""
    view, current, previous = _collect(
        organization,
        query,
        ad_dims=("marketplace", "channel"),
        sales_dims=("marketplace", "platform"),
        ad_key=lambda row: (row["marketplace"],),
        sales_key=lambda row: (row["marketplace"],),
        today=today,
    )
    rows = _rows(view, current, previous, lambda key: marketplace_label(key[0]))
    for row in rows:  # a marketplace is provisional from the first provisional day of any source in it
        row.provisional_from = _first_provisional(view, row.current.sources)
    currency = view.currencies[0]
    rows.sort(key=lambda row: (-row.current.value("total_sales", currency), -row.current.value("spend", currency)))
    return Table(view=view, rows=rows, total=_sum_rows(view, rows, _("All marketplaces")))


@dataclass
class Mover:
    row: Row
    currency: str
    metric: str  # the metric that moved most: spend or ad_sales
    delta: Decimal  # current - previous, in ``currency``


def top_movers(
    *, organization: Organization, query: DashboardQuery, today: date | None = None, limit: int = MOVERS
) -> tuple[View, list[Mover]]:
    """Campaigns whose spend or ad sales changed most (in absolute terms) against the comparison period.
    In original-currency mode amounts of different currencies are not compared: the largest moves are
    listed per currency. Without a comparison period there is nothing to move: an empty list."""
    view, current, previous = _collect(
        organization,
        query,
        ad_dims=("channel", "account_id", "campaign_id", "campaign_name"),
        sales_dims=None,
        ad_key=lambda row: (row["channel"], row["account_id"], row["campaign_id"]),
        today=today,
    )
    if not query.comparison:
        return view, []
    rows = _rows(view, current, previous, lambda key: key[2])
    movers: dict[str, list[Mover]] = {}
    for row in rows:
        row.label = row.current.name or (row.previous.name if row.previous else "") or row.key[2]
        for currency in view.currencies:
            deltas = [
                (row.current.value(m, currency) - row.previous.value(m, currency), m) for m in ("spend", "ad_sales")
            ]
            delta, metric = max(deltas, key=lambda pair: abs(pair[0]))
            if delta:
                movers.setdefault(currency, []).append(Mover(row=row, currency=currency, metric=metric, delta=delta))
    result = []
    for currency in view.currencies:
        result += sorted(movers.get(currency, []), key=lambda m: (-abs(m.delta), m.row.label))[:limit]
    return view, result


# --- how a figure was converted, in words -----------------------------------------------------------------


def rate_text(rate: Decimal) -> str:
    """A rate to six significant digits, without trailing zeros: 1.1, 0.00671234, 7.82345."""
    return format(Decimal(f"{rate:.6g}").normalize(), "f")


def rate_note(view: View, part: Slice) -> str:
    """What a converted amount's hover says: the rate and its date, or that several were used."""
    if not view.converted:
        return _("Original currency, not converted")
    if not part.rated:
        return _("No conversion: these amounts are in %(home)s") % {"home": view.home}
    days = {day for day, _currency in part.rated}
    if len(days) == 1:
        (day,) = days
        return "; ".join(
            _("1 %(currency)s = %(rate)s %(home)s (FX rate for %(day)s)")
            % {
                "currency": currency,
                "rate": rate_text(view.rates[(day, currency)]),
                "home": view.home,
                "day": day.isoformat(),
            }
            for _day, currency in sorted(part.rated)
        )
    currencies = ", ".join(sorted({currency for _day, currency in part.rated}))
    return _("%(currencies)s converted to %(home)s at each day's FX rate (several rates; see rows)") % {
        "currencies": currencies,
        "home": view.home,
    }


def missing_notes(part: Slice) -> list[str]:
    """One sentence per currency that could not be converted: which days had no rate."""
    notes = []
    by_currency: dict[str, list[date]] = {}
    for currency, day in part.missing:
        by_currency.setdefault(currency, []).append(day)
    for currency, days in sorted(by_currency.items()):
        days.sort()
        if len(days) == 1:
            notes.append(
                _("No FX rate for %(currency)s on %(day)s") % {"currency": currency, "day": date_format(days[0])}
            )
        else:
            notes.append(
                _("No FX rate for %(currency)s on %(count)s days (%(first)s – %(last)s)")
                % {
                    "currency": currency,
                    "count": len(days),
                    "first": date_format(days[0]),
                    "last": date_format(days[-1]),
                }
            )
    return notes


def marketplace_label(code: str) -> str:
    """A marketplace code as people say it: US, DE, eBay GB, lampworks (Shopify)."""
    if not code:
        return _("No marketplace")
    if code.endswith(".myshopify.com"):
        return f"{code.removesuffix('.myshopify.com')} (Shopify)"
    if code.startswith("EBAY_"):
        return f"eBay {code.removeprefix('EBAY_')}"
    return code


def source_label(key: str) -> str:
    return channel_label(key) if key in CHANNELS else platform_label(key)
