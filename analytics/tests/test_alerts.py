"""Anomaly alerts: the robust z-score on hand-built series, what is not scored (short history, no spread,
provisional conversions, days not synced yet), the upsert, the email, the page and its permissions."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role
from accounts.scoping import organization_scope
from accounts.tests.factories import OrganizationFactory, member
from analytics import alerts
from analytics.models import Alert
from analytics.query import today_in
from analytics.selectors.alerts import PAGE_SIZE
from analytics.tasks import detect_alerts_all
from analytics.tests.factories import AdRollupFactory, DataSourceFactory, FxRateFactory, SalesRollupFactory
from config.schedules import SCHEDULES

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)
YESTERDAY = TODAY - timedelta(days=1)
# A weekly rhythm around 50: any 28 days of it have median 50 and MAD 2 (deviations 0 x12, 2 x8, 4 x8).
CYCLE = [46, 48, 50, 52, 54, 50, 50]
SPIKE_SCORE = Decimal("10.117")  # (80 - 50) / (1.4826 * 2) = 10.1173...


def cycle(day: date) -> int:
    return CYCLE[day.toordinal() % 7]


def spend_series(org, *, days=60, end=YESTERDAY, overrides=None, campaign="C1", channel="amazon_ads", **kwargs):
    """One row a day for ``days`` days up to ``end``: spend on the weekly cycle (or ``overrides``), ad sales
    100, so ACoS is spend / 100."""
    overrides = overrides or {}
    for n in range(days):
        day = end - timedelta(days=n)
        AdRollupFactory(
            organization=org,
            date=day,
            channel=channel,
            campaign_id=campaign,
            cost=Decimal(overrides.get(day, cycle(day))),
            sales=Decimal(100),
            **kwargs,
        )


def detect(org, today=TODAY):
    with organization_scope(org):
        return alerts.alerts_detect(organization=org, today=today)


def found(result):
    return sorted(
        (a.metric, a.date, a.channel, a.campaign_id, a.value, a.expected, a.score, a.direction, a.currency)
        for a in result
    )


# --- detection ------------------------------------------------------------------------------------------


def test_a_spend_spike_yesterday_is_flagged_with_its_median_and_robust_score(org):
    spend_series(org, overrides={YESTERDAY: 80})

    result = detect(org)

    # Spend is scored up to yesterday; ACoS (0.80 vs 0.50) is provisional for Amazon (14 days) and is not.
    assert found(result) == [
        ("spend", YESTERDAY, "amazon_ads", "C1", Decimal("80.0000"), Decimal("50.0000"), SPIKE_SCORE, "up", "USD")
    ]
    assert result[0].campaign_name == "Campaign C1"
    assert result[0].status == Alert.Status.OPEN


def test_a_drop_is_flagged_down(org):
    spend_series(org, overrides={YESTERDAY: 20})

    (alert,) = detect(org)

    assert (alert.value, alert.expected, alert.score, alert.direction) == (
        Decimal("20.0000"),
        Decimal("50.0000"),
        -SPIKE_SCORE,
        "down",
    )


def test_no_alert_without_enough_history(org):
    # 13 days before yesterday: one short of MIN_HISTORY.
    spend_series(org, days=14, overrides={YESTERDAY: 200})

    assert detect(org) == []


def test_enough_history_is_fourteen_days_with_data(org):
    spend_series(org, days=15, overrides={YESTERDAY: 200})

    assert [a.metric for a in detect(org)] == ["spend"]


def test_small_amounts_and_small_changes_are_not_flagged(org):
    other = OrganizationFactory()
    # Spend around 0.50 a day jumping to 0.80: a big score, but under the 20 USD floor.
    for n in range(60):
        day = YESTERDAY - timedelta(days=n)
        cost = Decimal("0.80") if day == YESTERDAY else Decimal(cycle(day)) / 100
        AdRollupFactory(organization=org, date=day, cost=cost, sales=Decimal(100))
    # Spend of exactly 1000 most days, 1004 on some: MAD 0, so the mean absolute deviation scales it;
    # yesterday's 1100 scores high but is only 10 % above normal (under MIN_CHANGE).
    for n in range(60):
        day = YESTERDAY - timedelta(days=n)
        cost = 1100 if day == YESTERDAY else (1004 if n % 10 == 0 else 1000)
        AdRollupFactory(organization=other, date=day, cost=Decimal(cost), sales=Decimal(100))

    assert detect(org) == []
    assert detect(other) == []


def test_mad_zero_falls_back_to_the_mean_absolute_deviation(org):
    # 28 days of 50 except one 40: median 50, MAD 0, mean absolute deviation 10/28.
    window = [YESTERDAY - timedelta(days=n) for n in range(1, 29)]
    overrides = dict.fromkeys(window, 50) | {window[5]: 40, YESTERDAY: 80}
    spend_series(org, days=29, overrides=overrides)

    result = detect(org)

    # (80 - 50) / (1.253314 * 10 / 28) = 67.0223...
    assert found(result) == [
        ("spend", YESTERDAY, "amazon_ads", "C1", Decimal("80.0000"), Decimal("50.0000"), Decimal("67.022"), "up", "USD")
    ]


def test_a_window_without_any_variation_is_not_scored(org):
    days = [YESTERDAY - timedelta(days=n) for n in range(40)]
    spend_series(org, days=40, overrides=dict.fromkeys(days, 50) | {YESTERDAY: 80})

    assert detect(org) == []


def test_acos_is_scored_only_before_the_channels_provisional_days(org):
    # Amazon's default restatement window: 14 days, so the first provisional day is today - 13 (7 Nov) and
    # 6 Nov is the last day conversions are final. A spike in spend on 6 Nov is an ACoS spike too (0.80).
    final_day = TODAY - timedelta(days=14)
    spend_series(org, overrides={final_day: 80, YESTERDAY: 80})

    result = detect(org)

    assert found(result) == [
        ("acos", final_day, "amazon_ads", "C1", Decimal("0.8000"), Decimal("0.5000"), SPIKE_SCORE, "up", ""),
        ("spend", YESTERDAY, "amazon_ads", "C1", Decimal("80.0000"), Decimal("50.0000"), SPIKE_SCORE, "up", "USD"),
    ]


def test_the_connections_restatement_window_sets_the_provisional_days(org):
    # A 5-day window: today and the four days before are provisional, so ACoS is scored up to 15 Nov.
    DataSourceFactory(organization=org, channel="amazon_ads", restatement_days=5)
    day = TODAY - timedelta(days=5)
    spend_series(org, overrides={day: 80})

    assert found(detect(org)) == [
        ("acos", day, "amazon_ads", "C1", Decimal("0.8000"), Decimal("0.5000"), SPIKE_SCORE, "up", "")
    ]


def test_days_after_the_last_synced_day_are_not_scored(org):
    DataSourceFactory(organization=org, channel="amazon_ads", data_through=YESTERDAY - timedelta(days=1))
    spend_series(org, overrides={YESTERDAY: 5})  # a half-loaded day

    assert detect(org) == []


def test_channel_and_campaign_series_in_the_home_currency(org):
    org.home_currency = "CNY"
    org.save()
    for n in range(0, 70, 5):  # ECB-style rows every 5 days; each day uses the newest within 7 days
        day = YESTERDAY - timedelta(days=n)
        FxRateFactory(date=day, quote="USD", rate=Decimal("1"))
        FxRateFactory(date=day, quote="CNY", rate=Decimal("7"))
    spend_series(org, overrides={YESTERDAY: 80}, campaign="C1")
    spend_series(org, campaign="C2")

    result = detect(org)

    # C1 in CNY: 560 vs 350. The channel (C1 + C2, and C2 spent 54 yesterday): 938 vs 700, its MAD
    # 2 x 2 x 7 = 28, so (938 - 700) / (1.4826 x 28) = 5.7331...
    assert found(result) == [
        ("spend", YESTERDAY, "amazon_ads", "", Decimal("938.0000"), Decimal("700.0000"), Decimal("5.733"), "up", "CNY"),
        ("spend", YESTERDAY, "amazon_ads", "C1", Decimal("560.0000"), Decimal("350.0000"), SPIKE_SCORE, "up", "CNY"),
    ]


def test_days_without_an_fx_rate_are_neither_scored_nor_guessed(org):
    org.home_currency = "CNY"
    org.save()
    spend_series(org, overrides={YESTERDAY: 80})  # USD, and no rates at all

    assert detect(org) == []


def test_total_sales_per_platform(org):
    for n in range(60):
        day = YESTERDAY - timedelta(days=n)
        total = 800 if day == YESTERDAY else cycle(day) * 10
        SalesRollupFactory(
            organization=org, date=day, platform="shopify", marketplace="x.myshopify.com", total_sales=Decimal(total)
        )

    assert found(detect(org)) == [
        ("total_sales", YESTERDAY, "shopify", "", Decimal("800.0000"), Decimal("500.0000"), SPIKE_SCORE, "up", "USD")
    ]


def test_rerunning_updates_in_place_and_a_dismissed_alert_stays_dismissed(org, owner):
    spend_series(org, overrides={YESTERDAY: 80})
    (first,) = detect(org)
    with organization_scope(org):
        alerts.alert_dismiss(organization=org, alert=first, actor=owner)

    (again,) = detect(org)
    (tomorrow,) = detect(org, today=TODAY + timedelta(days=1))  # yesterday is still in the catch-up days

    assert again.pk == first.pk == tomorrow.pk
    assert again.status == Alert.Status.DISMISSED
    assert Alert.unscoped_objects.filter(organization=org).count() == 1
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="alert.dismiss").count() == 1


# --- email ----------------------------------------------------------------------------------------------


def test_new_alerts_are_emailed_once_to_the_roles_that_can_act(org, owner, settings):
    settings.SITE_URL = "https://app.chuhai.test"
    marketer = member(org, Role.MARKETER, language="zh-hans")
    member(org, Role.VIEWER)
    member(org, Role.ANALYST)
    spend_series(org, overrides={YESTERDAY: 80})
    detect(org)

    with organization_scope(org):
        assert alerts.alerts_notify(organization=org) == 1
        assert alerts.alerts_notify(organization=org) == 0

    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, marketer.email])
    english = next(m for m in mail.outbox if m.to == [owner.email])
    chinese = next(m for m in mail.outbox if m.to == [marketer.email])
    assert english.subject == f"Chuhai · {org.name}: 1 new alert"
    assert chinese.subject.startswith(f"出海 · {org.name}: ")
    assert (
        "Amazon Ads · Campaign C1 · Ad spend: 80.00 USD (expected 50.00 USD, above normal, score 10.1)" in english.body
    )
    start = (YESTERDAY - timedelta(days=27)).isoformat()
    path = f"/o/{org.slug}/analytics/campaigns/amazon_ads/C1/?range=custom&start={start}&end={YESTERDAY}"
    link = settings.SITE_URL + path
    assert link in english.body
    html, mimetype = english.alternatives[0]
    assert mimetype == "text/html"
    assert "80.00 USD" in html and link.replace("&", "&amp;") in html
    assert Alert.unscoped_objects.get(organization=org).emailed_at is not None


def test_a_dismissed_alert_is_not_emailed(org, owner):
    spend_series(org, overrides={YESTERDAY: 80})
    (alert,) = detect(org)
    with organization_scope(org):
        alerts.alert_dismiss(organization=org, alert=alert, actor=owner)
        assert alerts.alerts_notify(organization=org) == 0
    assert mail.outbox == []


def test_the_daily_fan_out_detects_and_emails_every_organization_with_data(org, owner):
    quiet = OrganizationFactory()
    DataSourceFactory(organization=org)
    DataSourceFactory(organization=quiet)
    yesterday = today_in(org.time_zone) - timedelta(days=1)
    spend_series(org, end=yesterday, overrides={yesterday: 80})

    assert detect_alerts_all() == 2  # eager in tests: each organization's task ran

    assert Alert.unscoped_objects.filter(organization=org, date=yesterday, metric="spend").count() == 1
    assert Alert.unscoped_objects.filter(organization=quiet).count() == 0
    assert [m.to for m in mail.outbox] == [[owner.email]]


def test_beat_entries():
    assert SCHEDULES["analytics.detect-alerts"]["task"] == "analytics.tasks.detect_alerts_all"
    assert SCHEDULES["analytics.weekly-digests"]["task"] == "analytics.tasks.send_weekly_digests"
    assert all(SCHEDULES[name]["expires"] for name in ("analytics.detect-alerts", "analytics.weekly-digests"))


# --- the page -------------------------------------------------------------------------------------------


def make_alert(org, n=0, **kwargs):
    values = {
        "organization": org,
        "date": YESTERDAY - timedelta(days=n),
        "metric": "spend",
        "channel": "amazon_ads",
        "account_id": "A1",
        "campaign_id": f"C{n}",
        "campaign_name": f"Lamps {n}",
        "value": Decimal("80"),
        "expected": Decimal("50"),
        "score": Decimal("10.117"),
        "direction": "up",
        "currency": "USD",
    }
    return Alert.unscoped_objects.create(**(values | kwargs))


def alerts_url(org, **params):
    from urllib.parse import urlencode

    url = reverse("analytics_alerts", kwargs={"org_slug": org.slug})
    return f"{url}?{urlencode(params)}" if params else url


def dismiss_url(org, alert):
    return reverse("analytics_alert_dismiss", kwargs={"org_slug": org.slug, "alert_id": alert.pk})


def test_page_lists_open_alerts(owner_client, org):
    alert = make_alert(org)
    make_alert(org, 1, status="dismissed", campaign_name="Hidden")
    make_alert(org, 2, metric="acos", value=Decimal("0.8"), expected=Decimal("0.5"), currency="")

    response = owner_client.get(alerts_url(org))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Amazon Ads · Lamps 0" in content
    assert "80.00 USD" in content and "50.00 USD" in content and "Above normal" in content
    assert "80.0%" in content and "50.0%" in content  # ACoS
    assert "Hidden" not in content
    assert dismiss_url(org, alert) in content
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_page_filters_dismissed(owner_client, org):
    make_alert(org)
    make_alert(org, 1, status="dismissed", campaign_name="Gone")

    content = owner_client.get(alerts_url(org, status="dismissed")).content.decode()

    assert "Gone" in content and "Lamps 0" not in content


def test_page_htmx_partial_and_pagination(owner_client, org):
    for n in range(PAGE_SIZE + 5):
        make_alert(org, n)

    response = owner_client.get(alerts_url(org, page=2), headers={"HX-Request": "true"})

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<section class="card" id="alerts-panel"')
    assert "<html" not in content
    assert content.count('<tr id="alert-') == 5
    assert "Page 2 of 2" in content


def test_page_queries_do_not_grow_with_rows(owner_client, org):
    make_alert(org)
    owner_client.get(alerts_url(org))  # warm-up: session and filter-option caches
    with CaptureQueriesContext(connection) as one:
        owner_client.get(alerts_url(org))
    for n in range(1, PAGE_SIZE):
        make_alert(org, n)
    with CaptureQueriesContext(connection) as many:
        assert owner_client.get(alerts_url(org)).content.decode().count('<tr id="alert-') == PAGE_SIZE
    assert len(many) == len(one)


def test_htmx_dismiss_swaps_the_row(owner_client, org):
    alert = make_alert(org)

    response = owner_client.post(dismiss_url(org, alert), headers={"HX-Request": "true"})

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith(f'<tr id="alert-{alert.pk}">')
    assert "Dismissed" in content and "<form" not in content
    alert.refresh_from_db()
    assert alert.status == "dismissed"


def test_dismiss_without_htmx_redirects_to_the_page(owner_client, org):
    alert = make_alert(org)

    response = owner_client.post(dismiss_url(org, alert))

    assert response.status_code == 302
    assert response["Location"] == alerts_url(org)


def test_a_viewer_sees_alerts_but_cannot_dismiss(client, org):
    alert = make_alert(org)
    client.force_login(member(org, Role.VIEWER))

    page = client.get(alerts_url(org))
    denied = client.post(dismiss_url(org, alert), headers={"HX-Request": "true"})

    assert page.status_code == 200 and "Lamps 0" in page.content.decode()
    assert dismiss_url(org, alert) not in page.content.decode()
    assert denied.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_another_organizations_alert_is_a_404(owner_client, org, other_org):
    theirs = make_alert(other_org)

    response = owner_client.post(dismiss_url(org, theirs), headers={"HX-Request": "true"})
    page = owner_client.get(alerts_url(org))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open"
    assert "Lamps 0" not in page.content.decode()
