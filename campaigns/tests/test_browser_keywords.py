"""A seller harvests search terms in a real browser and sees them come back as keywords: the first sync of an Amazon
Ads account (the local fake, connected through its real OAuth consent), three converting search terms ticked on
the Keywords page, the run approved on the Changes page and pushed, the next sync started with "Sync now", and
the three new exact keywords listed on the "Keywords in place" tab. Screenshots land in test-artifacts/browser/.

Celery is eager here: the push and both syncs run inside the web request (or the test) that dispatches them."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, OrganizationFactory, member
from campaigns import selectors
from campaigns.models import Proposal, ProposalKind, ProposalStatus, Target, ToolRun
from config.testing import serve_wsgi
from connectors import services
from connectors.backends import get_backend
from connectors.backends.amazon_ads.demo_data import Dataset
from connectors.backends.amazon_ads.fake import CLIENTS, make_app
from connectors.models import Connection, RunKind, RunStatus, SyncRun

pytestmark = pytest.mark.browser

CLIENT_ID, CLIENT_SECRET = next(iter(CLIENTS.items()))
REDIRECT = "https://app.chuhai.test/connect/amazon_ads/callback/"
US = 1873625790128461
DAYS = 14
MANUAL_CAMPAIGN = "SP | Lamps | Manual"
BROAD_GROUP = "Lamps - Broad & phrase"


@pytest.fixture
def fake(settings):
    """Two lamp campaigns on the US profile (an automatic one, and a manual one with an exact and a broad & phrase
    ad group), two weeks of history, with traffic enough that several of the broad group's terms sell."""
    dataset = Dataset(
        campaigns=2,
        ad_groups_per_campaign=2,
        keywords_per_ad_group=3,
        products_per_ad_group=1,
        days=DAYS,
        volume=4,
        profiles=("US",),
    )
    app = make_app(dataset=dataset, polls_to_complete=1)
    with serve_wsgi(app) as url:
        app.public_url = url
        settings.PLATFORMS = {
            **settings.PLATFORMS,
            "amazon_ads": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "auth_url": f"{url}/ap/oa",
                "token_url": f"{url}/auth/o2/token",
                "api_urls": {"NA": f"{url}/api", "EU": f"{url}/api", "FE": f"{url}/api"},
                "sleep": lambda seconds: None,
                "poll_interval": 0.01,
                "timeout": 10,
                "rate": 1000,
                "burst": 1000,
            },
        }
        yield app


