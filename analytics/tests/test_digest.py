"""The weekly digest: hand-computed numbers, once per week, in each member's language, due on Monday morning
in the organization's own time zone."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
from analytics import digest
from analytics.metrics import Totals
from analytics.models import DigestSent
from analytics.tasks import send_weekly_digests
from analytics.tests.factories import AdRollupFactory, DataSourceFactory, FxRateFactory, SalesRollupFactory
from analytics.tests.test_alerts import make_alert

pytestmark = pytest.mark.django_db

WEEK = date(2026, 11, 9)  # a Monday: the week 9-15 Nov against 2-8 Nov


def ads(org, day, campaign, cost, sales, currency="USD", orders=0):
    AdRollupFactory(
        organization=org,
        date=day,
        campaign_id=campaign,
        currency=currency,
        cost=Decimal(cost),
        sales=Decimal(sales),
        orders=orders,
        impressions=0,
        clicks=0,
        units=orders,
    )


def store(org, day, total, orders, platform="amazon_sp"):
    SalesRollupFactory(
        organization=org, date=day, platform=platform, total_sales=Decimal(total), orders=orders, units=orders
    )


@pytest.fixture
def weeks(org):
    """This week: C1 100/400, C2 50/100, C3 10 EUR (11 USD at 1.10)/0, C4 5/20, and 10,000 JPY with no rate;
    store sales 1000 (40 orders) + 660 (20 orders). The week before: C1 80/400; store sales 2000 (50 orders).
    Outside both weeks: a row on 16 Nov."""
    FxRateFactory(date=date(2026, 11, 11), quote="USD", rate=Decimal("1.10"))
    ads(org, date(2026, 11, 9), "C1", 100, 400, orders=10)
    ads(org, date(2026, 11, 10), "C2", 50, 100, orders=2)
    ads(org, date(2026, 11, 11), "C3", 10, 0, currency="EUR")
    ads(org, date(2026, 11, 12), "C4", 5, 20, orders=1)
    ads(org, date(2026, 11, 12), "C5", 10000, 0, currency="JPY")
    store(org, date(2026, 11, 9), 1000, 40)
    store(org, date(2026, 11, 13), 660, 20, platform="shopify")
    ads(org, date(2026, 11, 3), "C1", 80, 400, orders=8)
    store(org, date(2026, 11, 4), 2000, 50)
    ads(org, date(2026, 11, 16), "C1", 999, 999)
    make_alert(org, 0)
    make_alert(org, 1)
    make_alert(org, 2, status="dismissed")
    return org


def content(org, week=WEEK):
    with organization_scope(org):
        return digest.digest_content(organization=org, week_start=week)


def test_digest_numbers(weeks):
    result = content(weeks)

    assert (result.week_start, result.week_end, result.previous_start, result.previous_end) == (
        date(2026, 11, 9),
        date(2026, 11, 15),
        date(2026, 11, 2),
        date(2026, 11, 8),
    )
    assert result.current == Totals(
        spend=Decimal("166.0000"),
        ad_sales=Decimal("520.0000"),
        ad_orders=13,
        ad_units=13,
        total_sales=Decimal("1660.0000"),
        total_orders=60,
        total_units=60,
    )
    assert result.previous == Totals(
        spend=Decimal("80.0000"),
        ad_sales=Decimal("400.0000"),
        ad_orders=8,
        ad_units=8,
        total_sales=Decimal("2000.0000"),
        total_orders=50,
        total_units=50,
    )
    # ROAS 520/166 = 3.13x, ACoS 166/520 = 31.9 %, TACoS 166/1660 = 10 %; before 5x, 20 %, 4 %.
    assert [(f.key, f.current, f.previous, f.change_text, f.good) for f in result.figures] == [
        ("spend", "166.00 USD", "80.00 USD", "+107.5%", False),
        ("ad_sales", "520.00 USD", "400.00 USD", "+30.0%", True),
        ("total_sales", "1,660.00 USD", "2,000.00 USD", "-17.0%", False),
        ("roas", "3.13x", "5.00x", "-37.3%", False),
        ("acos", "31.9%", "20.0%", "+59.6%", False),
        ("tacos", "10.0%", "4.0%", "+150.0%", False),
        ("orders", "60", "50", "+20.0%", True),
    ]
    assert [(c.label, c.spend, c.roas) for c in result.top_campaigns] == [
        ("Amazon Ads · Campaign C1", "100.00 USD", "4.00x"),
        ("Amazon Ads · Campaign C2", "50.00 USD", "2.00x"),
        ("Amazon Ads · Campaign C3", "11.00 USD", "0.00x"),
    ]
    assert result.open_alerts == 2
    assert result.missing_rates == ["JPY"]


def test_a_ratio_without_a_base_is_a_dash(org):
    ads(org, date(2026, 11, 9), "C1", 100, 0)

    figures = {f.key: f for f in content(org).figures}

    assert (figures["roas"].current, figures["acos"].current, figures["tacos"].current) == ("0.00x", "-", "-")
    assert (figures["spend"].previous, figures["spend"].change_text, figures["spend"].good) == ("0.00 USD", "-", None)


def test_the_digest_is_sent_once_per_week_in_each_members_language(weeks, owner):
    viewer = member(weeks, Role.VIEWER, language="zh-hans")

    with organization_scope(weeks):
        sent = digest.digest_send(organization=weeks, week_start=WEEK)
        again = digest.digest_send(organization=weeks, week_start=WEEK)

    assert again is None
    assert sent.recipients == 2
    assert DigestSent.unscoped_objects.filter(organization=weeks).count() == 1
    assert len(mail.outbox) == 2
    english = next(m for m in mail.outbox if m.to == [owner.email])
    chinese = next(m for m in mail.outbox if m.to == [viewer.email])
    assert english.subject == f"Chuhai · {weeks.name}: weekly digest, week of 9 Nov 2026"
    assert chinese.subject.startswith(f"出海 · {weeks.name}: ")
    assert "2026年11月9日" in chinese.subject
    assert "Ad spend: 166.00 USD (before 80.00 USD, +107.5%)" in english.body
    assert "1. Amazon Ads · Campaign C1: 100.00 USD (ROAS 4.00x)" in english.body
    assert "2 open alerts" in english.body
    assert "Not included: amounts in JPY on days without an exchange rate." in english.body
    html, mimetype = english.alternatives[0]
    assert mimetype == "text/html" and "<strong>1,660.00 USD</strong>" in html and "+107.5%" in html


def test_a_week_without_data_is_claimed_and_sends_nothing(org, owner):
    with organization_scope(org):
        sent = digest.digest_send(organization=org, week_start=WEEK)

    assert sent.recipients == 0
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("now", "zone", "week"),
    [
        (datetime(2026, 11, 16, 7, 0, tzinfo=UTC), "Asia/Shanghai", date(2026, 11, 9)),  # Mon 15:00 local
        (datetime(2026, 11, 15, 23, 59, tzinfo=UTC), "Asia/Shanghai", date(2026, 11, 2)),  # Mon 07:59 local
        (datetime(2026, 11, 16, 0, 0, tzinfo=UTC), "Asia/Shanghai", date(2026, 11, 9)),  # Mon 08:00 local
        (datetime(2026, 11, 16, 7, 0, tzinfo=UTC), "America/Los_Angeles", date(2026, 11, 2)),  # Sun 23:00 local
        (datetime(2026, 11, 16, 16, 0, tzinfo=UTC), "America/Los_Angeles", date(2026, 11, 9)),  # Mon 08:00 local
        (datetime(2026, 11, 19, 12, 0, tzinfo=UTC), "UTC", date(2026, 11, 9)),  # Thursday: still that week
    ],
)
def test_due_week_is_monday_morning_in_the_organizations_time_zone(now, zone, week):
    assert digest.due_week(now, zone) == week


def test_the_hourly_fan_out_sends_each_due_digest_once(weeks, owner):
    quiet = OrganizationFactory(time_zone="Asia/Shanghai")  # no data source: no digest
    member(quiet, Role.OWNER)
    DataSourceFactory(organization=weeks)
    due = digest.due_week(timezone.now(), weeks.time_zone)
    ads(weeks, due, "C9", 42, 84)

    assert send_weekly_digests() == 1
    assert send_weekly_digests() == 0

    assert list(DigestSent.unscoped_objects.values_list("organization_id", "week_start")) == [(weeks.pk, due)]
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert timedelta(0) <= timezone.now().date() - due <= timedelta(days=14)
