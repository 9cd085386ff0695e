"""The ``state`` of an OAuth round trip: signed, bound to the user, the organization and the platform,
single-use (its nonce lives in the session until the callback spends it), and valid for 15 minutes."""

from __future__ import annotations

import secrets

from django.core import signing
from django.utils.translation import gettext as _

SALT = "connectors.oauth.state"
SESSION_KEY = "connectors_oauth_nonces"
MAX_AGE = 15 * 60


class OAuthStateError(Exception):
    pass


def make_state(request, *, organization_id: int, platform: str, extra: dict | None = None) -> str:
    nonce = secrets.token_urlsafe(16)
    nonces = request.session.get(SESSION_KEY, [])[-4:]
    request.session[SESSION_KEY] = [*nonces, nonce]
    payload = {"o": organization_id, "p": platform, "u": request.user.pk, "n": nonce, **(extra or {})}
    return signing.dumps(payload, salt=SALT)


def consume_state(request, *, state: str, platform: str) -> dict:
    """The state's payload, if it is ours, fresh, for this platform and user, and not used before."""
    try:
        payload = signing.loads(state or "", salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired as exc:
        raise OAuthStateError(_("The authorization took too long. Start connecting again.")) from exc
    except signing.BadSignature as exc:
        raise OAuthStateError(_("This authorization response was not started here. Start connecting again.")) from exc
    nonces = request.session.get(SESSION_KEY, [])
    if payload.get("p") != platform or payload.get("u") != request.user.pk or payload.get("n") not in nonces:
        raise OAuthStateError(_("This authorization response was not started here. Start connecting again."))
    request.session[SESSION_KEY] = [n for n in nonces if n != payload["n"]]
    return payload