def _connect(org, fake) -> Connection:
    """The seller's consent on the fake's page, answered as a browser would; then the account as discovered."""
    backend = get_backend("amazon_ads")
    consent = httpx.get(backend.authorization_url(state="st", redirect_uri=REDIRECT))
    action = re.search(r'<form method="post" action="([^"]+)"', consent.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', consent.text))
    answer = httpx.post(action, data={**fields, "decision": "allow"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    credentials = backend.exchange_code(code=code, redirect_uri=REDIRECT, params={})
    [account] = backend.discover_accounts(credentials=credentials)
    connection = services.connection_upsert(
        organization=org, platform="amazon_ads", account=account, credentials=credentials, user=None
    )
    Connection.unscoped_objects.filter(pk=connection.pk).update(backfill_days=DAYS - 1)  # the fake's whole history
    connection.refresh_from_db()
    return connection


def _terms_to_harvest(org, fake) -> list[str]:
    """Three search terms of the manual campaign's broad & phrase ad group that sold in the window and are no
    keyword anywhere in the account yet (so the fake holding each "exactly once" means the push added it once)."""
    today = fake.dataset.today(US)
    table = selectors.search_term_table(
        organization=org, start=today - timedelta(days=DAYS - 1), end=today, sort="-orders", page_size=500
    )
    existing = {t.text for c in fake.dataset.account(US).campaigns for g in c.ad_groups for t in g.targets}
    candidates = [
        row["search_term"]
        for row in table.rows
        if row["campaign_name"] == MANUAL_CAMPAIGN
        and row["ad_group_name"] == BROAD_GROUP
        and row["orders"] > 0
        and row["search_term"] not in existing
    ]
    assert table.total_rows <= selectors.SEARCH_TERM_PAGE_SIZE, "every term must fit on the page the seller sees"
    assert len(candidates) >= 3, f"the fake's fortnight has too few converting broad terms: {candidates}"
    return candidates[:3]


def _keywords_named(fake, text: str) -> list:
    account = fake.dataset.account(US)
    return [t for c in account.campaigns for g in c.ad_groups for t in g.targets if t.text == text]


def _shot(page, folder, name):
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top, not across the middle of the page
    page.screenshot(path=str(folder / name), full_page=True)


def test_harvest_three_terms_approve_push_and_see_them_after_the_next_sync(live_server, page, fake, artifacts_dir):
    # --- given: a seller whose Amazon Ads account has had its first sync -----------------------------------------
    org = OrganizationFactory(name="Hearth & Grain", time_zone="America/Los_Angeles")  # the profile's own day
    owner = member(org, Role.OWNER, email="owner@hearth.test")
    connection = _connect(org, fake)
    first, created = services.sync_run_request(connection=connection, kind=RunKind.BACKFILL)  # runs at once (eager)
    first.refresh_from_db()
    assert created and first.status == RunStatus.SUCCEEDED, first.message
    in_account = sum(len(g.targets) for c in fake.dataset.account(US).campaigns for g in c.ad_groups)
    assert Target.unscoped_objects.filter(organization=org).count() == in_account == 14  # 8 automatic, 6 keywords
    terms = _terms_to_harvest(org, fake)
    page.set_viewport_size({"width": 1440, "height": 900})

    # --- log in, open Keywords on the last 14 days -----------------------------------------------------------------
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"**/o/{org.slug}/")
    page.locator("nav.sidenav").get_by_role("link", name="Keywords").click()
    page.wait_for_url(f"**/o/{org.slug}/keywords/")
    page.select_option("form.filter-bar select[name=range]", "14d")
    page.locator("form.filter-bar button[type=submit]").click()
    page.wait_for_url(re.compile(r"/keywords/\?range=14d$"))
    tab = page.locator("#keyword-tab")
    expect(tab.locator("tbody tr").first).to_contain_text("Amazon Ads")

    # --- tick three converting terms of the manual campaign and harvest them -----------------------------------
    for term in terms:  # the row of the manual campaign (the automatic one may show the same term)
        row = (
            tab.locator("tbody tr")
            .filter(has=page.get_by_role("checkbox", name=f"Select {term}", exact=True))
            .filter(has_text=MANUAL_CAMPAIGN)
            .filter(has_text=BROAD_GROUP)
        )
        expect(row).to_have_count(1)
        row.get_by_role("checkbox").check()
    _shot(page, artifacts_dir, "keywords-harvest-selected.png")
    tab.get_by_role("button", name="Harvest selected").click()

    # --- the Changes page, filtered to that run: three exact keywords proposed --------------------------------
    page.wait_for_url(re.compile(r"/changes/\?run=\d+$"))
    run = ToolRun.unscoped_objects.get(organization=org, tool=ToolRun.Tool.HARVEST)
    assert page.url.endswith(f"/changes/?run={run.pk}")
    proposals = Proposal.unscoped_objects.filter(run=run)
    keywords = proposals.filter(kind=ProposalKind.KEYWORD)
    assert sorted(keywords.values_list("text", flat=True)) == sorted(terms)
    assert set(keywords.values_list("match_type", "ad_group_name")) == {("EXACT", BROAD_GROUP)}
    expect(page.locator("#messages")).to_contain_text(f"{proposals.count()} changes proposed")
    table = page.locator("#changes-table")
    expect(table.locator("tbody tr")).to_have_count(proposals.count())  # the keywords and any negatives with them
    for term in terms:
        row = table.locator("tbody tr").filter(has=page.get_by_text(term, exact=True))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Waiting for approval")
    _shot(page, artifacts_dir, "changes-harvest-run.png")

    # --- approve the whole run; it is pushed to Amazon ------------------------------------------------------------
    table.get_by_label("Select all on this page").check()
    table.get_by_role("button", name="Approve selected").click()
    expect(page.locator("#messages")).to_contain_text(f"{proposals.count()} changes approved")
    # Approved rows leave the "waiting" list; the seller follows them under every status (the page polls while
    # any is still on its way).
    page.select_option("form.filter-bar select[name=status]", "all")
    page.locator("form.filter-bar button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/changes/\?status=all&.*run={run.pk}"))
    for term in terms:
        row = page.locator("#changes-table tbody tr").filter(has=page.get_by_text(term, exact=True))
        expect(row.locator(".status")).to_have_text("Pushed", timeout=30_000)
    assert set(proposals.values_list("status", flat=True)) == {ProposalStatus.PUSHED}
    _shot(page, artifacts_dir, "changes-pushed.png")

    # --- the next sync, started from the Connections page ---------------------------------------------------------
    page.locator("nav.sidenav").get_by_role("link", name="Connections").click()
    page.wait_for_url(f"**/o/{org.slug}/connections/")
    card = page.locator(f"#connection-{connection.pk}")
    expect(card.locator(".run-line")).to_contain_text("First load")
    card.get_by_role("button", name="Sync now").click()  # eager Celery: the sync runs inside this request
    expect(card.locator(".run-line")).to_contain_text("Sync now", timeout=45_000)  # the card of the new run
    expect(card.locator(".run-line .status")).to_have_text("Succeeded", timeout=45_000)
    _shot(page, artifacts_dir, "connections-synced-again.png")
    second = SyncRun.unscoped_objects.filter(connection=connection).latest("created_at")
    assert (second.kind, second.status) == (RunKind.MANUAL, RunStatus.SUCCEEDED)

    # --- the Keywords in place tab shows the three new exact keywords in the broad & phrase ad group --------------
    page.locator("nav.sidenav").get_by_role("link", name="Keywords").click()
    page.wait_for_url(f"**/o/{org.slug}/keywords/")
    page.locator("#keyword-tab nav.tabs").get_by_role("link", name="Keywords in place").click()
    page.wait_for_url(re.compile(r"/keywords/\?.*tab=in_place"))
    rows = page.locator("#keyword-tab tbody tr")
    expect(rows).to_have_count(in_account + 3)
    for position in range(3):  # newest first: what the last sync brought in
        expect(rows.nth(position)).to_contain_text(BROAD_GROUP)
        expect(rows.nth(position).locator("td").nth(2)).to_have_text("Exact")
    assert sorted(rows.nth(n).locator("td").first.inner_text().splitlines()[0] for n in range(3)) == sorted(terms)
    _shot(page, artifacts_dir, "keywords-in-place.png")

    # --- then: in our database and on the platform, each keyword once ---------------------------------------------
    stored = Target.unscoped_objects.filter(organization=org, text__in=terms).select_related("ad_group")
    destinations = dict(keywords.values_list("text", "ad_group_id"))
    assert sorted((t.text, t.match_type, t.ad_group.external_id, t.ad_group.name) for t in stored) == sorted(
        (term, "EXACT", destinations[term], BROAD_GROUP) for term in terms
    )
    for term in terms:
        [on_platform] = _keywords_named(fake, term)
        assert (on_platform.match_type, on_platform.state) == ("EXACT", "ENABLED")
