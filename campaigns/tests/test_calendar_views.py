"""The market calendar page: events of the organization's marketplaces with their suggestions, the seller's own
events (Prime Day) entered and removed, validation, permissions, other organizations and query counts."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role
from accounts.tests.factories import OrganizationFactory, member
from analytics.query import today_in
from analytics.tests.factories import DataSourceFactory
from campaigns.models import AdAccount, Campaign, SellerEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganizationFactory()


def calendar_url(org, **params):
    url = reverse("optimize_calendar", kwargs={"org_slug": org.slug})
    return f"{url}?{'&'.join(f'{key}={value}' for key, value in params.items())}" if params else url


def add_url(org):
    return reverse("optimize_seller_event_add", kwargs={"org_slug": org.slug})


def login(client, org, role=Role.MARKETER):
    client.force_login(member(org, role))


def ad_account(org, marketplace, external_id="P1"):
    return AdAccount.unscoped_objects.create(
        organization=org, channel="amazon_ads", external_id=external_id, name=marketplace, marketplace=marketplace,
        currency="USD",
    )  # fmt: skip


def test_singles_day_shows_for_a_singapore_seller_in_november(client, org):
    account = ad_account(org, "SG")
    Campaign.unscoped_objects.create(organization=org, ad_account=account, external_id="C1", name="11.11 mega push")
    login(client, org, Role.VIEWER)

    response = client.get(calendar_url(org, start="2026-11-01", days=30))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Singles&#x27; Day (11.11)" in content
    assert "Ramp up for Singles&#x27; Day (11.11)" in content  # the suggestion and its reason
    assert "+100%" in content  # the event day's budget multiplier
    assert "11.11 mega push" in content and "This campaign has no end date." in content
    assert "Ramadan" not in content
    assert 'id="seller-event-form"' not in content  # a viewer cannot enter events


def test_ramadan_shows_for_a_saudi_seller(client, org):
    DataSourceFactory(organization=org, platform="amazon_sp", channel="", marketplace="SA", currency="SAR")
    login(client, org)

    content = client.get(calendar_url(org, start="2026-01-20", days=60)).content.decode()

    assert "Ramadan" in content and "Eid al-Fitr" in content
    assert "Singles" not in content


def test_a_seller_entered_prime_day_shows_in_the_calendar(client, org):
    ad_account(org, "US")
    SellerEvent.unscoped_objects.create(
        organization=org, key="prime_day", marketplace="US", start=date(2026, 7, 14), end=date(2026, 7, 15)
    )
    login(client, org)

    content = client.get(calendar_url(org, start="2026-07-01", days=30)).content.decode()

    assert "Prime Day" in content
    assert "Independence Day (4 July)" in content
    assert "Remove (US)" in content


def test_marketplace_filter_and_unreadable_filters(client, org):
    ad_account(org, "SG")
    ad_account(org, "US", external_id="P2")
    login(client, org)

    only_us = client.get(calendar_url(org, start="2026-11-01", days=30, marketplace="us")).content.decode()
    fallback = client.get(calendar_url(org, start="not-a-date", days="many", marketplace="XX"))

    assert "Black Friday" in only_us and "Singles" not in only_us
    assert fallback.status_code == 200 and 'name="days"' in fallback.content.decode()
    assert fallback.context["days"] == 90 and fallback.context["marketplace"] == ""


def test_htmx_request_gets_only_the_events(client, org):
    ad_account(org, "SG")
    login(client, org)

    response = client.get(calendar_url(org, start="2026-11-01"), headers={"HX-Request": "true"})

    content = response.content.decode()
    assert content.lstrip().startswith('<section id="calendar-events">')
    assert "<html" not in content and "Singles&#x27; Day" in content


def test_other_organizations_calendar_and_events_are_404(client, org):
    event = SellerEvent.unscoped_objects.create(
        organization=org, key="prime_day", marketplace="US", start=date(2026, 7, 14), end=date(2026, 7, 15)
    )
    attacker = OrganizationFactory()
    login(client, attacker, Role.OWNER)
    delete = "optimize_seller_event_delete"

    assert client.get(calendar_url(org)).status_code == 404
    assert client.post(add_url(org), {"key": "prime_day"}).status_code == 404
    own_slug = reverse(delete, kwargs={"org_slug": attacker.slug, "seller_event_id": event.pk})
    assert client.post(own_slug).status_code == 404
    assert SellerEvent.unscoped_objects.filter(pk=event.pk).exists()


def test_entering_prime_day_adds_it_and_shows_it(client, org):
    ad_account(org, "DE")
    login(client, org)
    year = today_in(org.time_zone).year + 1  # a Prime Day still ahead, whenever the test runs

    response = client.post(
        add_url(org), {"key": "prime_day", "marketplace": "DE", "start": f"{year}-07-14", "end": f"{year}-07-15"},
        follow=True,
    )  # fmt: skip

    event = SellerEvent.unscoped_objects.get(organization=org)
    assert (event.key, event.marketplace, event.start, event.end) == (
        "prime_day",
        "DE",
        date(year, 7, 14),
        date(year, 7, 15),
    )
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.seller_event_added").count() == 1
    content = response.content.decode()
    assert "Prime Day in DE is in the calendar." in content
    assert "Ramp up for Prime Day" in content


def test_seller_event_validation(client, org):
    login(client, org)

    response = client.post(
        add_url(org), {"key": "prime_day", "marketplace": "US", "start": "2026-07-15", "end": "2026-07-14"}
    )
    too_long = client.post(
        add_url(org), {"key": "store_sale", "marketplace": "US", "start": "2026-07-01", "end": "2026-09-01"},
        headers={"HX-Request": "true"},
    )  # fmt: skip

    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()
    assert too_long.status_code == 200
    assert too_long.content.decode().lstrip().startswith('<section class="card" id="seller-event-form"')
    assert "An event lasts at most 31 days." in too_long.content.decode()
    assert not SellerEvent.unscoped_objects.filter(organization=org).exists()


def test_the_same_event_twice_is_a_form_error(client, org):
    login(client, org)
    data = {"key": "prime_day", "marketplace": "US", "start": "2026-07-14", "end": "2026-07-15"}
    client.post(add_url(org), data)

    response = client.post(add_url(org), data)

    assert response.status_code == 400
    assert "Prime Day in US starting on that day is already in the calendar." in response.content.decode()
    assert SellerEvent.unscoped_objects.filter(organization=org).count() == 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_without_edit_cannot_enter_or_remove_events(client, org, role):
    event = SellerEvent.unscoped_objects.create(
        organization=org, key="prime_day", marketplace="US", start=date(2026, 7, 14), end=date(2026, 7, 15)
    )
    login(client, org, role)
    data = {"key": "prime_day", "marketplace": "US", "start": "2026-10-07", "end": "2026-10-08"}
    delete_url = reverse("optimize_seller_event_delete", kwargs={"org_slug": org.slug, "seller_event_id": event.pk})

    assert client.post(add_url(org), data).status_code == 403
    assert client.post(delete_url).status_code == 403
    assert list(SellerEvent.unscoped_objects.filter(organization=org)) == [event]


def test_removing_an_event(client, org):
    event = SellerEvent.unscoped_objects.create(
        organization=org, key="prime_day", marketplace="US", start=date(2026, 7, 14), end=date(2026, 7, 15)
    )
    login(client, org)
    url = reverse("optimize_seller_event_delete", kwargs={"org_slug": org.slug, "seller_event_id": event.pk})

    response = client.post(url, headers={"HX-Request": "true"})

    assert response.status_code == 204 and response["HX-Redirect"].startswith(calendar_url(org))
    assert not SellerEvent.unscoped_objects.filter(organization=org).exists()


def test_calendar_queries_do_not_grow_with_campaigns_and_events(client, org):
    account = ad_account(org, "SG")
    login(client, org)
    client.get(calendar_url(org, start="2026-11-01"))  # the login and membership are cached after the first request
    with CaptureQueriesContext(connection) as few:
        client.get(calendar_url(org, start="2026-11-01"))
    for n in range(20):
        Campaign.unscoped_objects.create(organization=org, ad_account=account, external_id=f"C{n}", name=f"11.11 #{n}")
        SellerEvent.unscoped_objects.create(
            organization=org, key="store_sale", marketplace="SG", start=date(2026, 11, 2 + n), end=date(2026, 11, 3 + n)
        )
    with CaptureQueriesContext(connection) as many:
        content = client.get(calendar_url(org, start="2026-11-01")).content.decode()

    assert content.count('Own store sale <span class="badge">') == 20
    assert len(many) == len(few)
