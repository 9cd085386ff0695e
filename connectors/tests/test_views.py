import pytest
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import member
from connectors import oauth
from connectors.models import Connection, ConnectionStatus, RunKind, RunStatus, SyncRun
from connectors.tests.factories import ConnectionFactory, SyncRunFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


def test_connections_page_lists_connections_without_a_query_per_card(client, org, django_assert_num_queries):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    client.force_login(member(org, Role.OWNER))
    first = ConnectionFactory(organization=org, name="Lamps US")
    SyncRunFactory(connection=first, status=RunStatus.SUCCEEDED, rows_written=1234)
    client.get(url("connections", org))
    with CaptureQueriesContext(db) as small:
        response = client.get(url("connections", org))
    assert b"Lamps US" in response.content and b"1,234" in response.content
    for n in range(6):
        SyncRunFactory(connection=ConnectionFactory(organization=org), status=RunStatus.FAILED, message=f"boom {n}")
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(url("connections", org))
    assert response.content.count(b'class="card conn-card"') == 7


def test_running_sync_card_polls_and_finished_card_does_not(client, org):
    client.force_login(member(org, Role.VIEWER))
    busy = ConnectionFactory(organization=org)
    SyncRunFactory(connection=busy, status=RunStatus.RUNNING, progress=42)
    idle = ConnectionFactory(organization=org)
    SyncRunFactory(connection=idle, status=RunStatus.SUCCEEDED)
    busy_card = client.get(url("connection_status", org, connection_id=busy.pk), headers=HX).content.decode()
    idle_card = client.get(url("connection_status", org, connection_id=idle.pk), headers=HX).content.decode()
    assert 'hx-trigger="every 2s"' in busy_card and 'aria-valuenow="42"' in busy_card
    assert "hx-trigger" not in idle_card.split(">", 1)[0]
    assert "<html" not in busy_card


def test_sync_now_queues_one_run_and_a_second_click_does_not_add_another(client, org):
    connection = ConnectionFactory(organization=org, synced_through=None)
    client.force_login(member(org, Role.MARKETER))
    client.post(url("connection_sync", org, connection_id=connection.pk), headers=HX)
    response = client.post(url("connection_sync", org, connection_id=connection.pk), headers=HX)
    assert response.status_code == 200
    runs = SyncRun.unscoped_objects.filter(connection=connection)
    assert runs.count() == 1
    assert runs.get().kind == RunKind.MANUAL and runs.get().status == RunStatus.QUEUED


def test_disconnect_forgets_credentials_and_keeps_the_connection_row(client, org):
    connection = ConnectionFactory(organization=org)
    client.force_login(member(org, Role.ADMIN))
    response = client.post(url("connection_disconnect", org, connection_id=connection.pk))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED and connection.credentials == {}


def test_credentials_are_never_rendered(client, org):
    connection = ConnectionFactory(organization=org, credentials={"refresh_token": "Atzr|SECRET-VALUE"})
    client.force_login(member(org, Role.OWNER))
    for page in (url("connections", org), url("connection_detail", org, connection_id=connection.pk)):
        assert b"SECRET-VALUE" not in client.get(page).content


def _callback(client, platform="amazon_ads", **params):
    return client.get(reverse("connect_callback", kwargs={"platform": platform}), params)


def test_callback_without_a_state_we_issued_is_refused(client, org):
    client.force_login(member(org, Role.OWNER))
    response = _callback(client, code="abc", state="forged")
    assert response.status_code == 400
    assert b"not started here" in response.content
    assert not Connection.unscoped_objects.exists()


def test_callback_when_the_seller_denied_access_connects_nothing(client, org):
    owner = member(org, Role.OWNER)
    client.force_login(owner)
    client.post(url("connect_start", org, platform="amazon_ads"), {"region": "NA"})
    nonce_state = _issued_state(client, org, owner)
    response = _callback(client, error="access_denied", state=nonce_state)
    assert response["Location"] == url("connections", org)
    assert not Connection.unscoped_objects.exists()


def test_a_member_who_lost_the_connect_permission_cannot_finish_the_callback(client, org):
    from accounts.models import Membership

    admin = member(org, Role.ADMIN)
    client.force_login(admin)
    state = _issued_state(client, org, admin)
    Membership.unscoped_objects.filter(user=admin).update(role=Role.ANALYST)
    assert _callback(client, code="abc", state=state).status_code == 403
    assert not Connection.unscoped_objects.exists()


def test_connect_start_redirects_to_the_platform_with_our_state(client, org):
    client.force_login(member(org, Role.OWNER))
    response = client.post(url("connect_start", org, platform="amazon_ads"), {"region": "EU"})
    assert response.status_code == 302
    location = response["Location"]
    assert "state=" in location and "scope=advertising%3A%3Acampaign_management" in location
    assert "redirect_uri=" in location and "%2Fconnections%2Fcallback%2Famazon_ads%2F" in location


def test_shopify_connect_needs_a_shop_domain(client, org):
    client.force_login(member(org, Role.OWNER))
    response = client.post(url("connect_start", org, platform="shopify"), {"shop": "https://evil.example.com"})
    assert response["Location"] == url("connections", org)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Enter your shop's address, like your-shop.myshopify.com."]


def _issued_state(client, org, user):
    """A state issued to this browser session, as connect_start does."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    request.session = client.session
    state = oauth.make_state(request, organization_id=org.pk, platform="amazon_ads")
    request.session.save()
    return state
