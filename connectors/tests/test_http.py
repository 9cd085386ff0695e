"""PlatformHTTP's retry policy and raise_for_status, over real HTTP to a scripted local server."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from config.testing import serve_wsgi
from connectors.errors import AuthorizationError, PlatformError, TransientError
from connectors.http import DEFAULT_TIMEOUT, MAX_INLINE_WAIT, PlatformHTTP, raise_for_status, retry_after_seconds

pytestmark = pytest.mark.django_db  # the rate limiter's buckets live in the database without Redis


class Script:
    """Answers requests with the scripted responses in order; the last one repeats. Records every request."""

    def __init__(self, *responses: tuple):
        self.responses = list(responses)  # (status, body, headers, delay seconds)
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.requests.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
            status, body, headers, delay = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if delay:
            time.sleep(delay)
        data = body.encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data))), *headers])
        return [data]


def answer(status: str, body: str = "", headers=(), delay: float = 0.0) -> tuple:
    return status, body, list(headers), delay


class _Slot:
    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def server():
    slot = _Slot()
    with serve_wsgi(slot) as url:
        yield slot, url


@pytest.fixture
def serve(server):
    slot, url = server

    def serve(*responses):
        slot.app = Script(*responses)
        return slot.app, f"{url}/v1/thing"

    return serve


@pytest.fixture
def sleeps():
    return []


def client(sleeps, **kwargs) -> PlatformHTTP:
    options = {"platform": "Test", "bucket": uuid.uuid4().hex, "rate": 1000.0, "burst": 1000.0, "sleep": sleeps.append}
    return PlatformHTTP(**{**options, **kwargs})


# --- Retry-After ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("", None),
        ("soon", None),  # neither seconds nor an HTTP-date: ignored, not a crash
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
    ],
)
def test_retry_after_seconds(header, expected):
    response = httpx.Response(429, headers={"Retry-After": header} if header else {})

    assert retry_after_seconds(response) == expected


def test_retry_after_http_date_is_seconds_from_now():
    in_90s = datetime.now(UTC) + timedelta(seconds=90)
    gmt = httpx.Response(429, headers={"Retry-After": format_datetime(in_90s, usegmt=True)})
    minus_zero = httpx.Response(429, headers={"Retry-After": in_90s.strftime("%a, %d %b %Y %H:%M:%S -0000")})

    assert retry_after_seconds(gmt) == pytest.approx(90, abs=1.5)  # HTTP-dates have whole seconds
    assert retry_after_seconds(minus_zero) == pytest.approx(90, abs=1.5)


def test_a_client_of_a_mock_transport_reads_an_http_date():
    in_60s = datetime.now(UTC) + timedelta(seconds=60)
    transport = httpx.MockTransport(
        lambda request: httpx.Response(503, headers={"Retry-After": format_datetime(in_60s, usegmt=True)})
    )
    sleeps: list[float] = []

    with pytest.raises(TransientError) as error:
        client(sleeps, transport=transport).request("GET", "https://platform.test/v1/thing")

    assert error.value.retry_after == pytest.approx(60, abs=1.5)  # over MAX_INLINE_WAIT: left to Celery
    assert sleeps == []


# --- retries -------------------------------------------------------------------------------------------------


def test_429_and_502_are_retried_inline_then_succeed(serve, sleeps):
    script, url = serve(
        answer("429 Too Many Requests", "slow down", [("Retry-After", "0.25")]),
        answer("502 Bad Gateway"),
        answer("200 OK", "done"),
    )

    response = client(sleeps).request("GET", url)

    assert (response.status_code, response.text) == (200, "done")
    assert script.requests == ["GET /v1/thing"] * 3
    assert sleeps[0] == 0.25  # the platform's Retry-After
    assert 2.0 <= sleeps[1] < 3.0  # second retry without Retry-After: 2**1 + jitter
    assert len(sleeps) == 2


def test_a_retry_after_of_max_inline_wait_is_still_waited_inline(serve, sleeps):
    script, url = serve(answer("429 Too Many Requests", "", [("Retry-After", "30")]), answer("200 OK", "ok"))

    response = client(sleeps).request("GET", url)

    assert MAX_INLINE_WAIT == 30.0
    assert response.status_code == 200
    assert sleeps == [30.0]


def test_a_long_retry_after_is_left_to_the_task(serve, sleeps):
    script, url = serve(answer("429 Too Many Requests", "quota exceeded", [("Retry-After", "31")]))

    with pytest.raises(TransientError) as error:
        client(sleeps).request("GET", url)

    assert error.value.user_message == "Test is busy or unavailable (HTTP 429); the sync will retry."
    assert (error.value.retry_after, error.value.detail) == (31.0, "quota exceeded")
    assert script.requests == ["GET /v1/thing"]
    assert sleeps == []


def test_5xx_until_retries_run_out(serve, sleeps):
    script, url = serve(answer("503 Service Unavailable", "down"))

    with pytest.raises(TransientError) as error:
        client(sleeps, retries=2).request("GET", url)

    assert error.value.user_message == "Test is busy or unavailable (HTTP 503); the sync will retry."
    assert error.value.retry_after is None
    assert len(script.requests) == 3
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] < 2.0 and 2.0 <= sleeps[1] < 3.0


def test_the_last_retry_after_is_passed_on_when_retries_run_out(serve, sleeps):
    script, url = serve(answer("429 Too Many Requests", "", [("Retry-After", "2")]))

    with pytest.raises(TransientError) as error:
        client(sleeps, retries=1).request("GET", url)

    assert error.value.retry_after == 2.0
    assert sleeps == [2.0]
    assert len(script.requests) == 2


def test_timeouts_are_retried_then_surface_as_transient(serve, sleeps):
    script, url = serve(answer("200 OK", "too late", delay=0.3))

    with pytest.raises(TransientError) as error:
        client(sleeps, retries=2, timeout=httpx.Timeout(0.05)).request("GET", url)

    assert error.value.user_message == "Test did not answer (ReadTimeout); the sync will retry."
    assert error.value.retry_after is None
    assert len(script.requests) == 3
    assert len(sleeps) == 2


def test_a_timeout_then_an_answer(serve, sleeps):
    script, url = serve(answer("200 OK", "too late", delay=0.3), answer("200 OK", "in time"))

    response = client(sleeps, timeout=httpx.Timeout(0.05)).request("GET", url)

    assert response.text == "in time"
    assert len(script.requests) == 2
    assert len(sleeps) == 1


def test_a_refused_connection_is_transient(sleeps):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(TransientError) as error:
        client(sleeps, retries=1).request("GET", f"http://127.0.0.1:{port}/v1/thing")

    assert error.value.user_message == "Test did not answer (ConnectError); the sync will retry."
    assert len(sleeps) == 1


def test_every_request_has_a_timeout(sleeps):
    assert client(sleeps).client.timeout == DEFAULT_TIMEOUT == httpx.Timeout(30.0, connect=10.0)


def test_requests_take_tokens_from_the_shared_bucket(serve, sleeps):
    script, url = serve(answer("200 OK", "ok"))
    http = client(sleeps, rate=4.0, burst=2.0)

    started = time.monotonic()
    for _ in range(3):
        http.request("GET", url)
    elapsed = time.monotonic() - started
    http.request("GET", url, limited=False)

    assert len(script.requests) == 4
    assert len(sleeps) == 1  # the third request waited for a token; the unlimited one did not
    assert 0.25 - elapsed <= sleeps[0] <= 0.25  # one interval, less what refilled while the first two ran


# --- raise_for_status ---------------------------------------------------------------------------------------


def test_raise_for_status_passes_success_through(serve, sleeps):
    _, url = serve(answer("200 OK", "fine"))
    response = client(sleeps).request("GET", url)

    assert raise_for_status(response, platform="Test") is response


def test_401_asks_for_reauthorization(serve, sleeps):
    _, url = serve(answer("401 Unauthorized", "token expired"))
    response = client(sleeps).request("GET", url)

    with pytest.raises(AuthorizationError) as error:
        raise_for_status(response, platform="Test")

    assert error.value.user_message == "Test rejected our access (HTTP 401). Reconnect the account to continue."
    assert (error.value.code, error.value.detail) == ("reauth", "token expired")


def test_a_platform_can_name_more_reauth_statuses(serve, sleeps):
    _, url = serve(answer("403 Forbidden", "grant revoked"))
    response = client(sleeps).request("GET", url)

    with pytest.raises(AuthorizationError):
        raise_for_status(response, platform="Test", reauth_statuses=(401, 403))
    with pytest.raises(PlatformError):
        raise_for_status(response, platform="Test")


def test_400_is_a_platform_error_with_the_body(serve, sleeps):
    _, url = serve(answer("400 Bad Request", "Invalid date range: end before start"))
    response = client(sleeps).request("GET", url)

    with pytest.raises(PlatformError) as error:
        raise_for_status(response, platform="Test")

    assert error.value.user_message == "Test refused the request (HTTP 400): Invalid date range: end before start"
    assert (error.value.code, error.value.detail) == ("platform", "Invalid date range: end before start")


def test_a_long_error_body_is_cut_in_the_message(serve, sleeps):
    _, url = serve(answer("422 Unprocessable Entity", "x" * 5000))
    response = client(sleeps).request("GET", url)

    with pytest.raises(PlatformError) as error:
        raise_for_status(response, platform="Test")

    assert error.value.user_message == "Test refused the request (HTTP 422): " + "x" * 300
    assert error.value.detail == "x" * 2000
