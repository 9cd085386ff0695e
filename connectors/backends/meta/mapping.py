"""Meta rows -> our unified model: ad accounts to ``DiscoveredAccount``, campaigns and ad sets to entity rows,
ad-level insights rows to ``AdFact``.

Units. Insights numbers and money are strings (``"24301"``, ``"207.85"``) in the ad account's currency
(``account_currency``) and become ``int`` and ``Decimal``; budgets and bids on campaigns and ad sets are
strings in the currency's minor units ("offset" 100, or 1 for currencies without decimals such as JPY).
Days are the ad account's own days (``date_start`` in its ``timezone_name``).

Purchases. Meta reports one purchase under several action types that alias each other (``omni_purchase``,
``offsite_conversion.fb_pixel_purchase``, ``purchase``, ``onsite_web_purchase``, ...) with the same value,
so they are never summed: per row we take ONE type, the first present of ``PURCHASE_TYPES``, for orders
(its ``actions`` value) and sales (the ``action_values`` value of that same type). Windows are asked for
explicitly (7-day click, 1-day view) and recorded as ``ATTRIBUTION_WINDOW``. Meta reports no units: 0.

Grain and where the breakdowns go. Insights are read at ``level=ad`` with ``breakdowns=publisher_platform,
country``: one row per ad, day, publisher platform and country. We store each at the ``target`` grain, as the
Meta Ads Manager file importer stores ad-level exports (``connectors/imports/meta_ads.py``): analytics has no
"ad" grain, Meta has no keywords, and an ad is what a target is elsewhere - the finest thing bought under an
ad group (the ad set). The fact table's natural key has neither ``marketplace`` nor ``match_type``, so the
two breakdowns must also go into a key column:

- ``target_id`` / ``target_text``: the ad's id and name;
- ``match_type``: the publisher platform (``facebook``, ``instagram``, ``audience_network``, ``messenger``),
  so Facebook and Instagram split with a plain ``GROUP BY match_type``;
- ``marketplace``: the country (``US``, ``SG``; ``""`` when Meta says ``unknown``);
- ``search_term``: the segment ``"<publisher_platform>:<country>"`` (``instagram:SG``), the key part that keeps
  the rows of one ad apart. Meta has no search terms, so the column is free here, and ``product_id`` stays
  free for a real product id (Meta's catalogue breakdown) later.

Beside them, each run stores ``campaign`` grain rows (campaign x day x segment, the same four columns, summed
from the ad rows of the same pull), so that readers of the campaign grain, as for Amazon, see Meta too.
Sum within one grain: the two grains hold the same money twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from analytics.services import AdFact
from connectors.backends.base import DiscoveredAccount
from connectors.errors import PlatformError

CHANNEL = "meta"
ATTRIBUTION_WINDOW = "7d_click+1d_view"
PURCHASE_TYPES = ("omni_purchase", "offsite_conversion.fb_pixel_purchase", "purchase")
ACTIVE = 1  # AdAccount.account_status: 1 ACTIVE, 2 DISABLED, 3 UNSETTLED, 7 PENDING_RISK_REVIEW, 101 CLOSED, ...
# Currencies Meta keeps without minor units (their "offset" is 1) [U: Meta's currency table, not re-read].
NO_MINOR_UNITS = frozenset({"CLP", "COP", "CRC", "HUF", "IDR", "ISK", "JPY", "KRW", "PYG", "TWD", "VND"})
ZERO = Decimal(0)


def discovered_account(item: dict) -> DiscoveredAccount:
    account_id = str(item.get("account_id") or str(item["id"]).removeprefix("act_"))
    return DiscoveredAccount(
        external_id=f"act_{account_id}",
        name=item.get("name") or f"act_{account_id}",
        currency=item.get("currency", ""),
        time_zone=item.get("timezone_name") or "UTC",
        config={"account_id": account_id},
    )


def is_active(item: dict) -> bool:
    return int(item.get("account_status") or 0) == ACTIVE


# --- entities ---------------------------------------------------------------------------------------------


def minor_to_decimal(value, currency: str) -> Decimal | None:
    """A Meta budget or bid (minor units, a string) in currency units: ``"6000"`` USD -> ``Decimal("60")``."""
    if value in (None, ""):
        return None
    amount = Decimal(str(value))
    return amount if currency.upper() in NO_MINOR_UNITS else amount.scaleb(-2)


def _budget(item: dict, currency: str) -> tuple[Decimal | None, str]:
    if item.get("daily_budget") not in (None, "", "0"):
        return minor_to_decimal(item["daily_budget"], currency), "DAILY"
    if item.get("lifetime_budget") not in (None, "", "0"):
        return minor_to_decimal(item["lifetime_budget"], currency), "LIFETIME"
    return None, ""


def campaign_row(item: dict, currency: str) -> dict:
    budget, budget_type = _budget(item, currency)  # a campaign budget (CBO); "" when the ad sets hold them
    return {
        "external_id": str(item["id"]),
        "name": item.get("name", ""),
        "state": item.get("status", ""),
        "targeting_type": "",
        "budget": budget,
        "budget_type": budget_type,
        "portfolio": "",
    }


def ad_group_row(item: dict, currency: str) -> dict:
    return {
        "campaign_external_id": str(item["campaign_id"]),
        "external_id": str(item["id"]),
        "name": item.get("name", ""),
        "state": item.get("status", ""),
        "default_bid": minor_to_decimal(item.get("bid_amount"), currency),
    }


# --- insights -----------------------------------------------------------------------------------------------


def _stat(items, action_type: str) -> str | None:
    """The value of ``action_type`` in an ``actions``/``action_values`` list: ``value`` (the requested windows
    together), or the sum of the window keys if Meta left ``value`` out."""
    for item in items or ():
        if item.get("action_type") == action_type:
            if item.get("value") is not None:
                return str(item["value"])
            windows = [Decimal(str(item[w])) for w in ("7d_click", "1d_view") if item.get(w) is not None]
            return str(sum(windows)) if windows else None
    return None


def purchase_type(row: dict) -> str | None:
    """The one purchase action type this row's orders and sales are read from (see the module docstring)."""
    for source in ("actions", "action_values"):
        present = {item.get("action_type") for item in row.get(source) or ()}
        for action_type in PURCHASE_TYPES:
            if action_type in present:
                return action_type
    return None


