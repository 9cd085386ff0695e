import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from connectors.models import RunKind, RunStatus, SyncRun
from connectors.tests.factories import ConnectionFactory, FileImportFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "admin:connectors_connection_changelist",
    "admin:connectors_syncrun_changelist",
    "admin:connectors_fileimport_changelist",
    "admin:analytics_fxrate_changelist",
]


@pytest.fixture
def staff_client(client, settings):
    settings.ADMIN_REQUIRE_MFA = False  # MFA in front of the admin is tested in accounts
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _populate(n):
    for _ in range(n):
        run = SyncRunFactory(status=RunStatus.FAILED, message="Amazon Ads rejected our access")
        FileImportFactory(organization=run.organization)


def test_staff_lists_without_per_row_queries(staff_client):
    _populate(2)
    for page in PAGES:  # warm up: the signed-in user is read once, then from the cache
        staff_client.get(reverse(page))
    counts = {}
    for page in PAGES:
        with CaptureQueriesContext(db) as ctx:
            assert staff_client.get(reverse(page)).status_code == 200
        counts[page] = len(ctx.captured_queries)
    _populate(6)
    for page in PAGES:
        with CaptureQueriesContext(db) as ctx:
            assert staff_client.get(reverse(page)).status_code == 200
        assert len(ctx.captured_queries) == counts[page], page


def test_runs_filter_by_platform_and_status_and_search_error_text(staff_client):
    SyncRunFactory(status=RunStatus.FAILED, message="refresh token was revoked", connection=ConnectionFactory(name="A"))
    SyncRunFactory(status=RunStatus.SUCCEEDED, connection=ConnectionFactory(name="B", platform="shopify"))
    page = reverse("admin:connectors_syncrun_changelist")
    body = staff_client.get(page, {"status__exact": "failed", "connection__platform__exact": "amazon_ads"}).content
    assert b"Amazon Ads: A<" in body and b"Shopify: B<" not in body
    searched = staff_client.get(page, {"q": "revoked"}).content
    assert b"Amazon Ads: A<" in searched and b"Shopify: B<" not in searched


def test_connection_page_never_shows_credentials(staff_client):
    connection = ConnectionFactory(credentials={"refresh_token": "Atzr|TOP-SECRET"})
    body = staff_client.get(reverse("admin:connectors_connection_change", args=[connection.pk])).content
    assert b"TOP-SECRET" not in body and b"credentials" not in body.lower()


def test_requeue_action_starts_a_new_run(staff_client, django_capture_on_commit_callbacks):
    failed = SyncRunFactory(status=RunStatus.FAILED)
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            reverse("admin:connectors_syncrun_changelist"),
            {"action": "requeue", "_selected_action": [failed.pk]},
        )
    assert response.status_code == 302
    new = SyncRun.unscoped_objects.exclude(pk=failed.pk).get(connection=failed.connection)
    assert (new.status, new.kind) == (RunStatus.QUEUED, RunKind.MANUAL)
    assert len(callbacks) == 1
