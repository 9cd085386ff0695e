"""In a real browser: paste a German Amazon ad with "Testsieger" and a reduced price, see two findings marked
in place with their fixes, fix the text as the page re-checks while typing, see it turn clean. Screenshots land
in test-artifacts/browser/."""

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from accounts.tests.factories import PASSWORD, OrganizationFactory, member

pytestmark = pytest.mark.browser

AD = "Testsieger! Jetzt 30% reduziert"
FIXED = (
    "Testsieger bei Stiftung Warentest (Ausgabe 05/2026). Jetzt 30 % reduziert, niedrigster Preis der letzten "
    "30 Tage: 39,99 €"
)


def test_a_german_ad_is_marked_then_fixed_until_clean(live_server, page, artifacts_dir):
    org = OrganizationFactory(name="Lampenwerk")
    owner = member(org, Role.MARKETER, email="marketer@lampenwerk.test")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"**/o/{org.slug}/")
    page.locator("nav.sidenav").get_by_role("link", name="Compliance").click()
    page.wait_for_url(f"**/o/{org.slug}/compliance/")

    page.fill("input[name=markets]", "DE")
    page.select_option("select[name=channel]", "amazon_ads")
    page.select_option("select[name=language]", "de")
    page.locator("#id_text").fill(AD)  # checked as one types (debounced), no button needed
    result = page.locator("#compliance-result")
    expect(result.locator("mark")).to_have_count(2)
    expect(result.locator("li.finding")).to_have_count(2)
    expect(result).to_contain_text("Fix:")
    page.screenshot(path=str(artifacts_dir / "compliance-findings.png"), full_page=True)

    page.locator("#id_text").fill(FIXED)
    expect(result.locator(".verdict-clean")).to_be_visible()
    expect(result.locator("mark")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "compliance-clean.png"), full_page=True)