def purchases(row: dict) -> tuple[int, Decimal, str]:
    """(orders, sales, action type used) of an insights row, each purchase counted once."""
    action_type = purchase_type(row)
    if action_type is None:
        return 0, ZERO, ""
    orders = _stat(row.get("actions"), action_type)
    sales = _stat(row.get("action_values"), action_type)
    count = int(Decimal(orders).to_integral_value(ROUND_HALF_UP)) if orders is not None else 0
    return count, Decimal(sales) if sales is not None else ZERO, action_type


def _count(value) -> int:
    return int(value) if value not in (None, "") else 0


def _money(value) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def segment(platform: str, country: str) -> str:
    return f"{platform}:{country}"


def marketplace_of(country: str) -> str:
    country = (country or "").strip()
    return "" if not country or country.lower() == "unknown" else country.upper()


def _day(row: dict) -> date:
    start = row["date_start"]
    if row.get("date_stop", start) != start:
        raise PlatformError(
            _("Meta sent a row covering several days where we asked for one per day."),
            detail=f"{start}..{row.get('date_stop')}",
        )
    return date.fromisoformat(start)


def ad_fact(row: dict, *, account_id: str, currency: str, source_ref: int) -> AdFact:
    """One ``level=ad``, ``time_increment=1``, ``breakdowns=publisher_platform,country`` row -> a target-grain
    fact (see the module docstring for where each breakdown goes)."""
    platform = row.get("publisher_platform") or ""
    country = row.get("country") or ""
    orders, sales, _type = purchases(row)
    return AdFact(
        channel=CHANNEL,
        account_id=account_id,
        marketplace=marketplace_of(country),
        date=_day(row),
        grain="target",
        campaign_id=str(row.get("campaign_id") or ""),
        campaign_name=row.get("campaign_name") or "",
        ad_group_id=str(row.get("adset_id") or ""),
        ad_group_name=row.get("adset_name") or "",
        target_id=str(row.get("ad_id") or ""),
        target_text=row.get("ad_name") or "",
        match_type=platform,
        search_term=segment(platform, country or "unknown"),
        product_id="",
        impressions=_count(row.get("impressions")),
        clicks=_count(row.get("clicks")),
        cost=_money(row.get("spend")),
        orders=orders,
        units=0,
        sales=sales,
        currency=row.get("account_currency") or currency,
        attribution_window=ATTRIBUTION_WINDOW,
        source="api",
        source_ref=source_ref,
    )


def ad_facts_with_campaigns(
    rows: Iterable[dict], *, account_id: str, currency: str, source_ref: int
) -> Iterator[AdFact]:
    """The target-grain fact of every row as it arrives, then the campaign-grain facts summed from them
    (campaign x day x segment): both grains of one pull, in one load."""
    campaigns: dict[tuple, list] = {}
    for row in rows:
        fact = ad_fact(row, account_id=account_id, currency=currency, source_ref=source_ref)
        yield fact
        key = (fact.date, fact.campaign_id, fact.search_term)
        sums = campaigns.get(key)
        if sums is None:
            campaigns[key] = [fact, fact.impressions, fact.clicks, fact.cost, fact.orders, fact.sales]
        else:
            sums[1] += fact.impressions
            sums[2] += fact.clicks
            sums[3] += fact.cost
            sums[4] += fact.orders
            sums[5] += fact.sales
    for first, impressions, clicks, cost, orders, sales in campaigns.values():
        yield AdFact(
            channel=CHANNEL,
            account_id=account_id,
            marketplace=first.marketplace,
            date=first.date,
            grain="campaign",
            campaign_id=first.campaign_id,
            campaign_name=first.campaign_name,
            ad_group_id="",
            ad_group_name="",
            target_id="",
            target_text="",
            match_type=first.match_type,
            search_term=first.search_term,
            product_id="",
            impressions=impressions,
            clicks=clicks,
            cost=cost,
            orders=orders,
            units=0,
            sales=sales,
            currency=first.currency,
            attribution_window=ATTRIBUTION_WINDOW,
            source="api",
            source_ref=source_ref,
        )


def account_totals(row: dict | None, *, start: date, end: date, currency: str) -> dict:
    """Meta's own totals for the window (one ``level=account`` row without breakdowns or days) as the plain
    JSON ``SyncContext.record_platform_totals`` keeps."""
    row = row or {}
    orders, sales, action_type = purchases(row)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": row.get("account_currency") or currency,
        "impressions": _count(row.get("impressions")),
        "clicks": _count(row.get("clicks")),
        "cost": str(_money(row.get("spend"))),
        "orders": orders,
        "sales": str(sales),
        "purchase_action_type": action_type,
        "attribution_window": ATTRIBUTION_WINDOW,
    }
