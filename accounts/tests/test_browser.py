"""Real-browser journeys through headless Chromium (Playwright) against pytest-django's live server."""

import re
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import expect

from accounts.models import Invitation, Membership, Organization, Role
from accounts.tests import factories
from accounts.tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.browser

DASHBOARD_PATH = re.compile(r"/o/(?P<slug>[-a-zA-Z0-9_]+)/$")


def _on_live_server(url: str, live_server_url: str) -> str:
    """The same path on the live server (the link's host comes from the request, so normally a no-op)."""
    link, server = urlsplit(url), urlsplit(live_server_url)
    return urlunsplit((server.scheme, server.netloc, link.path, link.query, link.fragment))


def _dashboard_slug(page) -> str:
    match = DASHBOARD_PATH.search(urlsplit(page.url).path)
    assert match, f"expected an organization dashboard URL, got {page.url}"
    return match["slug"]


def _screenshot(page, folder, name):
    page.screenshot(path=str(folder / name), full_page=True)


def test_signup_verify_create_org_invite_and_switch_to_chinese(live_server, page, mailoutbox, artifacts_dir):
    email = "founder@example.test"
    password = "Tall-lantern-Harbor-42"

    # --- sign up -----------------------------------------------------------------------------------
    page.goto(live_server.url + "/accounts/signup/")
    page.fill("#id_name", "Li Wei")
    page.fill("#id_email", email)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    _screenshot(page, artifacts_dir, "signup.png")
    page.locator("form[action$='/accounts/signup/'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))

    # --- verify the email address --------------------------------------------------------------------
    verification = [m for m in mailoutbox if email in m.to]
    assert len(verification) == 1, [(m.to, m.subject) for m in mailoutbox]
    links = re.findall(r"https?://[^\s\"'<>]+/accounts/confirm-email/[^\s\"'<>]+", verification[0].body)
    assert links, verification[0].body
    confirm_url = links[0]
    assert confirm_url.startswith(live_server.url), (confirm_url, live_server.url)
    page.goto(_on_live_server(confirm_url, live_server.url))
    # ACCOUNT_CONFIRM_EMAIL_ON_GET is False: the page asks for a click.
    page.locator("main form button[type=submit]").click()

    # Logged in, on the personal organization's dashboard.
    page.wait_for_url(DASHBOARD_PATH)
    personal_slug = _dashboard_slug(page)
    expect(page.locator("details.user-menu summary")).to_have_text("Li")
    expect(page.get_by_test_id("org-switcher")).to_contain_text("Li Wei")
    expect(page.locator("nav.sidenav")).to_contain_text("Dashboard")
    _screenshot(page, artifacts_dir, "dashboard.png")

    # --- create a business organization via the switcher ---------------------------------------------
    page.get_by_test_id("org-switcher").click()
    page.locator("details.org-switcher").get_by_role("link", name="New organization").click()
    page.wait_for_url(re.compile(r"/orgs/new/$"))
    page.fill("#org-form [name=name]", "Shenzhen Lamps Co")
    page.select_option("#org-form [name=home_currency]", "CNY")
    page.select_option("#org-form [name=time_zone]", "Asia/Shanghai")
    _screenshot(page, artifacts_dir, "org-create.png")
    page.locator("#org-form button[type=submit]").click()
    page.wait_for_url(
        lambda url: DASHBOARD_PATH.search(urlsplit(url).path) is not None and f"/o/{personal_slug}/" not in url
    )
    org_slug = _dashboard_slug(page)
    expect(page.locator("main h1")).to_have_text("Shenzhen Lamps Co")
    expect(page.locator("main")).to_contain_text("CNY")
    expect(page.locator("main")).to_contain_text("Asia/Shanghai")
    expect(page.get_by_test_id("org-switcher")).to_contain_text("Shenzhen Lamps Co")

    # --- Settings -> Members: invite a teammate (HTMX) -----------------------------------------------
    page.locator("nav.sidenav").get_by_role("link", name="Settings").click()
    page.wait_for_url(re.compile(rf"/o/{org_slug}/settings/$"))
    page.locator("nav.tabs").get_by_role("link", name="Members").click()
    page.wait_for_url(re.compile(rf"/o/{org_slug}/members/$"))
    expect(page.get_by_test_id("members-table")).to_contain_text(email)
    mail_count = len(mailoutbox)
    page.fill("#invite-form [name=email]", "teammate@example.test")
    page.select_option("#invite-form [name=role]", "marketer")
    page.locator("#invite-form button[type=submit]").click()
    invitations = page.get_by_test_id("invitations-table")
    expect(invitations).to_contain_text("teammate@example.test")
    expect(invitations).to_contain_text("Marketer")
    expect(page.locator("#messages .alert")).to_contain_text("teammate@example.test")
    # Still the members page: the panel was swapped in place, not a full navigation elsewhere.
    assert urlsplit(page.url).path == f"/o/{org_slug}/members/"
    invitation_mail = [m for m in mailoutbox[mail_count:] if "teammate@example.test" in m.to]
    assert len(invitation_mail) == 1, [(m.to, m.subject) for m in mailoutbox]
    assert "/invitations/" in invitation_mail[0].body
    _screenshot(page, artifacts_dir, "members-invited.png")

    # --- switch the interface to Chinese -------------------------------------------------------------
    chinese = page.locator("form.lang-switch").get_by_role("button", name=re.compile("中文"))
    expect(chinese).to_have_attribute("value", "zh-hans")
    chinese.click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    sidenav = page.locator("nav.sidenav")
    for label in ("仪表板", "账户连接", "广告活动", "设置"):
        expect(sidenav).to_contain_text(label)
    expect(sidenav).not_to_contain_text("Dashboard")
    expect(page.locator("form.lang-switch button[value='zh-hans']")).to_have_attribute("aria-pressed", "true")
    page.locator("nav.sidenav a").first.click()
    page.wait_for_url(re.compile(rf"/o/{org_slug}/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(sidenav).to_contain_text("仪表板")
    _screenshot(page, artifacts_dir, "dashboard-zh.png")

    # --- what the database says ----------------------------------------------------------------------
    organization = Organization.objects.get(slug=org_slug)
    assert organization.name == "Shenzhen Lamps Co"
    assert organization.home_currency == "CNY"
    assert organization.time_zone == "Asia/Shanghai"
    assert not organization.is_personal
    membership = Membership.unscoped_objects.get(organization=organization, user__email=email)
    assert membership.role == Role.OWNER
    invitation = Invitation.unscoped_objects.get(organization=organization, email="teammate@example.test")
    assert invitation.role == Role.MARKETER
    assert invitation.status == "pending"
    assert membership.user.language == "zh-hans"


def test_htmx_forbidden_action_shows_error_in_message_area(live_server, page):
    organization = OrganizationFactory()
    viewer = member(organization, Role.VIEWER)
    members_path = f"/o/{organization.slug}/members/"

    page.goto(live_server.url + "/accounts/login/?next=" + members_path)
    page.fill("#id_login", viewer.email)
    page.fill("#id_password", factories.PASSWORD)
    page.locator("form[action$='/accounts/login/'] button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(members_path) + "$"))
    expect(page.get_by_test_id("members-table")).to_contain_text(viewer.email)
    # A viewer gets no invite form at all.
    expect(page.locator("#invite-form")).to_have_count(0)
    expect(page.locator("#messages .alert-error")).to_have_count(0)

    with page.expect_response(lambda r: r.url.endswith(f"{members_path}invite/")) as response_info:
        page.evaluate(
            """path => htmx.ajax('POST', path, {
                   target: '#main', values: {email: 'x@example.test', role: 'viewer'}
               })""",
            f"{members_path}invite/",
        )
    response = response_info.value
    assert response.status == 403
    assert response.headers.get("hx-retarget") == "#messages"

    error = page.locator("#messages .alert-error")
    expect(error).to_have_count(1)
    expect(error).to_have_text(re.compile(r"\S"))
    expect(error).to_contain_text("does not allow")
    # The error went into the message area; the page itself was not replaced.
    expect(page.get_by_test_id("members-table")).to_be_visible()
    assert not Invitation.unscoped_objects.filter(email="x@example.test").exists()
