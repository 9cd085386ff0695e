import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core import signing
from django.test import RequestFactory

from connectors import oauth

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_for():
    def make(user):
        request = RequestFactory().get("/")
        request.user = user
        request.session = SessionStore()
        return request

    return make


def test_state_round_trip_is_single_use(request_for, owner, org):
    request = request_for(owner)
    state = oauth.make_state(request, organization_id=org.pk, platform="amazon_ads", extra={"r": "EU"})
    payload = oauth.consume_state(request, state=state, platform="amazon_ads")
    assert (payload["o"], payload["p"], payload["u"], payload["r"]) == (org.pk, "amazon_ads", owner.pk, "EU")
    with pytest.raises(oauth.OAuthStateError, match="not started here"):
        oauth.consume_state(request, state=state, platform="amazon_ads")


def test_state_for_another_platform_or_user_or_session_is_refused(request_for, owner, org):
    from accounts.tests.factories import UserFactory

    request = request_for(owner)
    state = oauth.make_state(request, organization_id=org.pk, platform="amazon_ads")
    with pytest.raises(oauth.OAuthStateError):
        oauth.consume_state(request, state=state, platform="shopify")
    other = request_for(UserFactory())
    other.session = request.session
    with pytest.raises(oauth.OAuthStateError):
        oauth.consume_state(other, state=state, platform="amazon_ads")
    fresh_session = request_for(owner)
    with pytest.raises(oauth.OAuthStateError):
        oauth.consume_state(fresh_session, state=state, platform="amazon_ads")


def test_tampered_and_expired_states_are_refused(request_for, owner, org):
    request = request_for(owner)
    state = oauth.make_state(request, organization_id=org.pk, platform="amazon_ads")
    payload = signing.loads(state, salt=oauth.SALT)
    forged = signing.dumps({**payload, "o": org.pk + 1}, salt="some.other.salt")
    with pytest.raises(oauth.OAuthStateError, match="not started here"):
        oauth.consume_state(request, state=forged, platform="amazon_ads")
    with pytest.raises(oauth.OAuthStateError, match="not started here"):
        oauth.consume_state(request, state=state[:-2] + "xx", platform="amazon_ads")
    expired_request = request_for(owner)
    fresh = signing.loads(
        oauth.make_state(expired_request, organization_id=org.pk, platform="amazon_ads"), salt=oauth.SALT
    )

    class SignedLongAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - oauth.MAX_AGE - 5)

    expired = SignedLongAgo(salt=oauth.SALT).sign_object(fresh)
    with pytest.raises(oauth.OAuthStateError, match="too long"):
        oauth.consume_state(expired_request, state=expired, platform="amazon_ads")
