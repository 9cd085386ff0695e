"""A seller connects Amazon Ads in a real browser: our page, the platform's consent screen (the fake),
back to the Connections page, and the first sync fills the database."""

import pytest
from django.db.models import Sum

from accounts.models import Role
from accounts.tests.factories import PASSWORD, OrganizationFactory, member
from analytics.models import AdPerformanceDaily
from config.testing import serve_wsgi
from connectors.fakes import PrefixDispatcher
from connectors.models import Connection, RunStatus, SyncRun
from connectors.tests.test_demo import _free_port, fake_platforms


@pytest.mark.browser
def test_connect_amazon_ads_and_watch_the_first_sync(live_server, page, settings, artifacts_dir):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    platforms = fake_platforms(base)
    # Our pipeline at full speed: the fake's report polling and rate limits would only add waiting.
    platforms["amazon_ads"].update(rate=1000, burst=1000, poll_interval=0.01, poll_max_interval=0.05)
    settings.PLATFORMS = platforms
    settings.SITE_URL = live_server.url
    org = OrganizationFactory(name="Lamp Works")
    owner = member(org, Role.OWNER, email="owner@lampworks.test")

    with serve_wsgi(PrefixDispatcher(base), port=port):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", owner.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"**/o/{org.slug}/")
        page.click("nav.sidenav >> text=Connections")
        page.wait_for_url(f"**/o/{org.slug}/connections/")
        page.screenshot(path=str(artifacts_dir / "connections-empty.png"), full_page=True)

        page.click("[data-testid=connect-amazon_ads]")
        page.wait_for_url(f"{base}/amazon-ads/ap/oa**")
        page.screenshot(path=str(artifacts_dir / "amazon-consent.png"), full_page=True)
        with page.expect_navigation(url=f"**/o/{org.slug}/connections/", timeout=120_000):
            page.click("button[value=allow]", timeout=120_000)  # the callback discovers and starts a sync

        page.wait_for_selector("text=The first sync has started.")
        assert page.locator("article.conn-card").count() == 3
        page.screenshot(path=str(artifacts_dir / "connections-synced.png"), full_page=True)

    connections = Connection.unscoped_objects.filter(organization=org, platform="amazon_ads")
    assert sorted(connections.values_list("marketplace", flat=True)) == ["DE", "JP", "US"]
    runs = SyncRun.unscoped_objects.filter(organization=org)
    assert set(runs.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    facts = AdPerformanceDaily.unscoped_objects.filter(organization=org)
    assert facts.count() > 0
    assert facts.count() == runs.aggregate(total=Sum("rows_written"))["total"]
    assert page.locator("text=Succeeded").count() == 3
