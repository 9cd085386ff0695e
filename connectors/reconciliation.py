"""Our totals beside the platform's own, per sync window, with the likely cause of each difference.

Backends keep what the platform itself reported for a run's window in ``SyncRun.platform_totals`` (see
``SyncContext.record_platform_totals``); the shapes differ by platform:

- ad totals (Google ``customer``, Meta ``account``, TikTok ``advertiser``, eBay ``account_performance_report``,
  Shopee and Amazon Ads ``ads``): ``start``, ``end``, ``currency``, ``impressions``, ``clicks``, ``cost``,
  ``sales`` and ``orders`` (Google: ``conversions``, fractional), often ``attribution_window``; eBay adds
  ``day_time_zone``, Amazon Ads ``time_zone`` (its profile's: the report days' boundary). Amazon Ads' are the
  sums of a Sponsored Products campaigns report with ``timeUnit: SUMMARY`` at the daily facts' window;
- order counts (Shopee and TikTok Shop ``orders``): ``start``, ``end``, ``orders``, counted by the time an
  order was last updated (TikTok says so in ``time_field``; Shopee keeps ``time_zone`` and ``by_status``);
- orders counted by the time they were placed (``time_field`` ``PurchaseDate`` or ``created_at``), under
  ``orders`` with ``start``, ``end``, ``orders`` and ``time_zone`` (the days' boundary):
  Amazon Seller Central's are getOrderMetrics' (``time_field`` ``PurchaseDate``) and add ``units``, ``sales``
  (ordered product sales, a decimal string), ``currency`` and ``marketplace``; Shopify's are ``ordersCount``
  over ``created_at`` and add ``precision`` (``EXACT`` or ``AT_LEAST``) and whether cancelled and test orders
  are in the count (``cancelled_included``, ``test_included``).

Ours are the facts of that connection over the same days (``analytics.selectors.freshness``), summed the way
the dashboards sum them. Two queries for the whole panel, whatever the number of runs shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Organization
from analytics.selectors import freshness
from connectors.models import Connection, RunStatus, SyncRun

RUNS_SHOWN = 5

TOTALS_LABELS = {
    "account": gettext_lazy("Account totals"),
    "customer": gettext_lazy("Account totals"),
    "advertiser": gettext_lazy("Advertiser totals"),
    "account_performance_report": gettext_lazy("Account performance report"),
    "ads": gettext_lazy("Ads totals"),
    "orders": gettext_lazy("Order count"),
}
# (key in the platform's totals, key in our ad totals, label, money?)
AD_LINES = (
    ("impressions", "impressions", gettext_lazy("Impressions"), False),
    ("clicks", "clicks", gettext_lazy("Clicks"), False),
    ("cost", "cost", gettext_lazy("Spend"), True),
    ("orders", "orders", gettext_lazy("Orders"), False),
    ("conversions", "orders", gettext_lazy("Conversions"), False),
    ("sales", "sales", gettext_lazy("Ad sales"), True),
)
MONEY_KEYS = {"cost", "sales"}
TRAFFIC_KEYS = ("impressions", "clicks", "cost")
CONVERSION_KEYS = ("orders", "conversions", "sales")
# ``time_field`` values of order totals counted by when the order was placed (not last updated).
PLACED_TIME_FIELDS = frozenset({"PurchaseDate", "created_at"})


@dataclass
class Line:
    label: str
    platform: Decimal | int
    ours: Decimal | int
    money: bool
    currency: str = ""  # money lines: the platform's currency, and ours
    our_currency: str = ""

    @property
    def difference(self) -> Decimal | int | None:
        """Ours minus theirs; None for amounts in two currencies (not comparable without a rate)."""
        if self.money and self.our_currency != self.currency:
            return None
        return self.ours - self.platform

    @property
    def matches(self) -> bool:
        return self.difference == 0

    @property
    def digits(self) -> int:
        """Decimals to show: none for counts, two for fractional ones (Google's conversions)."""
        return 0 if isinstance(self.platform, int) and isinstance(self.ours, int) else 2


@dataclass
class Check:
    """One platform total of one run: its lines and, where they differ, the likely causes."""

    run: SyncRun
    key: str
    label: str
    start: date
    end: date
    currency: str
    lines: list[Line] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return all(line.matches for line in self.lines)


def _number(value) -> Decimal | int:
    if isinstance(value, int):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError):
        return 0


def _day(value, default: date) -> date:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return default


