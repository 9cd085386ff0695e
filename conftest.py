import os
import shutil
from pathlib import Path

import pytest

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, member


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Other Seller")


@pytest.fixture
def owner(org):
    return member(org, Role.OWNER)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def client_for(client, organization, role):
    user = member(organization, role)
    client.force_login(user)
    return client, user


# --- browser tests: one headless Debian Chromium per session, a fresh context per test -----------------
# Playwright's sync API keeps an asyncio event loop running in the test thread, and Django's ORM refuses to
# run while one is running unless DJANGO_ALLOW_ASYNC_UNSAFE is set; the flag is set before Playwright starts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


def _chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    executable = _chromium_path()
    if executable is None:
        message = (
            "No Chromium binary found (looked at $CHROMIUM_PATH, `chromium` on PATH and /usr/bin/chromium). "
            "Install it with `apt-get install -y chromium` or point CHROMIUM_PATH at one."
        )
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but the browser tests cannot run: {message}", pytrace=False)
        pytest.skip(message)

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def artifacts_dir(settings):
    folder = Path(settings.TEST_ARTIFACTS_DIR) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