def connection_reconciliation(
    *, organization: Organization, connection: Connection, today: date, limit: int = RUNS_SHOWN
) -> list[Check]:
    """The platform's totals of the latest ``limit`` succeeded runs beside ours, newest run first. ``today`` is
    the connection's own day (its restatement window counts back from it)."""
    runs = list(
        SyncRun.unscoped_objects.filter(
            organization=organization, connection=connection, status=RunStatus.SUCCEEDED
        ).order_by("-created_at")[:limit]
    )
    entries = []
    for run in runs:
        for key, totals in sorted((run.platform_totals or {}).items()):
            if isinstance(totals, dict) and ("cost" in totals or "orders" in totals):
                start = _day(totals.get("start"), run.window_start)
                end = _day(totals.get("end"), run.window_end)
                entries.append((run, key, totals, start, end))
    if not entries:
        return []
    daily = freshness.source_daily_totals(
        organization=organization,
        source_ref=connection.pk,
        start=min(e[3] for e in entries),
        end=max(e[4] for e in entries),
    )
    restating_from = today - timedelta(days=max(connection.lookback_days, 1) - 1)
    checks = []
    for run, key, totals, start, end in entries:
        ours = freshness.sum_window(daily, start, end)
        later = [r for r in runs if r.created_at > run.created_at and r.window_start <= end and r.window_end >= start]
        if "cost" in totals:
            check = _ads_check(run, key, totals, start, end, ours["ads"], connection)
        else:
            check = _orders_check(run, key, totals, start, end, ours["orders"], connection)
        if not check.matches:
            if end >= restating_from:
                check.hints.append(
                    _(
                        "Late restatement: days from %(day)s are inside the %(days)s-day restatement window, "
                        "so the platform may still change them."
                    )
                    % {
                        "day": date_format(max(start, restating_from), "SHORT_DATE_FORMAT"),
                        "days": connection.lookback_days,
                    }
                )
            if later:
                check.hints.append(
                    _(
                        "Late restatement: a later sync re-read some of these days, so ours hold the platform's "
                        "corrections made after these totals were taken."
                    )
                )
            if not check.hints:
                check.hints.append(_("No known cause: open the rows behind these totals to compare day by day."))
        checks.append(check)
    return checks


def _currency_hint(check: Check, currencies: list[str]) -> None:
    if currencies and currencies != [check.currency]:
        check.hints.append(
            _("Currency: the platform totals are in %(theirs)s, our rows are in %(ours)s.")
            % {"theirs": check.currency, "ours": ", ".join(currencies)}
        )


def _ads_check(run, key, totals, start, end, ours, connection) -> Check:
    currency = str(totals.get("currency") or connection.currency)
    our_currency = ours["currencies"][0] if len(ours["currencies"]) == 1 else currency
    check = Check(run=run, key=key, label=str(TOTALS_LABELS.get(key, key)), start=start, end=end, currency=currency)
    by_key: dict[str, Line] = {}
    for platform_key, our_key, label, money in AD_LINES:
        if platform_key in totals:
            platform = _number(totals[platform_key])
            if platform_key not in MONEY_KEYS and isinstance(platform, Decimal) and platform == int(platform):
                platform = int(platform)
            line = Line(label=str(label), platform=platform, ours=ours[our_key], money=money)
            if money:
                line.currency, line.our_currency = currency, our_currency
            check.lines.append(line)
            by_key[platform_key] = line
    if check.matches:
        return check
    _currency_hint(check, ours["currencies"])
    zone = totals.get("day_time_zone") or totals.get("time_zone")
    if zone and zone != connection.time_zone:
        check.hints.append(
            _("Time zone: the platform's days end at midnight %(theirs)s, the account's days at midnight %(ours)s.")
            % {"theirs": zone, "ours": connection.time_zone}
        )
    window = totals.get("attribution_window")
    if window and ours["attribution_windows"] and ours["attribution_windows"] != [window]:
        check.hints.append(
            _("Attribution window: the platform totals use %(theirs)s, our rows %(ours)s.")
            % {"theirs": window, "ours": ", ".join(ours["attribution_windows"])}
        )
    conversions = _number(totals.get("conversions", 0))
    if isinstance(conversions, Decimal) and conversions != conversions.to_integral_value():
        check.hints.append(
            _("Attribution: the platform counts fractional conversions (%(count)s); we keep whole orders per day.")
            % {"count": conversions}
        )
    traffic = [by_key[k] for k in TRAFFIC_KEYS if k in by_key]
    traffic_matches = bool(traffic) and all(line.matches for line in traffic)
    conversions_differ = any(not by_key[k].matches for k in CONVERSION_KEYS if k in by_key)
    if window and traffic_matches and conversions_differ and not check.hints:
        check.hints.append(
            _(
                "Late conversions: impressions, clicks and spend match and only conversions differ; the "
                "platform credits an order to the day of the ad click and keeps adding late ones within its "
                "%(window)s attribution window."
            )
            % {"window": window}
        )
    return check


def _orders_check(run, key, totals, start, end, ours, connection) -> Check:
    currency = str(totals.get("currency") or connection.currency)
    check = Check(run=run, key=key, label=str(TOTALS_LABELS.get(key, key)), start=start, end=end, currency=currency)
    orders = Line(label=_("Orders"), platform=_number(totals.get("orders", 0)), ours=ours["orders"], money=False)
    check.lines.append(orders)
    sales = None
    if "sales" in totals:
        our_currency = ours["currencies"][0] if len(ours["currencies"]) == 1 else currency
        sales = Line(
            label=_("Sales"),
            platform=_number(totals["sales"]),
            ours=ours["total"],
            money=True,
            currency=currency,
            our_currency=our_currency,
        )
        check.lines.append(sales)
    if check.matches:
        return check
    zone = totals.get("time_zone") or connection.time_zone
    if totals.get("time_field") in PLACED_TIME_FIELDS:
        if sales is not None:
            _currency_hint(check, ours["currencies"])
        _placed_hints(check, totals, orders, sales, zone)
    else:
        check.hints.append(
            _(
                "Time basis: the platform counts orders updated in these days (in %(zone)s), we count orders placed "
                "in them; an older order that changed is in theirs, not ours."
            )
            % {"zone": zone}
        )
    if ours["refunded"]:
        check.hints.append(
            _(
                "Refunds: our orders of these days include %(amount)s %(currency)s refunded; the platform may count "
                "refunded or cancelled orders differently."
            )
            % {
                "amount": ours["refunded"].quantize(Decimal("0.01")),
                "currency": ", ".join(ours["currencies"]) or connection.currency,
            }
        )
    return check


def _placed_hints(check: Check, totals: dict, orders: Line, sales: Line | None, zone: str) -> None:
    """Causes for order totals counted by when each order was placed: the same days on both sides, so what
    differs is which orders each side holds, and what the platform counts in them."""
    extra = int(orders.difference or 0)
    if extra > 0:
        check.hints.append(
            ngettext(
                "Time basis: we hold %(count)s more order placed in these days (in %(zone)s) than the platform "
                "counts now; an order deleted on the platform, or one it no longer counts, stays in ours.",
                "Time basis: we hold %(count)s more orders placed in these days (in %(zone)s) than the platform "
                "counts now; an order deleted on the platform, or one it no longer counts, stays in ours.",
                extra,
            )
            % {"count": extra, "zone": zone}
        )
    elif extra < 0:
        check.hints.append(
            ngettext(
                "Time basis: the platform counts %(count)s more order placed in these days (in %(zone)s) than we "
                "hold; an order placed while the sync ran is read by the next sync.",
                "Time basis: the platform counts %(count)s more orders placed in these days (in %(zone)s) than we "
                "hold; an order placed while the sync ran is read by the next sync.",
                -extra,
            )
            % {"count": -extra, "zone": zone}
        )
    if totals.get("time_field") == "PurchaseDate":
        check.hints.append(
            _(
                "Order status: Amazon's order metrics count pending orders at their price and may leave cancelled "
                "ones out; we keep every order we read, cancelled ones included, and a pending order has no amount "
                "until Amazon prices it."
            )
        )
        if sales is not None and not sales.matches:
            check.hints.append(
                _(
                    "Sales basis: Amazon's sales are ordered product sales (item prices); ours are order totals, "
                    "which can also include shipping, gift wrap and tax."
                )
            )
    cancelled, test = totals.get("cancelled_included"), totals.get("test_included")
    if cancelled is True and test is True:
        check.hints.append(
            _(
                "Cancelled and test orders are in both counts, so they are not the cause (the platform's own sales "
                "reports may leave them out)."
            )
        )
    if cancelled is False:
        check.hints.append(_("Cancelled orders: the platform's count leaves them out; ours keep them."))
    if test is False:
        check.hints.append(_("Test orders: the platform's count leaves them out; ours keep them."))
    if totals.get("precision") not in (None, "EXACT"):
        check.hints.append(
            _("Count capped: the platform stopped counting at %(count)s orders; the real number is at least that.")
            % {"count": orders.platform}
        )
